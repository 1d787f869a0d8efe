// Who may carry which network namespace into a VM (authorizeNetns), the [network] policy keys, and
// the network part of a sandbox record.
#include <gtest/gtest.h>

#include <functional>

#include "common/error.h"
#include "kata-vmmd/policy.h"
#include "kata-vmmd/registry.h"

namespace kata::vmmd {
namespace {

std::string deniedWhy(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kPermissionDenied) << e.what();
    return e.what();
  }
  return "";
}

netdev::NetnsOwnership rootOwned() {
  netdev::NetnsOwnership o;
  o.ownedByOurUserns = true;
  return o;
}

netdev::NetnsOwnership userOwned(std::vector<uid_t> chain) {
  netdev::NetnsOwnership o;
  o.userChain = std::move(chain);
  return o;
}

TEST(VmmdNetworkPolicy, ParsesTheNetworkTable) {
  Policy p = parsePolicy("[network]\ntrusted_uids = [900, 901]\nmax_interfaces = 3\n", "test");
  EXPECT_EQ(p.netnsTrustedUids, (std::set<uid_t>{900, 901}));
  EXPECT_EQ(p.maxInterfaces, 3u);
  EXPECT_EQ(parsePolicy("", "test").maxInterfaces, 8u);
  for (const char* bad : {"[network]\ntrusted_uid = [1]\n", "[network]\nmax_interfaces = 9\n",
                          "[network]\ntrusted_uids = 5\n", "[network]\ntrusted_uids = [-1]\n"})
    EXPECT_THROW(parsePolicy(bad, "test"), Error) << bad;
}

TEST(VmmdNetworkPolicy, TheKernelsRuleForJoiningANamespace) {
  Policy p;
  CallerId root{0, 0, 1, {}}, alice{1000, 1000, 2, {}}, bob{1001, 1001, 3, {}};
  // Root may use any pod namespace.
  authorizeNetns(p, root, rootOwned(), "net:[1]");
  authorizeNetns(p, root, userOwned({1000}), "net:[2]");
  // An ordinary uid: only a namespace whose user namespace it created (directly below ours) ...
  authorizeNetns(p, alice, userOwned({1000}), "net:[2]");
  // ... also when that user namespace has children of its own (rootless podman inside a user ns).
  authorizeNetns(p, alice, userOwned({0, 1000}), "net:[3]");
  std::string why = deniedWhy([&] { authorizeNetns(p, bob, userOwned({1000}), "net:[2]"); });
  EXPECT_NE(why.find("uid 1001 may not use network namespace net:[2]: it belongs to a user namespace of uid 1000"),
            std::string::npos)
      << why;
  // The innermost owner does not count: it is the one below ours the kernel checks.
  why = deniedWhy([&] { authorizeNetns(p, bob, userOwned({1001, 1000}), "net:[4]"); });
  EXPECT_NE(why.find("uid 1000"), std::string::npos) << why;
  why = deniedWhy([&] { authorizeNetns(p, alice, rootOwned(), "net:[1]"); });
  EXPECT_NE(why.find("it belongs to root"), std::string::npos) << why;
  EXPECT_NE(why.find("[network] trusted_uids"), std::string::npos) << why;
  // The policy can trust a service uid with every namespace.
  p.netnsTrustedUids.insert(1001);
  authorizeNetns(p, bob, rootOwned(), "net:[1]");
  // The daemon's own namespace, never: not for root, not for a trusted uid.
  netdev::NetnsOwnership host = rootOwned();
  host.isOurNetns = true;
  for (const CallerId& c : {root, bob}) {
    why = deniedWhy([&] { authorizeNetns(p, c, host, "net:[9]"); });
    EXPECT_NE(why.find("is kata-vmmd's own (the host's)"), std::string::npos) << why;
  }
}

SandboxRecord withNetwork() {
  SandboxRecord r;
  r.id = "sb1";
  r.pid = 7;
  r.startTime = 9;
  r.runDir = "/run/x/sb1";
  r.shareDir = "/run/x/shares/sb1";
  r.qmpSocket = r.runDir + "/qmp.sock";
  r.agentSocket = r.runDir + "/agent.sock";
  r.consoleLog = r.runDir + "/console.log";
  r.hotplugSlots = 1;
  NetworkRecord n;
  n.coldPlugSlots = 1;
  n.netnsPin = "/run/x/netns/sb1";
  n.nsDev = 4;
  n.nsIno = 4026532178;
  n.nics.push_back(NicRecord{"nic2", "tcfilter", "eth0", 2, "tap2_kata", 5, "02:42:ac:11:00:02", 2, false});
  n.nics.push_back(NicRecord{"nic3", "macvtap", "eth1", 3, "kmvt0badc0de", 6, "02:42:ac:12:00:02", 1, true});
  r.network = n;
  return r;
}

TEST(VmmdNetworkRecord, RoundTripsAndRefusesHostileNics) {
  SandboxRecord r = withNetwork();
  SandboxRecord back = recordFromJson(recordToJson(r));
  ASSERT_TRUE(back.network);
  EXPECT_EQ(back.network->netnsPin, "/run/x/netns/sb1");
  EXPECT_EQ(back.network->nsIno, 4026532178u);
  ASSERT_EQ(back.network->nics.size(), 2u);
  EXPECT_EQ(back.network->nics[1].device, "kmvt0badc0de");
  EXPECT_EQ(back.network->nics[1].model, "macvtap");
  EXPECT_TRUE(back.network->nics[1].hotplugged);
  EXPECT_EQ(back.network->nics[0].queues, 2u);
  EXPECT_EQ(back.network->coldPlugSlots, 1u);
  // A record without a network (as older daemons wrote them) is still read.
  r.network.reset();
  EXPECT_FALSE(recordFromJson(recordToJson(r)).network);

  auto broken = [](const std::function<void(SandboxRecord&)>& edit) {
    SandboxRecord x = withNetwork();
    edit(x);
    return recordToJson(x);
  };
  for (const std::string& bad : {
           broken([](SandboxRecord& x) { x.network->netnsPin = "relative/pin"; }),
           broken([](SandboxRecord& x) { x.network->nics[0].device = "../../etc"; }),
           broken([](SandboxRecord& x) { x.network->nics[0].podName = "a-name-longer-than-15"; }),
           broken([](SandboxRecord& x) { x.network->nics[0].model = "bridged"; }),
           broken([](SandboxRecord& x) { x.network->nics[0].mac = "zz"; }),
           broken([](SandboxRecord& x) { x.network->nics[0].deviceId = "nic,bus=x"; }),
           broken([](SandboxRecord& x) { x.network->nics[0].queues = 99; }),
           broken([](SandboxRecord& x) { x.network->nics[0].podIndex = 0; }),
           broken([](SandboxRecord& x) { x.network->coldPlugSlots = 9; }),
       })
    EXPECT_THROW(recordFromJson(bad), Error) << bad;
}

}  // namespace
}  // namespace kata::vmmd
