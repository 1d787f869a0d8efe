// One Cap'n Proto two-party RPC session of the agent over a stream (the virtio-serial port or an
// accepted vsock connection), read with the agent's message limits (agent/request_decode.h).
#pragma once

#include <capnp/rpc-twoparty.h>
#include <kj/async-io.h>

#include "agent/request_decode.h"

namespace kata::agent {

// Members are destroyed in reverse order: RPC system, then network, then stream.
struct RpcSession {
  RpcSession(kj::Own<kj::AsyncIoStream> s, capnp::Capability::Client bootstrap)
      : stream(kj::mv(s)),
        network(*stream, capnp::rpc::twoparty::Side::SERVER, agentReaderOptions()),
        rpc(capnp::makeRpcServer(network, kj::mv(bootstrap))) {}
  kj::Own<kj::AsyncIoStream> stream;
  capnp::TwoPartyVatNetwork network;
  capnp::RpcSystem<capnp::rpc::twoparty::VatId> rpc;
};

}  // namespace kata::agent
