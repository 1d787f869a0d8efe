#include "netdev/model.h"

#include <arpa/inet.h>
#include <net/if_arp.h>
#include <net/if.h>

#include <algorithm>
#include <cctype>

#include "common/error.h"

namespace kata::netdev {
namespace {

[[noreturn]] void invalid(const std::string& what, const std::string& text, const std::string& why) {
  std::string shown = text.substr(0, 64);
  for (char& c : shown)
    if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) >= 0x7f) c = '?';
  fail(ErrorKind::kInvalidArgument, what + " \"" + shown + "\" " + why);
}

}  // namespace

std::string canonicalAddress(int family, const std::string& text, const std::string& what) {
  unsigned char buf[16];
  if ((family != AF_INET && family != AF_INET6) || text.size() > INET6_ADDRSTRLEN ||
      ::inet_pton(family, text.c_str(), buf) != 1)
    invalid(what, text, std::string("is not an ") + (family == AF_INET6 ? "IPv6" : "IPv4") + " address");
  char out[INET6_ADDRSTRLEN];
  if (!::inet_ntop(family, buf, out, sizeof out)) throwSysError(errno, "inet_ntop");
  return out;
}

IpAddress parseCidr(const std::string& text, const std::string& what) {
  if (text.empty() || text.size() > INET6_ADDRSTRLEN + 4) invalid(what, text, "is not an address with a prefix length");
  auto slash = text.find('/');
  std::string addr = text.substr(0, slash);
  IpAddress a;
  a.family = addr.find(':') != std::string::npos ? AF_INET6 : AF_INET;
  a.address = canonicalAddress(a.family, addr, what);
  unsigned max = a.family == AF_INET6 ? 128 : 32;
  if (slash == std::string::npos) {
    a.prefixLength = static_cast<uint8_t>(max);
    return a;
  }
  std::string len = text.substr(slash + 1);
  if (len.empty() || len.size() > 3 || len.find_first_not_of("0123456789") != std::string::npos ||
      std::stoul(len) > max)
    invalid(what, text, "has an invalid prefix length (0-" + std::to_string(max) + ")");
  a.prefixLength = static_cast<uint8_t>(std::stoul(len));
  return a;
}

bool isIpv6LinkLocal(const std::string& address) {
  in6_addr a{};
  if (::inet_pton(AF_INET6, address.c_str(), &a) != 1) return false;
  return a.s6_addr[0] == 0xfe && (a.s6_addr[1] & 0xc0) == 0x80;
}

std::string Route::str() const {
  std::string s = destination.empty() ? "default" : destination;
  if (!gateway.empty()) s += " via " + gateway;
  if (!device.empty()) s += " dev " + device;
  if (!source.empty()) s += " src " + source;
  s += " metric " + std::to_string(metric);
  return s;
}

const char* linkTypeName(LinkType type) {
  switch (type) {
    case LinkType::kLoopback: return "loopback";
    case LinkType::kVeth: return "veth";
    case LinkType::kTap: return "tap";
    case LinkType::kMacvlan: return "macvlan";
    case LinkType::kMacvtap: return "macvtap";
    case LinkType::kIpvlan: return "ipvlan";
    case LinkType::kBridge: return "bridge";
    case LinkType::kPhysical: return "physical";
    case LinkType::kOther: return "other";
  }
  return "other";
}

LinkType classifyLink(const std::string& kind, unsigned arpType, bool loopback) {
  if (loopback || arpType == ARPHRD_LOOPBACK) return LinkType::kLoopback;
  if (kind == "veth") return LinkType::kVeth;
  // A tap reports "tun" as its kind; a tun (layer 3) device has no Ethernet header and ARPHRD_NONE.
  if (kind == "tun") return arpType == ARPHRD_ETHER ? LinkType::kTap : LinkType::kOther;
  if (kind == "macvlan") return LinkType::kMacvlan;
  if (kind == "macvtap") return LinkType::kMacvtap;
  if (kind == "ipvlan" || kind == "ipvtap") return LinkType::kIpvlan;
  if (kind == "bridge") return LinkType::kBridge;
  // A NIC moved into the namespace (CNI host-device, SR-IOV VFs): its driver registers no link kind.
  if (kind.empty() && arpType == ARPHRD_ETHER) return LinkType::kPhysical;
  return LinkType::kOther;
}

bool carriable(LinkType type) {
  switch (type) {
    case LinkType::kVeth:
    case LinkType::kTap:
    case LinkType::kMacvlan:
    case LinkType::kIpvlan:
    case LinkType::kPhysical:
      return true;
    default:
      return false;
  }
}

bool Link::up() const { return (flags & IFF_UP) != 0; }

std::string formatMac(const unsigned char* bytes, size_t length) {
  if (length != 6) fail(ErrorKind::kInvalidArgument, "link-layer address of " + std::to_string(length) +
                                                         " bytes is not an Ethernet MAC");
  static const char* hex = "0123456789abcdef";
  std::string s;
  for (size_t i = 0; i < 6; ++i) {
    if (i) s += ':';
    s += hex[bytes[i] >> 4];
    s += hex[bytes[i] & 0xf];
  }
  return s;
}

std::string normalizeMac(const std::string& mac, const std::string& what) {
  bool ok = mac.size() == 17;
  std::string out = mac;
  for (size_t i = 0; ok && i < out.size(); ++i) {
    if (i % 3 == 2) ok = out[i] == ':';
    else ok = std::isxdigit(static_cast<unsigned char>(out[i])) != 0;
    out[i] = static_cast<char>(std::tolower(static_cast<unsigned char>(out[i])));
  }
  if (!ok) invalid(what, mac, "is not a MAC address (aa:bb:cc:dd:ee:ff)");
  return out;
}

void validateIfName(const std::string& name, const std::string& what) {
  bool ok = !name.empty() && name.size() < IFNAMSIZ && name != "." && name != "..";
  for (char c : name)
    ok = ok && c != '/' && c != ':' && !std::isspace(static_cast<unsigned char>(c)) &&
         static_cast<unsigned char>(c) > 0x20 && static_cast<unsigned char>(c) < 0x7f;
  if (!ok) invalid(what, name, "is not a valid interface name (1-15 printable characters, no '/', ':' or spaces)");
}

bool carriedRoute(const Route& r) {
  if (r.table != 254) return false;
  if (r.family == AF_INET6 && r.destination.rfind("fe80::/", 0) == 0) return false;
  return true;
}

std::vector<Route> onLinkFirst(std::vector<Route> routes) {
  std::stable_sort(routes.begin(), routes.end(),
                   [](const Route& a, const Route& b) { return a.gateway.empty() && !b.gateway.empty(); });
  return routes;
}

}  // namespace kata::netdev
