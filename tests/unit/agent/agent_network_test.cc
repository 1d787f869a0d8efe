// The agent's network calls (protocol 3) through its RPC interface: decoding and bounds of what the
// host sends, and the read-only calls against this process's own namespace (no change is made to
// the host: configuring interfaces is the functional tier's, in namespaces it creates).
#include <gtest/gtest.h>
#include <net/if.h>

#include <capnp/message.h>

#include "agent/network.h"
#include "agent/network_rpc.h"
#include "common/error.h"
#include "tests/support/local_agent.h"

namespace kata::agent {
namespace {

std::string errorOf(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  } catch (const kj::Exception& e) {
    return e.getDescription().cStr();
  }
  return "";
}

TEST(AgentNetworkDecode, InterfacesAreBoundedAndCanonical) {
  capnp::MallocMessageBuilder m;
  auto i = m.initRoot<ipc::agent::NetInterface>();
  i.setMac("02:42:AC:11:00:02");
  i.setName("eth0");
  i.setMtu(1400);
  auto a = i.initAddresses(2);
  a[0].setAddress("10.88.0.2");
  a[0].setPrefixLength(16);
  a[1].setAddress("FD00::0002");
  a[1].setPrefixLength(64);
  InterfaceSpec s = decodeInterface(i.asReader());
  EXPECT_EQ(s.mac, "02:42:ac:11:00:02");
  ASSERT_EQ(s.addresses.size(), 2u);
  EXPECT_EQ(s.addresses[1].str(), "fd00::2/64");
  EXPECT_EQ(s.addresses[1].family, AF_INET6);

  a[0].setPrefixLength(33);
  EXPECT_NE(errorOf([&] { decodeInterface(i.asReader()); }).find("prefix length 33 is out of range 0-32"), std::string::npos);
  a[0].setPrefixLength(16);
  i.setName("name-longer-than-15");
  EXPECT_NE(errorOf([&] { decodeInterface(i.asReader()); }).find("interface name is 19 bytes"), std::string::npos);
  i.setName("eth/0");
  EXPECT_NE(errorOf([&] { decodeInterface(i.asReader()); }), "");
  i.setName("eth0");
  i.setMac("02:42:ac:11:00");
  EXPECT_NE(errorOf([&] { decodeInterface(i.asReader()); }).find("is not a MAC address"), std::string::npos);
  i.setMac("02:42:ac:11:00:02");
  auto many = i.initAddresses(65);
  for (auto x : many) {
    x.setAddress("10.0.0.1");
    x.setPrefixLength(8);
  }
  EXPECT_NE(errorOf([&] { decodeInterface(i.asReader()); }).find("65 addresses (at most 64)"), std::string::npos);
}

TEST(AgentNetworkDecode, RoutesGetTheirFamilyAndCanonicalForm) {
  netdev::Route r = checkedRoute("", "10.88.0.1", "eth0", "", 0, 0);
  EXPECT_EQ(r.family, AF_INET);
  EXPECT_EQ(r.destination, "default");
  r = checkedRoute("default", "", "eth0", "", 6, 1024);
  EXPECT_EQ(r.family, AF_INET6);
  r = checkedRoute("FD00::/64", "", "eth0", "FD00::2", 0, 256);
  EXPECT_EQ(r.destination, "fd00::/64");
  EXPECT_EQ(r.source, "fd00::2");
  EXPECT_NE(errorOf([] { checkedRoute("default", "", "eth0", "", 0, 0); }).find("say its family"), std::string::npos);
  EXPECT_NE(errorOf([] { checkedRoute("10.0.0.0/8", "fd00::1", "eth0", "", 0, 0); }).find("\"fd00::1\" is not an IPv4 address"),
            std::string::npos);
  EXPECT_NE(errorOf([] { checkedRoute("10.0.0.0/8", "", "eth0", "", 6, 0); }).find("does not match"), std::string::npos);
  EXPECT_NE(errorOf([] { checkedRoute("10.0.0.0/8", "", "", "", 4, 0); }).find("device of the route"), std::string::npos);
  EXPECT_NE(errorOf([] { checkedRoute("10.0.0.0/40", "", "eth0", "", 4, 0); }).find("prefix length"), std::string::npos);
}

TEST(AgentNetworkRpc, ReadsTheNamespaceAndRefusesUnknownMacs) {
  kata::test::LocalAgent local(netdev::Rtnl::open());
  auto ifs = local.wait(local.agent().listInterfacesRequest().send());
  bool lo = false;
  for (auto i : ifs.getInterfaces())
    if (i.getName() == "lo") lo = i.getMtu() > 0;
  EXPECT_TRUE(lo) << "listInterfaces has no loopback";
  (void)local.wait(local.agent().listRoutesRequest().send());

  // A MAC nobody has: after the wait asked for, "not found" saying what to check.
  auto req = local.agent().updateInterfaceRequest();
  req.initInterface().setMac("02:00:5e:10:20:30");
  req.setTimeoutMs(150);
  auto t0 = std::chrono::steady_clock::now();
  std::string msg = errorOf([&] { local.wait(req.send()); });
  auto waited = std::chrono::steady_clock::now() - t0;
  EXPECT_NE(msg.find("not-found: no interface with MAC 02:00:5e:10:20:30 appeared in the guest within 150 ms"),
            std::string::npos)
      << msg;
  EXPECT_NE(msg.find("[Agent.updateInterface]"), std::string::npos) << msg;
  EXPECT_GE(waited, std::chrono::milliseconds(150));
  auto rm = local.agent().removeInterfaceRequest();
  rm.setMac("02:00:5e:10:20:30");
  msg = errorOf([&] { local.wait(rm.send()); });
  EXPECT_NE(msg.find("not-found: the guest has no interface with MAC 02:00:5e:10:20:30 [Agent.removeInterface]"),
            std::string::npos)
      << msg;
  auto routes = local.agent().updateRoutesRequest();
  auto r = routes.initRoutes(1)[0];
  r.setDestination("default");
  r.setGateway("10.0.0.1");
  r.setDevice("nosuchdev0");
  msg = errorOf([&] { local.wait(routes.send()); });
  EXPECT_NE(msg.find("the guest has no interface nosuchdev0"), std::string::npos) << msg;
}

TEST(AgentNetworkRpc, AnAgentWithoutNetworkSaysSo) {
  kata::test::LocalAgent local(std::nullopt);
  std::string msg = errorOf([&] { local.wait(local.agent().listRoutesRequest().send()); });
  EXPECT_NE(msg.find("serves no network configuration"), std::string::npos) << msg;
}

}  // namespace
}  // namespace kata::agent
