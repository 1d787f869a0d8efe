// The pure parts of netdev: address and MAC parsing, link classification, and which interfaces,
// addresses and routes of a namespace are carried into the VM (selectInterfaces, the decision
// describeNamespace applies to what it reads through netlink).
#include <gtest/gtest.h>
#include <net/if_arp.h>
#include <net/if.h>

#include "common/error.h"
#include "netdev/carrier.h"
#include "netdev/model.h"
#include "netdev/tap.h"

namespace kata::netdev {
namespace {

template <typename F>
std::string errorOf(F&& f, ErrorKind* kind = nullptr) {
  try {
    f();
  } catch (const Error& e) {
    if (kind) *kind = e.kind();
    return e.what();
  }
  return "";
}

TEST(NetdevModel, CidrParsingIsStrictAndCanonical) {
  IpAddress a = parseCidr("10.88.0.5/16", "address");
  EXPECT_EQ(a.family, AF_INET);
  EXPECT_EQ(a.address, "10.88.0.5");
  EXPECT_EQ(a.prefixLength, 16);
  a = parseCidr("FD00:0:0::5/64", "address");
  EXPECT_EQ(a.family, AF_INET6);
  EXPECT_EQ(a.address, "fd00::5");
  EXPECT_EQ(a.str(), "fd00::5/64");
  EXPECT_EQ(parseCidr("10.0.0.1", "a").prefixLength, 32);
  EXPECT_EQ(parseCidr("::1", "a").prefixLength, 128);
  for (const char* bad : {"", "10.0.0.1/33", "fd00::1/129", "10.0.0/8", "10.0.0.1/", "10.0.0.1/-1", "10.0.0.1/08x",
                          "hello", "10.0.0.1/24/1", "fd00::1%eth0/64"}) {
    ErrorKind k{};
    EXPECT_NE(errorOf([&] { parseCidr(bad, "route destination"); }, &k), "") << bad;
    EXPECT_EQ(k, ErrorKind::kInvalidArgument) << bad;
  }
  EXPECT_NE(errorOf([] { parseCidr("10.0.0.1/99", "route destination"); }).find("route destination"), std::string::npos);
  EXPECT_EQ(canonicalAddress(AF_INET6, "fd00:0000::0001", "gw"), "fd00::1");
  EXPECT_NE(errorOf([] { canonicalAddress(AF_INET, "fd00::1", "gateway"); }).find("is not an IPv4 address"), std::string::npos);
}

TEST(NetdevModel, Ipv6LinkLocalIsRecognized) {
  EXPECT_TRUE(isIpv6LinkLocal("fe80::1"));
  EXPECT_TRUE(isIpv6LinkLocal("febf::1"));
  EXPECT_FALSE(isIpv6LinkLocal("fec0::1"));
  EXPECT_FALSE(isIpv6LinkLocal("fd00::1"));
  EXPECT_FALSE(isIpv6LinkLocal("10.0.0.1"));
}

TEST(NetdevModel, LinkClassification) {
  EXPECT_EQ(classifyLink("", ARPHRD_LOOPBACK, true), LinkType::kLoopback);
  EXPECT_EQ(classifyLink("veth", ARPHRD_ETHER, false), LinkType::kVeth);
  EXPECT_EQ(classifyLink("tun", ARPHRD_ETHER, false), LinkType::kTap);
  EXPECT_EQ(classifyLink("tun", ARPHRD_NONE, false), LinkType::kOther);  // a layer-3 tun
  EXPECT_EQ(classifyLink("macvlan", ARPHRD_ETHER, false), LinkType::kMacvlan);
  EXPECT_EQ(classifyLink("macvtap", ARPHRD_ETHER, false), LinkType::kMacvtap);
  EXPECT_EQ(classifyLink("ipvlan", ARPHRD_ETHER, false), LinkType::kIpvlan);
  EXPECT_EQ(classifyLink("bridge", ARPHRD_ETHER, false), LinkType::kBridge);
  EXPECT_EQ(classifyLink("", ARPHRD_ETHER, false), LinkType::kPhysical);
  EXPECT_EQ(classifyLink("sit", ARPHRD_SIT, false), LinkType::kOther);
  EXPECT_EQ(classifyLink("vxlan", ARPHRD_ETHER, false), LinkType::kOther);
  for (LinkType t : {LinkType::kVeth, LinkType::kTap, LinkType::kMacvlan, LinkType::kIpvlan, LinkType::kPhysical})
    EXPECT_TRUE(carriable(t)) << linkTypeName(t);
  for (LinkType t : {LinkType::kLoopback, LinkType::kBridge, LinkType::kMacvtap, LinkType::kOther})
    EXPECT_FALSE(carriable(t)) << linkTypeName(t);
}

TEST(NetdevModel, MacsAndInterfaceNames) {
  const unsigned char raw[6] = {0x02, 0x42, 0xAC, 0x11, 0x00, 0x0f};
  EXPECT_EQ(formatMac(raw, 6), "02:42:ac:11:00:0f");
  EXPECT_NE(errorOf([&] { formatMac(raw, 4); }), "");
  EXPECT_EQ(normalizeMac("02:42:AC:11:00:0F", "mac"), "02:42:ac:11:00:0f");
  for (const char* bad : {"", "02:42:ac:11:00", "02-42-ac-11-00-0f", "02:42:ac:11:00:0g", "02:42:ac:11:00:0f:"})
    EXPECT_NE(errorOf([&] { normalizeMac(bad, "interface MAC"); }), "") << bad;
  validateIfName("eth0", "name");
  validateIfName("a-very-long-nm", "name");  // 14
  for (const char* bad : {"", "a-very-long-name", "eth 0", "eth/0", "eth:0", ".", "..", "eth\n"})
    EXPECT_NE(errorOf([&] { validateIfName(bad, "guest interface name"); }), "") << bad;
  std::string r = randomName("kmvt");
  ASSERT_EQ(r.size(), 12u);
  EXPECT_EQ(r.substr(0, 4), "kmvt");
  EXPECT_EQ(r.find_first_not_of("0123456789abcdef", 4), std::string::npos);
  EXPECT_NE(randomName("kmvt"), r);
  EXPECT_NE(errorOf([] { randomName("toolongx"); }), "");
}

TEST(NetdevModel, RoutesCarriedAndOrdered) {
  Route r;
  r.family = AF_INET6;
  r.destination = "fe80::/64";
  EXPECT_FALSE(carriedRoute(r));
  r.destination = "fd00::/64";
  EXPECT_TRUE(carriedRoute(r));
  r.table = 255;  // local
  EXPECT_FALSE(carriedRoute(r));

  Route def4{AF_INET, "default", "10.0.0.1", "eth0", 2, "", 0, 0, 3, 254};
  Route link4{AF_INET, "10.0.0.0/24", "", "eth0", 2, "10.0.0.2", 0, 253, 2, 254};
  Route def6{AF_INET6, "default", "fd00::1", "eth0", 2, "", 1024, 0, 3, 254};
  Route link6{AF_INET6, "fd00::/64", "", "eth0", 2, "", 256, 0, 2, 254};
  auto ordered = onLinkFirst({def4, def6, link4, link6});
  ASSERT_EQ(ordered.size(), 4u);
  EXPECT_EQ(ordered[0], link4);
  EXPECT_EQ(ordered[1], link6);
  EXPECT_EQ(ordered[2], def4);
  EXPECT_EQ(ordered[3], def6);
  EXPECT_EQ(def4.str(), "default via 10.0.0.1 dev eth0 metric 0");
}

Link link(int index, const std::string& name, const std::string& kind, LinkType type, bool up,
          const std::string& mac = "02:00:00:00:00:01") {
  Link l;
  l.index = index;
  l.name = name;
  l.kind = kind;
  l.type = type;
  l.flags = up ? IFF_UP : 0;
  l.mac = mac;
  l.mtu = 1500;
  return l;
}

TEST(NetdevModel, SelectInterfacesSkipsLoopbackUnusedAndOurOwn) {
  std::vector<Link> links = {
      link(1, "lo", "", LinkType::kLoopback, true),
      link(2, "eth0", "veth", LinkType::kVeth, true, "02:42:ac:11:00:02"),
      link(3, "sit0", "sit", LinkType::kOther, false, ""),  // the kernel's fallback tunnel: down, no address
      link(4, "tap2_kata", "tun", LinkType::kTap, true, "02:00:00:00:00:09"),
      link(5, "net1", "macvlan", LinkType::kMacvlan, true, "02:42:ac:12:00:02"),
  };
  std::vector<std::pair<int, std::vector<IpAddress>>> addrs = {
      {1, {{AF_INET, "127.0.0.1", 8}}},
      {2, {{AF_INET, "10.88.0.2", 16}, {AF_INET6, "fd00::2", 64}, {AF_INET6, "fe80::42:acff:fe11:2", 64}}},
      {3, {{AF_INET6, "fe80::1", 64}}},  // link-local only: still unused
      {5, {{AF_INET, "10.89.0.2", 24}}},
  };
  std::vector<Route> routes = {
      {AF_INET, "default", "10.88.0.1", "eth0", 2, "", 0, 0, 3, 254},
      {AF_INET, "10.88.0.0/16", "", "eth0", 2, "10.88.0.2", 0, 253, 2, 254},
      {AF_INET6, "fe80::/64", "", "eth0", 2, "", 256, 0, 2, 254},
      {AF_INET6, "fd00::/64", "", "eth0", 2, "", 256, 0, 2, 254},
      {AF_INET6, "default", "fd00::1", "eth0", 2, "", 1024, 0, 3, 254},
      {AF_INET, "10.89.0.0/24", "", "net1", 5, "", 0, 253, 2, 254},
  };
  auto out = selectInterfaces(links, addrs, routes, {"tap2_kata"});
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].link.name, "eth0");
  ASSERT_EQ(out[0].addresses.size(), 2u);  // the link-local one is the guest kernel's business
  EXPECT_EQ(out[0].addresses[1].address, "fd00::2");
  ASSERT_EQ(out[0].routes.size(), 4u);     // fe80::/64 is not carried
  EXPECT_EQ(out[0].routes[2].destination, "fd00::/64");
  EXPECT_EQ(out[1].link.name, "net1");
  ASSERT_EQ(out[1].routes.size(), 1u);
}

