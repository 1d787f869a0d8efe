#include "netdev/carrier.h"

#include <net/if.h>

#include "common/error.h"
#include "netdev/tap.h"

namespace kata::netdev {
namespace {

// A macvtap node taken by another namespace's macvtap of the same ifindex: recreating ours gives it
// a new ifindex. A few attempts are plenty (it takes a coincidence or an adversary to collide).
constexpr int kMacvtapAttempts = 4;

std::string tapNameFor(const Link& pod) { return "tap" + std::to_string(pod.index) + "_kata"; }

}  // namespace

const char* modelName(Model model) { return model == Model::kMacvtap ? "macvtap" : "tcfilter"; }

Model parseModel(const std::string& name) {
  if (name.empty() || name == "tcfilter") return Model::kTcFilter;
  if (name == "macvtap") return Model::kMacvtap;
  fail(ErrorKind::kInvalidArgument, "unknown network model \"" + name.substr(0, 32) + "\" (tcfilter or macvtap)");
}

std::vector<Interface> selectInterfaces(const std::vector<Link>& links,
                                        const std::vector<std::pair<int, std::vector<IpAddress>>>& addresses,
                                        const std::vector<Route>& routes, const std::set<std::string>& skip) {
  std::vector<Interface> out;
  for (const Link& l : links) {
    if (l.type == LinkType::kLoopback || skip.count(l.name)) continue;
    Interface i;
    i.link = l;
    for (const auto& [index, list] : addresses)
      if (index == l.index)
        for (const auto& a : list)
          if (!(a.family == AF_INET6 && isIpv6LinkLocal(a.address))) i.addresses.push_back(a);
    if (!l.up() && i.addresses.empty()) continue;  // nobody configured it
    if (!carriable(l.type))
      fail(ErrorKind::kNotSupported,
           "interface " + l.name + " of the network namespace is of type " +
               (l.kind.empty() ? std::string(linkTypeName(l.type)) : l.kind) +
               ", which cannot be carried into the VM (supported: veth, tap, macvlan, ipvlan, physical); "
               "remove it from the namespace or take it down");
    if (l.mac.empty())
      fail(ErrorKind::kNotSupported, "interface " + l.name + " has no Ethernet address and cannot be carried into the VM");
    for (const Route& r : routes)
      if (r.ifindex == l.index && carriedRoute(r)) i.routes.push_back(r);
    out.push_back(std::move(i));
  }
  return out;
}

std::vector<Interface> describeNamespace(Rtnl& rtnl, const std::set<std::string>& skip) {
  std::vector<Link> links = rtnl.links();
  std::vector<std::pair<int, std::vector<IpAddress>>> addresses;
  for (const Link& l : links) addresses.emplace_back(l.index, rtnl.addresses(l.index));
  return selectInterfaces(links, addresses, rtnl.routes(), skip);
}

std::optional<Interface> describeInterface(Rtnl& rtnl, int index) {
  auto link = rtnl.linkByIndex(index);
  if (!link) return std::nullopt;
  Interface i;
  i.link = *link;
  for (const auto& a : rtnl.addresses(index))
    if (!(a.family == AF_INET6 && isIpv6LinkLocal(a.address))) i.addresses.push_back(a);
  for (const auto& r : rtnl.routes())
    if (r.ifindex == index && carriedRoute(r)) i.routes.push_back(r);
  return i;
}

Connection connectInterface(const Netns& ns, Rtnl& rtnl, const Link& pod, Model model, const ConnectOptions& o) {
  Connection c;
  c.plumbing.model = model;
  c.plumbing.podName = pod.name;
  c.plumbing.podIndex = pod.index;
  if (model == Model::kTcFilter) {
    TapOptions t;
    t.name = tapNameFor(pod);
    t.queues = o.queues;
    t.owner = o.owner;
    t.group = o.group;
    c.queues = createTap(ns, t);
    c.plumbing.device = t.name;
    bool podQdisc = false;
    try {
      auto tap = rtnl.linkByName(t.name);
      if (!tap) fail(ErrorKind::kInternal, "tap " + t.name + " was created but is not listed");
      c.plumbing.deviceIndex = tap->index;
      Rtnl::LinkChange up;
      up.mtu = pod.mtu;
      up.up = true;
      rtnl.changeLink(tap->index, up);
      try {
        rtnl.addIngressQdisc(pod.index);
      } catch (const Error& e) {
        if (e.kind() != ErrorKind::kAlreadyExists) throw;
        fail(ErrorKind::kFailedPrecondition, "interface " + pod.name +
                                                 " already has an ingress qdisc (another tool's); the tcfilter model "
                                                 "needs it: remove it or use the macvtap model");
      }
      podQdisc = true;
      rtnl.addIngressQdisc(tap->index);
      rtnl.addRedirectFilter(pod.index, tap->index);
      rtnl.addRedirectFilter(tap->index, pod.index);
    } catch (...) {
      if (podQdisc) (void)rtnl.deleteIngressQdisc(pod.index);
      c.queues.clear();  // the tap goes with its last descriptor
      throw;
    }
    return c;
  }

  for (int attempt = 1;; ++attempt) {
    std::string name = randomName("kmvt");
    int index = rtnl.createMacvtap(name, pod.index);
    try {
      Rtnl::LinkChange up;
      up.mtu = pod.mtu;
      up.up = true;
      rtnl.changeLink(index, up);
      c.queues = openMacvtap(index, name, o.queues, o.devDir);
      c.plumbing.device = name;
      c.plumbing.deviceIndex = index;
      return c;
    } catch (const Error& e) {
      rtnl.deleteLink(index);
      if (e.kind() != ErrorKind::kFailedPrecondition || attempt == kMacvtapAttempts) throw;
    }
  }
}

void disconnectInterface(Rtnl& rtnl, const Plumbing& p) {
  auto same = [&](int index, const std::string& name) {
    auto l = rtnl.linkByIndex(index);
    return l && l->name == name;
  };
  if (p.model == Model::kTcFilter) {
    // The filters go with the qdiscs they hang off.
    if (p.podIndex > 0 && same(p.podIndex, p.podName)) (void)rtnl.deleteIngressQdisc(p.podIndex);
    if (p.deviceIndex > 0 && same(p.deviceIndex, p.device)) {
      (void)rtnl.deleteIngressQdisc(p.deviceIndex);
      try {
        rtnl.deleteLink(p.deviceIndex);
      } catch (const Error& e) {
        if (e.kind() != ErrorKind::kNotFound) throw;  // its last descriptor closed meanwhile
      }
    }
    return;
  }
  if (p.deviceIndex > 0 && same(p.deviceIndex, p.device)) {
    try {
      rtnl.deleteLink(p.deviceIndex);
    } catch (const Error& e) {
      if (e.kind() != ErrorKind::kNotFound) throw;
    }
  }
}

std::vector<std::string> leftovers(Rtnl& rtnl, const Plumbing& p) {
  std::vector<std::string> out;
  auto pod = rtnl.linkByIndex(p.podIndex);
  if (pod && pod->name == p.podName && p.model == Model::kTcFilter) {
    if (rtnl.hasIngressQdisc(p.podIndex)) out.push_back("ingress qdisc on " + p.podName);
    if (!rtnl.ingressFilters(p.podIndex).empty()) out.push_back("ingress filters on " + p.podName);
  }
  if (auto dev = rtnl.linkByName(p.device)) {
    out.push_back(std::string(p.model == Model::kMacvtap ? "macvtap " : "tap ") + p.device);
    if (rtnl.hasIngressQdisc(dev->index)) out.push_back("ingress qdisc on " + p.device);
  }
  return out;
}

}  // namespace kata::netdev
