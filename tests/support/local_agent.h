// The agent's RPC server in the test process, called through an in-process capability (no channel):
// for tests of one Agent interface (network, ...) against the real kernel without booting a guest.
#pragma once

#include <kj/async-io.h>

#include <memory>
#include <optional>

#include "agent/agent_server.h"
#include "agent/container_manager.h"
#include "agent/network.h"
#include "agent/network_rpc.h"
#include "agent/reaper.h"

namespace kata::test {

class LocalAgent {
 public:
  // network: the GuestNetwork the server configures (null: an agent without one).
  explicit LocalAgent(std::optional<netdev::Rtnl> network);
  ~LocalAgent() noexcept;

  ipc::agent::Agent::Client& agent() { return agent_; }
  kj::AsyncIoContext& io() { return io_; }
  template <typename T>
  T wait(kj::Promise<T>&& p) {
    return io_.provider->getTimer().timeoutAfter(60 * kj::SECONDS, kj::mv(p)).wait(io_.waitScope);
  }

 private:
  class Host;
  bool captured_;
  kj::AsyncIoContext io_;
  agent::ConsoleLog log_{-1};
  agent::AgentBootInfo boot_;
  std::unique_ptr<Host> host_;
  agent::Reaper reaper_;
  std::unique_ptr<agent::ContainerManager> containers_;
  std::optional<agent::GuestNetwork> net_;
  std::optional<agent::NetworkService> service_;
  ipc::agent::Agent::Client agent_ = nullptr;
};

}  // namespace kata::test
