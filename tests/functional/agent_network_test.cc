// The agent's network configuration against the real kernel (root), in a namespace the test
// creates: what the agent does to the guest's NICs, done to a veth here through the same RPC
// (AgentServer in-process), and checked with `ip` as the independent oracle. The real guest is
// covered end to end by VmmdNetworkTest.
#include <gtest/gtest.h>
#include <unistd.h>

#include <thread>

#include "common/error.h"
#include "netdev/netns.h"
#include "netdev/rtnl.h"
#include "tests/support/local_agent.h"
#include "tests/support/net_fixture.h"

namespace kata::agent {
namespace {

using kata::test::NamedNetns;
using kata::test::sh;
using namespace std::chrono_literals;

constexpr const char* kMac = "02:42:ac:1e:00:05";
constexpr const char* kMac2 = "02:42:ac:1f:00:05";

class AgentNetworkTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root (a network namespace to configure)";
    ns_ = std::make_unique<NamedNetns>(kata::test::uniqueName("kag"));
    // What the kernel names a NIC of the guest: ethN, with the MAC the host gave it.
    ns_->ip("link add eth7 address " + std::string(kMac) + " type veth peer name vpeer");
    ns_->ip("link set vpeer up");
    local_ = std::make_unique<kata::test::LocalAgent>(netdev::Rtnl::openIn(netdev::Netns::open(ns_->path())));
  }
  void TearDown() override { local_.reset(); }

  ipc::agent::Agent::UpdateInterfaceResults::Reader update(const std::string& mac, const std::string& name, uint32_t mtu,
                                                           const std::vector<std::pair<std::string, int>>& addrs,
                                                           uint32_t timeoutMs = 0) {
    auto req = local_->agent().updateInterfaceRequest();
    auto i = req.initInterface();
    i.setMac(mac);
    i.setName(name);
    i.setMtu(mtu);
    auto a = i.initAddresses(static_cast<unsigned>(addrs.size()));
    for (unsigned k = 0; k < addrs.size(); ++k) {
      a[k].setAddress(addrs[k].first);
      a[k].setPrefixLength(static_cast<uint8_t>(addrs[k].second));
    }
    req.setTimeoutMs(timeoutMs);
    responses_.push_back(local_->wait(req.send()));
    return responses_.back();
  }

  std::unique_ptr<NamedNetns> ns_;
  std::unique_ptr<kata::test::LocalAgent> local_;
  std::vector<capnp::Response<ipc::agent::Agent::UpdateInterfaceResults>> responses_;
};

