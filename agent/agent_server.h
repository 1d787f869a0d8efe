// The agent's implementation of ipc/agent.capnp's `Agent` bootstrap interface.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "agent/container_manager.h"
#include "agent/identity.h"
#include "agent/modules.h"
#include "agent/network_rpc.h"
#include "ipc/agent.capnp.h"

namespace kata::agent {

// What the server needs from the rest of the agent. Owned by main(); outlives every connection.
class AgentHost {
 public:
  virtual ~AgentHost() = default;
  // Power the VM off soon, after the current reply has gone out. Must return at once.
  virtual void requestPowerOff() = 0;
};

// Facts fixed at boot, shared by every connection's server.
struct AgentBootInfo {
  AgentIdentity identity;
  LoadedModules modules;
  uint64_t startNs = 0;  // CLOCK_BOOTTIME at main()
  uint64_t readyNs = 0;  // CLOCK_BOOTTIME when the channel was first served
  std::string procRoot = "/proc";
};

// Largest ping payload the agent echoes; a bigger one is refused (the host's probe is tiny).
inline constexpr size_t kMaxPingPayload = 64 * 1024;

// One instance per host connection (the RPC system owns it); state that must survive a reconnection
// lives in AgentBootInfo and behind AgentHost.
// Generated Server classes trip -Wnon-virtual-dtor through capnp's virtual bases; they are only ever
// destroyed through kj::Own, which knows the dynamic type.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wnon-virtual-dtor"
class AgentServer final : public ipc::agent::Agent::Server {
 public:
  // network: the guest's network configuration (protocol 3); null where the agent runs without one
  // (its network calls then fail saying so).
  AgentServer(const AgentBootInfo& boot, AgentHost& host, ContainerManager& containers,
              NetworkService* network = nullptr)
      : boot_(boot), host_(host), containers_(containers), network_(network) {}

  kj::Promise<void> ping(PingContext context) override;
  kj::Promise<void> version(VersionContext context) override;
  kj::Promise<void> guestInfo(GuestInfoContext context) override;
  kj::Promise<void> shutdown(ShutdownContext context) override;

  kj::Promise<void> createSandbox(CreateSandboxContext context) override;
  kj::Promise<void> destroySandbox(DestroySandboxContext context) override;
  kj::Promise<void> createContainer(CreateContainerContext context) override;
  kj::Promise<void> container(ContainerContext context) override;
  kj::Promise<void> listContainers(ListContainersContext context) override;

  kj::Promise<void> waitBlockDevice(WaitBlockDeviceContext context) override;
  kj::Promise<void> metrics(MetricsContext context) override;

  kj::Promise<void> updateInterface(UpdateInterfaceContext context) override;
  kj::Promise<void> removeInterface(RemoveInterfaceContext context) override;
  kj::Promise<void> listInterfaces(ListInterfacesContext context) override;
  kj::Promise<void> updateRoutes(UpdateRoutesContext context) override;
  kj::Promise<void> listRoutes(ListRoutesContext context) override;

 private:
  const AgentBootInfo& boot_;
  AgentHost& host_;
  ContainerManager& containers_;
  NetworkService* network_;
  NetworkService& network(const char* method);
};
#pragma GCC diagnostic pop

}  // namespace kata::agent
