// One Cap'n Proto connection to a guest agent: directly over the agent channel kata-vmmd handed out,
// or through a sandbox monitor, which forwards the agent's bootstrap capability unchanged. Either
// way the holder sees ipc/agent.capnp's `Agent`.
//
// Everything that arrives here is guest data: the RPC layer bounds message sizes and nesting, and
// callers validate what they use.
#pragma once

#include <capnp/rpc-twoparty.h>
#include <kj/async-io.h>

#include "common/fd.h"
#include "ipc/agent.capnp.h"
#include "runtime/sandbox/event_loop.h"

namespace kata::sandbox {

class AgentLink {
 public:
  // Takes a connected stream socket.
  AgentLink(EventLoop& loop, UniqueFd connected);
  AgentLink(const AgentLink&) = delete;
  AgentLink& operator=(const AgentLink&) = delete;

  ipc::agent::Agent::Client agent() { return agent_; }
  // Resolves when the connection ends (the VM stopped, or the monitor went away).
  kj::Promise<void> onDisconnect() { return client_.onDisconnect(); }

 private:
  kj::Own<kj::AsyncIoStream> stream_;
  capnp::TwoPartyClient client_;
  ipc::agent::Agent::Client agent_;
};

}  // namespace kata::sandbox
