// The Agent's network calls (ipc/agent.capnp, protocol 3) on top of GuestNetwork: decoding and
// bounding what the host sends, waiting for a hot-plugged NIC, encoding answers. AgentServer's
// handlers are one line each into here.
#pragma once

#include <capnp/capability.h>
#include <kj/async.h>
#include <kj/timer.h>

#include "agent/network.h"
#include "ipc/agent.capnp.h"

namespace kata::agent {

// How often updateInterface looks for a NIC that has not appeared yet.
inline constexpr auto kNicPollInterval = 50 * kj::MILLISECONDS;
// The longest wait a host may ask for.
inline constexpr uint32_t kMaxNicWaitMs = 120000;


// What the network calls need; owned by main().
struct NetworkService {
  GuestNetwork& net;
  kj::Timer& timer;
};

kj::Promise<void> serveUpdateInterface(GuestNetwork& net, kj::Timer& timer, capnp::CallContext<ipc::agent::Agent::UpdateInterfaceParams, ipc::agent::Agent::UpdateInterfaceResults> ctx);
kj::Promise<void> serveRemoveInterface(GuestNetwork& net, capnp::CallContext<ipc::agent::Agent::RemoveInterfaceParams, ipc::agent::Agent::RemoveInterfaceResults> ctx);
kj::Promise<void> serveListInterfaces(GuestNetwork& net, capnp::CallContext<ipc::agent::Agent::ListInterfacesParams, ipc::agent::Agent::ListInterfacesResults> ctx);
kj::Promise<void> serveUpdateRoutes(GuestNetwork& net, capnp::CallContext<ipc::agent::Agent::UpdateRoutesParams, ipc::agent::Agent::UpdateRoutesResults> ctx);
kj::Promise<void> serveListRoutes(GuestNetwork& net, capnp::CallContext<ipc::agent::Agent::ListRoutesParams, ipc::agent::Agent::ListRoutesResults> ctx);

// Decoding, exposed for the unit tests (hostile sizes and texts are refused with kInvalidArgument).
InterfaceSpec decodeInterface(ipc::agent::NetInterface::Reader in);
netdev::Route decodeRoute(ipc::agent::Route::Reader in);
void encodeInterface(const netdev::Interface& i, ipc::agent::NetInterface::Builder out);
void encodeRoute(const netdev::Route& r, ipc::agent::Route::Builder out);

}  // namespace kata::agent
