#include "agent/network.h"

#include <net/if.h>

#include <algorithm>

#include "common/error.h"

namespace kata::agent {
namespace {

using netdev::IpAddress;
using netdev::Link;
using netdev::Route;

bool linkLocal(const IpAddress& a) { return a.family == AF_INET6 && netdev::isIpv6LinkLocal(a.address); }

int familyOf(const std::string& address) { return address.find(':') != std::string::npos ? AF_INET6 : AF_INET; }

}  // namespace

Route checkedRoute(const std::string& destination, const std::string& gateway, const std::string& device,
                   const std::string& source, unsigned family, uint32_t metric) {
  Route r;
  bool isDefault = destination.empty() || destination == "default";
  int fam = 0;
  if (!isDefault) fam = familyOf(destination);
  else if (!gateway.empty()) fam = familyOf(gateway);
  else if (family == 4) fam = AF_INET;
  else if (family == 6) fam = AF_INET6;
  if (!fam) fail(ErrorKind::kInvalidArgument, "route to " + std::string(isDefault ? "default" : destination) +
                                                  ": say its family (4 or 6) or give a gateway");
  if ((family == 4 && fam != AF_INET) || (family == 6 && fam != AF_INET6) || (family && family != 4 && family != 6))
    fail(ErrorKind::kInvalidArgument, "route to " + destination + ": family " + std::to_string(family) +
                                          " does not match its addresses");
  r.family = fam;
  if (isDefault) {
    r.destination = "default";
  } else {
    IpAddress d = netdev::parseCidr(destination, "route destination");
    if (d.family != fam) fail(ErrorKind::kInvalidArgument, "route destination " + destination + ": wrong family");
    r.destination = d.str();
  }
  if (!gateway.empty()) r.gateway = netdev::canonicalAddress(fam, gateway, "gateway of the route to " + r.destination);
  if (!source.empty()) r.source = netdev::canonicalAddress(fam, source, "source of the route to " + r.destination);
  netdev::validateIfName(device, "device of the route to " + r.destination);
  r.device = device;
  r.metric = metric;
  return r;
}

void GuestNetwork::bringUpLoopback() {
  auto lo = rtnl_.linkByName("lo");
  if (!lo) fail(ErrorKind::kNotFound, "the guest has no loopback interface");
  netdev::Rtnl::LinkChange up;
  up.up = true;
  rtnl_.changeLink(lo->index, up);
}

std::optional<Link> GuestNetwork::findByMac(const std::string& mac) { return rtnl_.linkByMac(mac); }

netdev::Interface GuestNetwork::describe(const Link& link) {
  netdev::Interface i;
  i.link = link;
  i.addresses = rtnl_.addresses(link.index);
  for (const auto& r : rtnl_.routes())
    if (r.ifindex == link.index) i.routes.push_back(r);
  return i;
}

netdev::Interface GuestNetwork::updateInterface(const InterfaceSpec& spec) {
  std::string mac = netdev::normalizeMac(spec.mac, "interface MAC");
  if (spec.addresses.size() > kMaxAddresses)
    fail(ErrorKind::kInvalidArgument, "interface " + mac + ": more than " + std::to_string(kMaxAddresses) + " addresses");
  if (spec.mtu && (spec.mtu < 68 || spec.mtu > 65535))
    fail(ErrorKind::kInvalidArgument, "interface " + mac + ": MTU " + std::to_string(spec.mtu) + " is out of range 68-65535");
  auto link = rtnl_.linkByMac(mac);
  if (!link) fail(ErrorKind::kNotFound, "the guest has no interface with MAC " + mac);
  if (link->type == netdev::LinkType::kLoopback) fail(ErrorKind::kInvalidArgument, "interface " + mac + " is loopback");

  if (!spec.name.empty() && spec.name != link->name) {
    netdev::validateIfName(spec.name, "interface name");
    // The kernel names NICs in probe order; the pod's names may be the same ones in another order.
    // Move an interface that holds the wanted name aside (it gets its own name when it is configured).
    if (auto holder = rtnl_.linkByName(spec.name)) {
      if (holder->type == netdev::LinkType::kLoopback)
        fail(ErrorKind::kInvalidArgument, "interface name " + spec.name + " is the loopback's");
      netdev::Rtnl::LinkChange aside;
      aside.up = false;
      rtnl_.changeLink(holder->index, aside);
      aside.up.reset();
      aside.name = "kt" + std::to_string(holder->index);
      rtnl_.changeLink(holder->index, aside);
    }
    netdev::Rtnl::LinkChange rename;
    rename.up = false;  // a running interface cannot be renamed
    rtnl_.changeLink(link->index, rename);
    rename.up.reset();
    rename.name = spec.name;
    rtnl_.changeLink(link->index, rename);
  }
  netdev::Rtnl::LinkChange change;
  if (spec.mtu) change.mtu = spec.mtu;
  change.up = true;
  rtnl_.changeLink(link->index, change);

  std::vector<IpAddress> want;
  for (const auto& a : spec.addresses) {
    IpAddress c = a;
    c.address = netdev::canonicalAddress(a.family, a.address, "address of interface " + mac);
    if (c.prefixLength > (c.family == AF_INET6 ? 128 : 32))
      fail(ErrorKind::kInvalidArgument, "address " + c.str() + ": prefix length out of range");
    want.push_back(c);
  }
  for (const auto& have : rtnl_.addresses(link->index))
    if (!linkLocal(have) && std::find(want.begin(), want.end(), have) == want.end())
      rtnl_.deleteAddress(link->index, have);
  auto now = rtnl_.addresses(link->index);
  for (const auto& a : want)
    if (std::find(now.begin(), now.end(), a) == now.end())
      rtnl_.addAddress(link->index, a, /*noDad=*/true);  // the pod's namespace holds it already
  configured_.insert(link->index);
  auto updated = rtnl_.linkByIndex(link->index);
  if (!updated) fail(ErrorKind::kNotFound, "interface " + mac + " disappeared while being configured");
  return describe(*updated);
}

void GuestNetwork::removeInterface(const std::string& mac) {
  std::string m = netdev::normalizeMac(mac, "interface MAC");
  auto link = rtnl_.linkByMac(m);
  if (!link) fail(ErrorKind::kNotFound, "the guest has no interface with MAC " + m);
  netdev::Rtnl::LinkChange down;
  down.up = false;
  rtnl_.changeLink(link->index, down);
  for (const auto& a : rtnl_.addresses(link->index)) rtnl_.deleteAddress(link->index, a);
  configured_.erase(link->index);
}

std::vector<netdev::Interface> GuestNetwork::listInterfaces() {
  std::vector<netdev::Interface> out;
  for (const auto& l : rtnl_.links()) out.push_back(describe(l));
  return out;
}

std::vector<Route> GuestNetwork::updateRoutes(const std::vector<Route>& routes) {
  if (routes.size() > kMaxRoutes)
    fail(ErrorKind::kInvalidArgument, "more than " + std::to_string(kMaxRoutes) + " routes");
  std::set<int> targets = configured_;
  std::vector<Route> resolved;
  for (Route r : routes) {
    auto dev = rtnl_.linkByName(r.device);
    if (!dev) fail(ErrorKind::kNotFound, "route " + r.str() + ": the guest has no interface " + r.device);
    r.ifindex = dev->index;
    targets.insert(dev->index);
    resolved.push_back(r);
  }
  for (const auto& have : rtnl_.routes())
    if (targets.count(have.ifindex) && netdev::carriedRoute(have)) {
      try {
        rtnl_.deleteRoute(have);
      } catch (const Error& e) {
        // Deleting an IPv4 address's prefix route may take its siblings along; gone is fine.
        if (e.kind() != ErrorKind::kNotFound) throw;
      }
    }
  for (const auto& r : netdev::onLinkFirst(resolved)) rtnl_.addRoute(r);
  return listRoutes();
}

std::vector<Route> GuestNetwork::listRoutes() { return rtnl_.routes(); }

}  // namespace kata::agent
