// A host-side Cap'n Proto connection to the agent through QEMU's virtio-serial chardev socket, for
// functional tests and benchmarks (the product's client lives in runtime/).
#pragma once

#include <capnp/rpc-twoparty.h>
#include <kj/async-io.h>

#include <chrono>
#include <memory>
#include <string>

#include "common/fd.h"
#include "ipc/agent.capnp.h"

namespace kata::test {

class AgentConnection {
 public:
  // Connects to the unix socket at `path`, retrying while QEMU has not created it yet (up to
  // `timeout`). Connecting succeeds before the guest has booted: QEMU holds what we send until the
  // agent opens its port, so the first call's reply marks "agent ready".
  AgentConnection(kj::AsyncIoContext& io, const std::string& path, std::chrono::milliseconds timeout);
  // Talks through a connected stream socket someone else opened (kata-vmmd's agentChannel fd);
  // takes ownership of it.
  AgentConnection(kj::AsyncIoContext& io, UniqueFd connected);

  ipc::agent::Agent::Client agent() { return agent_; }
  // Writes raw bytes on the connection, bypassing RPC (to check the agent survives garbage).
  void writeRaw(const void* data, size_t size);

 private:
  kj::Own<kj::AsyncIoStream> stream_;
  capnp::TwoPartyClient client_;
  ipc::agent::Agent::Client agent_;
};

// How long a client waits after closing a connection before opening the next. virtio-serial carries
// the host's hang-up on a control queue that is not ordered with the data queue, so a client that
// reconnects at once can have its first bytes read by the agent's previous session, or see that
// session end under it when the late hang-up notice arrives. A quiet period lets the agent see the
// hang-up first. (An in-band session handshake would remove the rule; see docs/guest.md.)
inline constexpr std::chrono::milliseconds kReconnectQuietPeriod{500};

// Connects and proves the agent answers on this connection, retrying with a fresh connection until
// `overall` runs out. Needed after a previous client disconnected: virtio-serial has no session
// boundary, so bytes a client sends right after connecting may still reach the agent's previous
// session (which then fails and restarts) and get no reply; each attempt waits `attempt` for a ping.
std::unique_ptr<AgentConnection> connectAgentWithRetry(kj::AsyncIoContext& io, const std::string& path,
                                                       std::chrono::milliseconds attempt,
                                                       std::chrono::milliseconds overall);

}  // namespace kata::test
