#include "agent/network_rpc.h"

#include <kj/debug.h>
#include <kj/time.h>

#include <algorithm>
#include <string>

#include "agent/container_rpc.h"
#include "common/error.h"

namespace kata::agent {
namespace {

std::string text(capnp::Text::Reader t, size_t max, const std::string& what) {
  if (t.size() > max)
    fail(ErrorKind::kInvalidArgument, what + " is " + std::to_string(t.size()) + " bytes (at most " + std::to_string(max) + ")");
  std::string s(t.cStr(), t.size());
  if (s.find('\0') != std::string::npos) fail(ErrorKind::kInvalidArgument, what + " contains a NUL byte");
  return s;
}

// The same form rpcGuard gives an error ("<kind>: <message> [<method>]"), for errors raised after
// the first wait (inside a continuation, where rpcGuard no longer catches).
kj::Exception toKj(const std::exception& e) {
  if (const auto* k = dynamic_cast<const Error*>(&e))
    return KJ_EXCEPTION(FAILED, kj::str(errorKindTag(k->kind()), ": ", e.what(), " [Agent.updateInterface]"));
  return KJ_EXCEPTION(FAILED, kj::str("internal: ", e.what(), " [Agent.updateInterface]"));
}

// Waits, polling, until the NIC with spec.mac exists or the deadline passes, then configures it.
kj::Promise<netdev::Interface> configureWhenPresent(GuestNetwork& net, kj::Timer& timer, InterfaceSpec spec,
                                                    kj::TimePoint deadline, uint32_t waitedFor) {
  try {
    bool present = net.findByMac(spec.mac).has_value();
    if (present) return net.updateInterface(spec);
    if (kj::systemPreciseMonotonicClock().now() >= deadline)
      fail(ErrorKind::kNotFound, "no interface with MAC " + spec.mac + " appeared in the guest within " +
                                     std::to_string(waitedFor) +
                                     " ms (is virtio_net loaded? did the hot-plug reach the guest?)");
  } catch (const std::exception& e) {
    return toKj(e);
  }
  return timer.afterDelay(kNicPollInterval).then([&net, &timer, spec = std::move(spec), deadline, waitedFor]() mutable {
    return configureWhenPresent(net, timer, std::move(spec), deadline, waitedFor);
  });
}

}  // namespace

InterfaceSpec decodeInterface(ipc::agent::NetInterface::Reader in) {
  InterfaceSpec s;
  s.mac = netdev::normalizeMac(text(in.getMac(), 17, "interface MAC"), "interface MAC");
  s.name = text(in.getName(), 15, "interface name");
  if (!s.name.empty()) netdev::validateIfName(s.name, "interface name");
  s.mtu = in.getMtu();
  auto addrs = in.getAddresses();
  if (addrs.size() > kMaxAddresses)
    fail(ErrorKind::kInvalidArgument, "interface " + s.mac + ": " + std::to_string(addrs.size()) +
                                          " addresses (at most " + std::to_string(kMaxAddresses) + ")");
  for (auto a : addrs) {
    std::string t = text(a.getAddress(), 64, "address");
    netdev::IpAddress ip = netdev::parseCidr(t, "address of interface " + s.mac);
    unsigned max = ip.family == AF_INET6 ? 128 : 32;
    if (a.getPrefixLength() > max)
      fail(ErrorKind::kInvalidArgument, "address " + t + ": prefix length " + std::to_string(a.getPrefixLength()) +
                                            " is out of range 0-" + std::to_string(max));
    ip.prefixLength = a.getPrefixLength();
    s.addresses.push_back(ip);
  }
  return s;
}

netdev::Route decodeRoute(ipc::agent::Route::Reader in) {
  return checkedRoute(text(in.getDestination(), 64, "route destination"), text(in.getGateway(), 64, "route gateway"),
                      text(in.getDevice(), 15, "route device"), text(in.getSource(), 64, "route source"),
                      in.getFamily(), in.getMetric());
}

void encodeInterface(const netdev::Interface& i, ipc::agent::NetInterface::Builder out) {
  out.setName(i.link.name);
  out.setMac(i.link.mac);
  out.setMtu(i.link.mtu);
  out.setUp(i.link.up());
  auto addrs = out.initAddresses(static_cast<unsigned>(i.addresses.size()));
  for (unsigned k = 0; k < addrs.size(); ++k) {
    addrs[k].setAddress(i.addresses[k].address);
    addrs[k].setPrefixLength(i.addresses[k].prefixLength);
  }
}

void encodeRoute(const netdev::Route& r, ipc::agent::Route::Builder out) {
  out.setDestination(r.destination);
  out.setGateway(r.gateway);
  out.setDevice(r.device);
  out.setSource(r.source);
  out.setFamily(r.family == AF_INET6 ? 6 : 4);
  out.setMetric(r.metric);
}

kj::Promise<void> serveUpdateInterface(GuestNetwork& net, kj::Timer& timer, capnp::CallContext<ipc::agent::Agent::UpdateInterfaceParams, ipc::agent::Agent::UpdateInterfaceResults> ctx) {
  return rpcGuard("Agent.updateInterface", [&]() -> kj::Promise<void> {
    auto params = ctx.getParams();
    InterfaceSpec spec = decodeInterface(params.getInterface());
    uint32_t waitMs = std::min(params.getTimeoutMs(), kMaxNicWaitMs);
    // The precise clock, not the timer's (the time of the last loop turn): the wait is at least what
    // was asked for.
    kj::TimePoint deadline = kj::systemPreciseMonotonicClock().now() + waitMs * kj::MILLISECONDS;
    return configureWhenPresent(net, timer, std::move(spec), deadline, waitMs)
        .then([ctx](netdev::Interface i) mutable { encodeInterface(i, ctx.getResults().initInterface()); });
  });
}

kj::Promise<void> serveRemoveInterface(GuestNetwork& net, capnp::CallContext<ipc::agent::Agent::RemoveInterfaceParams, ipc::agent::Agent::RemoveInterfaceResults> ctx) {
  return rpcGuard("Agent.removeInterface", [&]() -> kj::Promise<void> {
    net.removeInterface(text(ctx.getParams().getMac(), 17, "interface MAC"));
    return kj::READY_NOW;
  });
}

kj::Promise<void> serveListInterfaces(GuestNetwork& net, capnp::CallContext<ipc::agent::Agent::ListInterfacesParams, ipc::agent::Agent::ListInterfacesResults> ctx) {
  return rpcGuard("Agent.listInterfaces", [&]() -> kj::Promise<void> {
    auto all = net.listInterfaces();
    auto list = ctx.getResults().initInterfaces(static_cast<unsigned>(all.size()));
    for (unsigned k = 0; k < list.size(); ++k) encodeInterface(all[k], list[k]);
    return kj::READY_NOW;
  });
}

kj::Promise<void> serveUpdateRoutes(GuestNetwork& net, capnp::CallContext<ipc::agent::Agent::UpdateRoutesParams, ipc::agent::Agent::UpdateRoutesResults> ctx) {
  return rpcGuard("Agent.updateRoutes", [&]() -> kj::Promise<void> {
    auto in = ctx.getParams().getRoutes();
    if (in.size() > kMaxRoutes)
      fail(ErrorKind::kInvalidArgument, std::to_string(in.size()) + " routes (at most " + std::to_string(kMaxRoutes) + ")");
    std::vector<netdev::Route> routes;
    for (auto r : in) routes.push_back(decodeRoute(r));
    auto table = net.updateRoutes(routes);
    auto out = ctx.getResults().initRoutes(static_cast<unsigned>(table.size()));
    for (unsigned k = 0; k < out.size(); ++k) encodeRoute(table[k], out[k]);
    return kj::READY_NOW;
  });
}

kj::Promise<void> serveListRoutes(GuestNetwork& net, capnp::CallContext<ipc::agent::Agent::ListRoutesParams, ipc::agent::Agent::ListRoutesResults> ctx) {
  return rpcGuard("Agent.listRoutes", [&]() -> kj::Promise<void> {
    auto table = net.listRoutes();
    auto out = ctx.getResults().initRoutes(static_cast<unsigned>(table.size()));
    for (unsigned k = 0; k < out.size(); ++k) encodeRoute(table[k], out[k]);
    return kj::READY_NOW;
  });
}

}  // namespace kata::agent