TEST_F(AgentNetworkTest, InterfaceGetsThePodsNameMtuAndAddresses) {
  auto got = update(kMac, "eth0", 1400, {{"10.30.0.5", 24}, {"fd00:30::5", 64}}).getInterface();
  EXPECT_EQ(std::string(got.getName().cStr()), "eth0");
  EXPECT_EQ(std::string(got.getMac().cStr()), kMac);
  EXPECT_EQ(got.getMtu(), 1400u);
  EXPECT_TRUE(got.getUp());
  std::string shown = ns_->ip("addr show dev eth0");
  EXPECT_NE(shown.find("mtu 1400"), std::string::npos) << shown;
  EXPECT_NE(shown.find("inet 10.30.0.5/24"), std::string::npos) << shown;
  // Without duplicate address detection: usable at once (the kernel's own link-local one does DAD).
  EXPECT_NE(shown.find("inet6 fd00:30::5/64 scope global nodad \n"), std::string::npos) << shown;
  EXPECT_NE(shown.find(",UP"), std::string::npos) << shown;

  // Again with other addresses: replaced, not added to.
  update(kMac, "eth0", 0, {{"10.30.0.6", 24}});
  shown = ns_->ip("addr show dev eth0");
  EXPECT_EQ(shown.find("10.30.0.5"), std::string::npos) << shown;
  EXPECT_EQ(shown.find("fd00:30::5"), std::string::npos) << shown;
  EXPECT_NE(shown.find("inet 10.30.0.6/24"), std::string::npos) << shown;
  EXPECT_NE(shown.find("mtu 1400"), std::string::npos) << "MTU 0 must leave it: " << shown;

  // Routes of both families replace what the kernel made, on-link first whatever the order given.
  update(kMac, "eth0", 0, {{"10.30.0.6", 24}, {"fd00:30::6", 64}});
  auto req = local_->agent().updateRoutesRequest();
  auto rs = req.initRoutes(4);
  rs[0].setDestination("default");
  rs[0].setGateway("10.30.0.1");
  rs[0].setDevice("eth0");
  rs[1].setDestination("default");
  rs[1].setGateway("fd00:30::1");
  rs[1].setDevice("eth0");
  rs[1].setMetric(1024);
  rs[2].setDestination("10.30.0.0/24");
  rs[2].setDevice("eth0");
  rs[2].setSource("10.30.0.6");
  rs[3].setDestination("fd00:30::/64");
  rs[3].setDevice("eth0");
  rs[3].setMetric(256);
  auto table = local_->wait(req.send());
  int defaults = 0;
  for (auto r : table.getRoutes())
    if (r.getDestination() == "default" && r.getDevice() == "eth0") ++defaults;
  EXPECT_EQ(defaults, 2);
  std::string v4 = ns_->ip("route show"), v6 = ns_->ip("-6 route show");
  EXPECT_NE(v4.find("default via 10.30.0.1 dev eth0"), std::string::npos) << v4;
  EXPECT_NE(v4.find("10.30.0.0/24 dev eth0 scope link src 10.30.0.6"), std::string::npos) << v4;
  EXPECT_EQ(v4.find("proto kernel"), std::string::npos) << "the kernel's prefix route is replaced: " << v4;
  EXPECT_EQ(v6.find("fd00:30::/64 dev eth0 proto kernel"), std::string::npos) << v6;
  EXPECT_NE(v6.find("default via fd00:30::1 dev eth0 metric 1024"), std::string::npos) << v6;
  EXPECT_NE(v6.find("fd00:30::/64 dev eth0 metric 256"), std::string::npos) << v6;
  EXPECT_NE(v6.find("fe80::/64 dev eth0 proto kernel"), std::string::npos) << "link-local stays: " << v6;

  // removeInterface: down, no address, no route.
  auto rm = local_->agent().removeInterfaceRequest();
  rm.setMac(kMac);
  local_->wait(rm.send());
  shown = ns_->ip("addr show dev eth0");
  EXPECT_EQ(shown.find("inet"), std::string::npos) << shown;
  EXPECT_EQ(shown.find(",UP"), std::string::npos) << shown;
  EXPECT_EQ(ns_->ip("route show dev eth0"), "");
}

TEST_F(AgentNetworkTest, NameHeldByAnotherNicIsMovedAside) {
  // The guest named the NICs in probe order: the pod's eth0 came up as eth7, another one holds eth0.
  ns_->ip("link add eth0 address " + std::string(kMac2) + " type veth peer name vpeer2");
  update(kMac, "eth0", 0, {{"10.31.0.5", 24}});
  EXPECT_NE(ns_->ip("link show dev eth0").find(kMac), std::string::npos);
  std::string all = ns_->ip("-br link show");
  EXPECT_NE(all.find(kMac2), std::string::npos) << all;
  // ... and that one gets its own name when it is configured.
  update(kMac2, "net1", 0, {});
  EXPECT_NE(ns_->ip("link show dev net1").find(kMac2), std::string::npos);
}

TEST_F(AgentNetworkTest, WaitsForAHotPluggedNic) {
  // The NIC appears 300 ms after the call (as a hot-plugged one does when its driver probes it).
  auto appear = local_->io().provider->getTimer().afterDelay(300 * kj::MILLISECONDS).then([this] {
    ns_->ip("link add eth9 address 02:42:ac:20:00:05 type veth peer name vpeer9");
  }).eagerlyEvaluate(nullptr);
  auto t0 = std::chrono::steady_clock::now();
  auto got = update("02:42:ac:20:00:05", "net2", 1300, {{"10.32.0.5", 24}}, 10000).getInterface();
  auto waited = std::chrono::steady_clock::now() - t0;
  EXPECT_EQ(std::string(got.getName().cStr()), "net2");
  EXPECT_GE(waited, 300ms);
  EXPECT_LT(waited, 5s);
  EXPECT_NE(ns_->ip("addr show dev net2").find("inet 10.32.0.5/24"), std::string::npos);
  appear.wait(local_->io().waitScope);
}

}  // namespace
}  // namespace kata::agent