TEST(NetdevModel, SelectInterfacesNamesAnInterfaceThatCannotBeCarried) {
  std::vector<Link> links = {link(2, "eth0", "veth", LinkType::kVeth, true),
                             link(7, "vx0", "vxlan", LinkType::kOther, true)};
  ErrorKind k{};
  std::string msg = errorOf([&] { selectInterfaces(links, {}, {}, {}); }, &k);
  EXPECT_EQ(k, ErrorKind::kNotSupported);
  EXPECT_NE(msg.find("interface vx0"), std::string::npos) << msg;
  EXPECT_NE(msg.find("of type vxlan"), std::string::npos) << msg;
  EXPECT_NE(msg.find("supported: veth, tap, macvlan, ipvlan, physical"), std::string::npos) << msg;
  // A bridge with an address is in use too.
  links = {link(8, "br0", "bridge", LinkType::kBridge, false)};
  msg = errorOf([&] { selectInterfaces(links, {{8, {{AF_INET, "10.1.0.1", 24}}}}, {}, {}); });
  EXPECT_NE(msg.find("interface br0 of the network namespace is of type bridge"), std::string::npos) << msg;
  // ... and the same bridge down without an address is left alone.
  EXPECT_TRUE(selectInterfaces(links, {}, {}, {}).empty());
}

TEST(NetdevModel, ModelNames) {
  EXPECT_EQ(parseModel(""), Model::kTcFilter);
  EXPECT_EQ(parseModel("tcfilter"), Model::kTcFilter);
  EXPECT_EQ(parseModel("macvtap"), Model::kMacvtap);
  EXPECT_STREQ(modelName(Model::kMacvtap), "macvtap");
  EXPECT_NE(errorOf([] { parseModel("bridged"); }).find("unknown network model \"bridged\""), std::string::npos);
}

}  // namespace
}  // namespace kata::netdev
