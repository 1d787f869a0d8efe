// rtnetlink through libnl-route-3: one NETLINK_ROUTE socket, bound to the network namespace it was
// opened in (Netns::run opens it inside; it is then used from the caller's thread). Links, addresses,
// routes and the traffic-control objects the tcfilter model needs. Every failure is a kata::Error
// naming the operation, the object and the kernel's answer.
//
// Used by kata-vmmd (inside a pod's namespace) and by the guest agent (in the guest's only one).
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "netdev/model.h"
#include "netdev/netns.h"

struct nl_sock;

namespace kata::netdev {

// A tc filter as read back (for teardown checks and diagnostics).
struct TcFilter {
  int ifindex = 0;
  uint32_t parent = 0;
  std::string kind;  // "u32", "matchall", ...
};

class Rtnl {
 public:
  // A socket in the calling thread's namespace.
  static Rtnl open();
  // A socket inside ns (opened on Netns::run's thread).
  static Rtnl openIn(const Netns& ns);
  ~Rtnl();
  Rtnl(Rtnl&&) noexcept;
  Rtnl& operator=(Rtnl&&) noexcept;

  // ---- links ----
  std::vector<Link> links();
  std::optional<Link> linkByName(const std::string& name);
  std::optional<Link> linkByIndex(int index);
  std::optional<Link> linkByMac(const std::string& mac);
  // Changes of one link; each unset field is left alone. A rename needs the link down (the kernel
  // refuses to rename a running interface), which the caller arranges.
  struct LinkChange {
    std::optional<std::string> name;
    std::optional<uint32_t> mtu;
    std::optional<std::string> mac;
    std::optional<bool> up;
  };
  void changeLink(int index, const LinkChange& change);
  void deleteLink(int index);
  // A macvtap on top of `lower` in passthru mode (all of the lower device's traffic goes to the
  // macvtap, which keeps the lower device's MAC); returns its index.
  int createMacvtap(const std::string& name, int lower);

  // ---- addresses ----
  // Every address of the interface (IPv6 link-local ones included); both families.
  std::vector<IpAddress> addresses(int index);
  // noDad: IFA_F_NODAD for IPv6 (the address was already checked for duplicates where it came from;
  // waiting for DAD would delay the first packet by a second or more).
  void addAddress(int index, const IpAddress& address, bool noDad);
  void deleteAddress(int index, const IpAddress& address);

  // ---- routes (main table) ----
  // Unicast routes of the main table, both families, with their first next hop; multipath routes are
  // reported with `multipath` set in the second list (they are never carried).
  std::vector<Route> routes();
  std::vector<Route> multipathRoutes();
  // Adds (NLM_F_CREATE | NLM_F_REPLACE: an identical kernel-made route is replaced, not duplicated).
  // route.ifindex must be set.
  void addRoute(const Route& route);
  void deleteRoute(const Route& route);

  // ---- traffic control (tcfilter model) ----
  // The ingress qdisc (handle ffff:) on an interface; adding one that exists is kAlreadyExists.
  void addIngressQdisc(int index);
  // Removes it and with it every filter attached to it; false when there was none.
  bool deleteIngressQdisc(int index);
  bool hasIngressQdisc(int index);
  // On `from`'s ingress: u32 matching every packet of every protocol, action mirred egress redirect
  // to `to` (stolen: the packet leaves `from`'s stack entirely).
  void addRedirectFilter(int from, int to);
  std::vector<TcFilter> ingressFilters(int index);

  nl_sock* raw() const { return sock_; }

 private:
  explicit Rtnl(nl_sock* sock) : sock_(sock) {}
  nl_sock* sock_ = nullptr;
};

}  // namespace kata::netdev
