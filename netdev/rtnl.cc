#include "netdev/rtnl.h"

#include <arpa/inet.h>
#include <linux/if_ether.h>
#include <linux/if.h>
#include <linux/if_link.h>
#include <linux/pkt_cls.h>
#include <linux/rtnetlink.h>
#include <linux/tc_act/tc_mirred.h>
#include <netlink/errno.h>
#include <netlink/netlink.h>
#include <netlink/route/act/mirred.h>
#include <netlink/route/action.h>
#include <netlink/route/addr.h>
#include <netlink/route/classifier.h>
#include <netlink/route/cls/u32.h>
#include <netlink/route/link.h>
#include <netlink/route/link/macvtap.h>
#include <netlink/route/qdisc.h>
#include <netlink/route/route.h>
#include <netlink/route/tc.h>

#include <cstring>

#include "common/error.h"

namespace kata::netdev {
namespace {

template <typename T, void (*Free)(T*)>
struct Deleter {
  void operator()(T* p) const {
    if (p) Free(p);
  }
};
using Cache = std::unique_ptr<nl_cache, Deleter<nl_cache, nl_cache_free>>;
using LinkObj = std::unique_ptr<rtnl_link, Deleter<rtnl_link, rtnl_link_put>>;
using AddrObj = std::unique_ptr<rtnl_addr, Deleter<rtnl_addr, rtnl_addr_put>>;
using NlAddr = std::unique_ptr<nl_addr, Deleter<nl_addr, nl_addr_put>>;
using RouteObj = std::unique_ptr<rtnl_route, Deleter<rtnl_route, rtnl_route_put>>;
using QdiscObj = std::unique_ptr<rtnl_qdisc, Deleter<rtnl_qdisc, rtnl_qdisc_put>>;
using ClsObj = std::unique_ptr<rtnl_cls, Deleter<rtnl_cls, rtnl_cls_put>>;
using ActObj = std::unique_ptr<rtnl_act, Deleter<rtnl_act, rtnl_act_put>>;

constexpr uint32_t kIngressHandle = 0xffff0000;  // ffff:0, what `tc qdisc add ... ingress` uses

ErrorKind kindOf(int nlerr) {
  switch (nlerr) {
    case NLE_EXIST: return ErrorKind::kAlreadyExists;
    case NLE_OBJ_NOTFOUND:
    case NLE_NODEV: return ErrorKind::kNotFound;
    case NLE_PERM: return ErrorKind::kPermissionDenied;
    case NLE_INVAL:
    case NLE_RANGE: return ErrorKind::kInvalidArgument;
    case NLE_OPNOTSUPP: return ErrorKind::kNotSupported;
    case NLE_BUSY: return ErrorKind::kFailedPrecondition;
    default: return ErrorKind::kSystem;
  }
}

// libnl returns -NLE_* codes (its own numbering, not errno).
int check(int rc, const std::string& what) {
  if (rc < 0) {
    int e = -rc;
    throw Error(kindOf(e), "netlink: " + what + ": " + nl_geterror(e));
  }
  return rc;
}

template <typename T>
T* checkAlloc(T* p, const char* what) {
  if (!p) throw Error(ErrorKind::kSystem, std::string("netlink: out of memory allocating ") + what, ENOMEM);
  return p;
}

std::string addrText(nl_addr* a) {
  if (!a || nl_addr_get_len(a) == 0) return "";
  char buf[INET6_ADDRSTRLEN] = {};
  int family = nl_addr_get_family(a);
  if ((family == AF_INET && nl_addr_get_len(a) == 4) || (family == AF_INET6 && nl_addr_get_len(a) == 16)) {
    if (::inet_ntop(family, nl_addr_get_binary_addr(a), buf, sizeof buf)) return buf;
  }
  return "";
}

NlAddr buildAddr(int family, const std::string& text, unsigned prefix, const std::string& what) {
  unsigned char bin[16] = {};
  size_t len = family == AF_INET6 ? 16 : 4;
  if (!text.empty() && ::inet_pton(family, text.c_str(), bin) != 1)
    fail(ErrorKind::kInvalidArgument, what + ": \"" + text.substr(0, 64) + "\" is not an address of its family");
  NlAddr a(checkAlloc(nl_addr_build(family, bin, len), "an address"));
  nl_addr_set_prefixlen(a.get(), static_cast<int>(prefix));
  return a;
}

Link toLink(rtnl_link* l) {
  Link out;
  out.index = rtnl_link_get_ifindex(l);
  if (const char* n = rtnl_link_get_name(l)) out.name = n;
  nl_addr* mac = rtnl_link_get_addr(l);
  if (mac && nl_addr_get_len(mac) == 6)
    out.mac = formatMac(static_cast<const unsigned char*>(nl_addr_get_binary_addr(mac)), 6);
  out.mtu = rtnl_link_get_mtu(l);
  if (const char* k = rtnl_link_get_type(l)) out.kind = k;
  out.flags = rtnl_link_get_flags(l);
  out.arpType = rtnl_link_get_arptype(l);
  out.type = classifyLink(out.kind, out.arpType, (out.flags & IFF_LOOPBACK) != 0);
  return out;
}

LinkObj kernelLink(nl_sock* s, int index) {
  rtnl_link* l = nullptr;
  check(rtnl_link_get_kernel(s, index, nullptr, &l), "get link " + std::to_string(index));
  return LinkObj(l);
}

RouteObj routeObject(const Route& r, bool forDelete) {
  RouteObj route(checkAlloc(rtnl_route_alloc(), "a route"));
  rtnl_route_set_family(route.get(), static_cast<uint8_t>(r.family));
  rtnl_route_set_table(route.get(), r.table);
  rtnl_route_set_type(route.get(), RTN_UNICAST);
  std::string what = "route " + r.str();
  if (r.destination.empty() || r.destination == "default") {
    NlAddr dst = buildAddr(r.family, "", 0, what);
    check(rtnl_route_set_dst(route.get(), dst.get()), "set destination of " + what);
  } else {
    IpAddress d = parseCidr(r.destination, what);
    if (d.family != r.family) fail(ErrorKind::kInvalidArgument, what + ": destination of the other family");
    NlAddr dst = buildAddr(r.family, d.address, d.prefixLength, what);
    check(rtnl_route_set_dst(route.get(), dst.get()), "set destination of " + what);
  }
  if (!r.source.empty()) {
    NlAddr src = buildAddr(r.family, r.source, r.family == AF_INET6 ? 128 : 32, what);
    check(rtnl_route_set_pref_src(route.get(), src.get()), "set source of " + what);
  }
  rtnl_route_set_priority(route.get(), r.metric);
  if (forDelete) {
    rtnl_route_set_scope(route.get(), r.scope);
    if (r.protocol) rtnl_route_set_protocol(route.get(), r.protocol);
  } else {
    // IPv6 routes are all universe scope; an IPv4 route without a gateway is on-link.
    rtnl_route_set_scope(route.get(), r.family == AF_INET && r.gateway.empty() ? RT_SCOPE_LINK : RT_SCOPE_UNIVERSE);
    rtnl_route_set_protocol(route.get(), RTPROT_BOOT);
  }
  rtnl_nexthop* nh = checkAlloc(rtnl_route_nh_alloc(), "a next hop");
  rtnl_route_nh_set_ifindex(nh, r.ifindex);
  if (!r.gateway.empty()) {
    NlAddr gw = buildAddr(r.family, r.gateway, r.family == AF_INET6 ? 128 : 32, what);
    rtnl_route_nh_set_gateway(nh, gw.get());
  }
  rtnl_route_add_nexthop(route.get(), nh);  // the route owns it now
  return route;
}

template <typename Fn>
void forEach(nl_cache* cache, Fn&& fn) {
  for (nl_object* o = nl_cache_get_first(cache); o; o = nl_cache_get_next(o)) fn(o);
}

}  // namespace

Rtnl Rtnl::open() {
  nl_sock* s = checkAlloc(nl_socket_alloc(), "a netlink socket");
  int rc = nl_connect(s, NETLINK_ROUTE);
  if (rc < 0) {
    nl_socket_free(s);
    check(rc, "connect a NETLINK_ROUTE socket");
  }
  return Rtnl(s);
}

Rtnl Rtnl::openIn(const Netns& ns) {
  return ns.run([] { return open(); });
}

Rtnl::~Rtnl() {
  if (sock_) nl_socket_free(sock_);
}
Rtnl::Rtnl(Rtnl&& o) noexcept : sock_(std::exchange(o.sock_, nullptr)) {}
Rtnl& Rtnl::operator=(Rtnl&& o) noexcept {
  if (this != &o) {
    if (sock_) nl_socket_free(sock_);
    sock_ = std::exchange(o.sock_, nullptr);
  }
  return *this;
}

std::vector<Link> Rtnl::links() {
  nl_cache* raw = nullptr;
  check(rtnl_link_alloc_cache(sock_, AF_UNSPEC, &raw), "list links");
  Cache cache(raw);
  std::vector<Link> out;
  forEach(cache.get(), [&](nl_object* o) { out.push_back(toLink(reinterpret_cast<rtnl_link*>(o))); });
  return out;
}

std::optional<Link> Rtnl::linkByName(const std::string& name) {
  for (auto& l : links())
    if (l.name == name) return l;
  return std::nullopt;
}

std::optional<Link> Rtnl::linkByIndex(int index) {
  rtnl_link* l = nullptr;
  int rc = rtnl_link_get_kernel(sock_, index, nullptr, &l);
  if (rc == -NLE_NODEV || rc == -NLE_OBJ_NOTFOUND) return std::nullopt;
  check(rc, "get link " + std::to_string(index));
  LinkObj owned(l);
  return toLink(l);
}

std::optional<Link> Rtnl::linkByMac(const std::string& mac) {
  std::string want = normalizeMac(mac, "MAC address");
  for (auto& l : links())
    if (l.mac == want) return l;
  return std::nullopt;
}

void Rtnl::changeLink(int index, const LinkChange& c) {
  LinkObj orig = kernelLink(sock_, index);
  LinkObj change(checkAlloc(rtnl_link_alloc(), "a link"));
  std::string what = "link " + std::to_string(index);
  if (const char* n = rtnl_link_get_name(orig.get())) what += " (" + std::string(n) + ")";
  if (c.name) {
    validateIfName(*c.name, "new interface name");
    rtnl_link_set_name(change.get(), c.name->c_str());
  }
  if (c.mtu) rtnl_link_set_mtu(change.get(), *c.mtu);
  if (c.mac) {
    std::string m = normalizeMac(*c.mac, "MAC address");
    unsigned char bin[6];
    for (int i = 0; i < 6; ++i) bin[i] = static_cast<unsigned char>(std::stoul(m.substr(3 * i, 2), nullptr, 16));
    NlAddr a(checkAlloc(nl_addr_build(AF_LLC, bin, 6), "a MAC"));
    rtnl_link_set_addr(change.get(), a.get());
  }
  if (c.up) {
    if (*c.up) rtnl_link_set_flags(change.get(), IFF_UP);
    else rtnl_link_unset_flags(change.get(), IFF_UP);
  }
  check(rtnl_link_change(sock_, orig.get(), change.get(), 0), "change " + what);
}

void Rtnl::deleteLink(int index) {
  LinkObj l(checkAlloc(rtnl_link_alloc(), "a link"));
  rtnl_link_set_ifindex(l.get(), index);
  check(rtnl_link_delete(sock_, l.get()), "delete link " + std::to_string(index));
}

int Rtnl::createMacvtap(const std::string& name, int lower) {
  validateIfName(name, "macvtap name");
  LinkObj l(checkAlloc(rtnl_link_macvtap_alloc(), "a macvtap"));
  rtnl_link_set_name(l.get(), name.c_str());
  rtnl_link_set_link(l.get(), lower);
  check(rtnl_link_macvtap_set_mode(l.get(), MACVLAN_MODE_PASSTHRU), "macvtap passthru mode");
  check(rtnl_link_add(sock_, l.get(), NLM_F_CREATE | NLM_F_EXCL), "create macvtap " + name + " on link " + std::to_string(lower));
  auto made = linkByName(name);
  if (!made) fail(ErrorKind::kInternal, "macvtap " + name + " was created but is not listed");
  return made->index;
}

std::vector<IpAddress> Rtnl::addresses(int index) {
  nl_cache* raw = nullptr;
  check(rtnl_addr_alloc_cache(sock_, &raw), "list addresses");
  Cache cache(raw);
  std::vector<IpAddress> out;
  forEach(cache.get(), [&](nl_object* o) {
    auto* a = reinterpret_cast<rtnl_addr*>(o);
    if (rtnl_addr_get_ifindex(a) != index) return;
    int family = rtnl_addr_get_family(a);
    if (family != AF_INET && family != AF_INET6) return;
    std::string text = addrText(rtnl_addr_get_local(a));
    if (text.empty()) return;
    out.push_back(IpAddress{family, text, static_cast<uint8_t>(rtnl_addr_get_prefixlen(a))});
  });
  return out;
}

void Rtnl::addAddress(int index, const IpAddress& address, bool noDad) {
  std::string what = "add address " + address.str() + " to link " + std::to_string(index);
  AddrObj a(checkAlloc(rtnl_addr_alloc(), "an address"));
  rtnl_addr_set_ifindex(a.get(), index);
  rtnl_addr_set_family(a.get(), address.family);
  NlAddr local = buildAddr(address.family, address.address, address.prefixLength, what);
  check(rtnl_addr_set_local(a.get(), local.get()), what);
  rtnl_addr_set_prefixlen(a.get(), address.prefixLength);
  if (noDad && address.family == AF_INET6) rtnl_addr_set_flags(a.get(), IFA_F_NODAD);
  check(rtnl_addr_add(sock_, a.get(), NLM_F_REPLACE), what);
}

void Rtnl::deleteAddress(int index, const IpAddress& address) {
  std::string what = "delete address " + address.str() + " from link " + std::to_string(index);
  AddrObj a(checkAlloc(rtnl_addr_alloc(), "an address"));
  rtnl_addr_set_ifindex(a.get(), index);
  rtnl_addr_set_family(a.get(), address.family);
  NlAddr local = buildAddr(address.family, address.address, address.prefixLength, what);
  check(rtnl_addr_set_local(a.get(), local.get()), what);
  rtnl_addr_set_prefixlen(a.get(), address.prefixLength);
  check(rtnl_addr_delete(sock_, a.get(), 0), what);
}

namespace {

void readRoutes(nl_sock* sock, std::vector<Route>* single, std::vector<Route>* multi) {
  nl_cache* lraw = nullptr;
  check(rtnl_link_alloc_cache(sock, AF_UNSPEC, &lraw), "list links");
  Cache links(lraw);
  nl_cache* raw = nullptr;
  check(rtnl_route_alloc_cache(sock, AF_UNSPEC, 0, &raw), "list routes");
  Cache cache(raw);
  forEach(cache.get(), [&](nl_object* o) {
    auto* r = reinterpret_cast<rtnl_route*>(o);
    if (rtnl_route_get_table(r) != RT_TABLE_MAIN || rtnl_route_get_type(r) != RTN_UNICAST) return;
    int family = rtnl_route_get_family(r);
    if (family != AF_INET && family != AF_INET6) return;
    Route out;
    out.family = family;
    nl_addr* dst = rtnl_route_get_dst(r);
    int plen = dst ? nl_addr_get_prefixlen(dst) : 0;
    out.destination = plen == 0 ? "default" : addrText(dst) + "/" + std::to_string(plen);
    out.source = addrText(rtnl_route_get_pref_src(r));
    out.metric = rtnl_route_get_priority(r);
    out.scope = rtnl_route_get_scope(r);
    out.protocol = rtnl_route_get_protocol(r);
    out.table = rtnl_route_get_table(r);
    int n = rtnl_route_get_nnexthops(r);
    if (n < 1) return;
    rtnl_nexthop* nh = rtnl_route_nexthop_n(r, 0);
    out.ifindex = rtnl_route_nh_get_ifindex(nh);
    out.gateway = addrText(rtnl_route_nh_get_gateway(nh));
    char name[IFNAMSIZ] = {};
    if (rtnl_link_i2name(links.get(), out.ifindex, name, sizeof name)) out.device = name;
    (n == 1 ? single : multi)->push_back(out);
  });
}

}  // namespace

std::vector<Route> Rtnl::routes() {
  std::vector<Route> single, multi;
  readRoutes(sock_, &single, &multi);
  return single;
}

std::vector<Route> Rtnl::multipathRoutes() {
  std::vector<Route> single, multi;
  readRoutes(sock_, &single, &multi);
  return multi;
}

void Rtnl::addRoute(const Route& r) {
  if (r.ifindex <= 0) fail(ErrorKind::kInvalidArgument, "route " + r.str() + " names no interface");
  RouteObj route = routeObject(r, false);
  check(rtnl_route_add(sock_, route.get(), NLM_F_CREATE | NLM_F_REPLACE), "add route " + r.str());
}

void Rtnl::deleteRoute(const Route& r) {
  RouteObj route = routeObject(r, true);
  check(rtnl_route_delete(sock_, route.get(), 0), "delete route " + r.str());
}

void Rtnl::addIngressQdisc(int index) {
  QdiscObj q(checkAlloc(rtnl_qdisc_alloc(), "a qdisc"));
  rtnl_tc_set_ifindex(TC_CAST(q.get()), index);
  rtnl_tc_set_parent(TC_CAST(q.get()), TC_H_INGRESS);
  rtnl_tc_set_handle(TC_CAST(q.get()), kIngressHandle);
  check(rtnl_tc_set_kind(TC_CAST(q.get()), "ingress"), "ingress qdisc kind");
  check(rtnl_qdisc_add(sock_, q.get(), NLM_F_CREATE | NLM_F_EXCL), "add ingress qdisc to link " + std::to_string(index));
}

bool Rtnl::hasIngressQdisc(int index) {
  nl_cache* raw = nullptr;
  check(rtnl_qdisc_alloc_cache(sock_, &raw), "list qdiscs");
  Cache cache(raw);
  bool found = false;
  forEach(cache.get(), [&](nl_object* o) {
    auto* tc = TC_CAST(o);
    if (rtnl_tc_get_ifindex(tc) == index && rtnl_tc_get_parent(tc) == TC_H_INGRESS) found = true;
  });
  return found;
}

bool Rtnl::deleteIngressQdisc(int index) {
  if (!hasIngressQdisc(index)) return false;
  QdiscObj q(checkAlloc(rtnl_qdisc_alloc(), "a qdisc"));
  rtnl_tc_set_ifindex(TC_CAST(q.get()), index);
  rtnl_tc_set_parent(TC_CAST(q.get()), TC_H_INGRESS);
  rtnl_tc_set_handle(TC_CAST(q.get()), kIngressHandle);
  check(rtnl_tc_set_kind(TC_CAST(q.get()), "ingress"), "ingress qdisc kind");
  check(rtnl_qdisc_delete(sock_, q.get()), "delete ingress qdisc of link " + std::to_string(index));
  return true;
}

void Rtnl::addRedirectFilter(int from, int to) {
  std::string what = "add u32 mirred redirect filter from link " + std::to_string(from) + " to " + std::to_string(to);
  ClsObj cls(checkAlloc(rtnl_cls_alloc(), "a filter"));
  rtnl_tc_set_ifindex(TC_CAST(cls.get()), from);
  rtnl_tc_set_parent(TC_CAST(cls.get()), kIngressHandle);
  check(rtnl_tc_set_kind(TC_CAST(cls.get()), "u32"), what);
  rtnl_cls_set_protocol(cls.get(), ETH_P_ALL);
  rtnl_cls_set_prio(cls.get(), 1);
  // "match u32 0 0 at 0": every packet; terminal: the action's verdict is final.
  check(rtnl_u32_add_key_uint32(cls.get(), 0, 0, 0, 0), what);
  check(rtnl_u32_set_cls_terminal(cls.get()), what);
  ActObj act(checkAlloc(rtnl_act_alloc(), "an action"));
  check(rtnl_tc_set_kind(TC_CAST(act.get()), "mirred"), what);
  check(rtnl_mirred_set_action(act.get(), TCA_EGRESS_REDIR), what);
  check(rtnl_mirred_set_policy(act.get(), TC_ACT_STOLEN), what);
  check(rtnl_mirred_set_ifindex(act.get(), static_cast<uint32_t>(to)), what);
  check(rtnl_u32_add_action(cls.get(), act.get()), what);  // takes its own reference
  check(rtnl_cls_add(sock_, cls.get(), NLM_F_CREATE | NLM_F_EXCL), what);
}

std::vector<TcFilter> Rtnl::ingressFilters(int index) {
  // Without an ingress qdisc there is nothing to list (and the kernel refuses the dump).
  if (!hasIngressQdisc(index)) return {};
  nl_cache* raw = nullptr;
  check(rtnl_cls_alloc_cache(sock_, index, kIngressHandle, &raw), "list filters of link " + std::to_string(index));
  Cache cache(raw);
  std::vector<TcFilter> out;
  forEach(cache.get(), [&](nl_object* o) {
    auto* tc = TC_CAST(o);
    TcFilter f;
    f.ifindex = rtnl_tc_get_ifindex(tc);
    f.parent = rtnl_tc_get_parent(tc);
    if (const char* k = rtnl_tc_get_kind(tc)) f.kind = k;
    out.push_back(f);
  });
  return out;
}

}  // namespace kata::netdev
