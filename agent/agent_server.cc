#include "agent/agent_server.h"

#include <unistd.h>

#include <kj/debug.h>

#include <exception>

#include "agent/container_rpc.h"
#include "agent/guest_stats.h"
#include "agent/metrics.h"
#include "agent/request_decode.h"
#include "common/error.h"

namespace kata::agent {
namespace {

// Runs fn, turning a kata::Error or std::exception into a kj exception the caller receives as an
// RPC error, instead of letting it escape into the event loop.
template <typename Fn>
kj::Promise<void> guarded(const char* method, Fn&& fn) {
  try {
    fn();
    return kj::READY_NOW;
  } catch (const kj::Exception&) {
    throw;
  } catch (const std::exception& e) {
    return KJ_EXCEPTION(FAILED, kj::str("Agent.", method, ": ", e.what()));
  }
}

}  // namespace

kj::Promise<void> AgentServer::ping(PingContext context) {
  auto payload = context.getParams().getPayload();
  if (payload.size() > kMaxPingPayload)
    return KJ_EXCEPTION(FAILED, kj::str("Agent.ping: payload of ", payload.size(), " bytes exceeds the limit of ",
                                        kMaxPingPayload, " bytes"));
  context.getResults().setPayload(payload);
  return kj::READY_NOW;
}

kj::Promise<void> AgentServer::version(VersionContext context) {
  return guarded("version", [&] {
    auto v = context.getResults().initVersion();
    const AgentIdentity& id = boot_.identity;
    v.setAgentVersion(id.version);
    v.setAgentCommit(id.commit);
    v.setBuildId(id.buildId);
    v.setKernelRelease(id.kernelRelease);
    v.setProtocolVersion(ipc::agent::PROTOCOL_VERSION);
  });
}

kj::Promise<void> AgentServer::guestInfo(GuestInfoContext context) {
  return guarded("guestInfo", [&] {
    GuestStats s = readGuestStats(boot_.procRoot);
    auto info = context.getResults().initInfo();
    info.setUptimeNs(s.uptimeNs);
    info.setWallClockNs(s.wallClockNs);
    info.setMemTotalBytes(s.mem.totalBytes);
    info.setMemAvailableBytes(s.mem.availableBytes);
    info.setAgentRssBytes(s.agentRssBytes);
    info.setAgentStartNs(boot_.startNs);
    info.setAgentReadyNs(boot_.readyNs);
    info.setOnlineCpus(s.onlineCpus);
    std::vector<std::string> loaded = boot_.modules.names();
    auto mods = info.initLoadedModules(static_cast<unsigned>(loaded.size()));
    for (unsigned i = 0; i < mods.size(); ++i) mods.set(i, loaded[i]);
    info.setModulesLoading(boot_.modules.loading());
  });
}

kj::Promise<void> AgentServer::shutdown(ShutdownContext) {
  host_.requestPowerOff();
  return kj::READY_NOW;
}

kj::Promise<void> AgentServer::createSandbox(CreateSandboxContext context) {
  return rpcGuard("Agent.createSandbox",
                  [&] { return containers_.createSandbox(decodeSandboxConfig(context.getParams().getConfig())); });
}

kj::Promise<void> AgentServer::destroySandbox(DestroySandboxContext) {
  return rpcGuard("Agent.destroySandbox", [&] { return containers_.destroySandbox(); });
}

kj::Promise<void> AgentServer::createContainer(CreateContainerContext context) {
  return rpcGuard("Agent.createContainer", [&] {
    // The host's most likely mistake first, before anything about the request itself.
    containers_.requireSandbox();
    auto params = context.getParams();
    ContainerRequest request = decodeContainerConfig(params.getConfig());
    std::string id = request.id;
    return containers_.createContainer(std::move(request), stdioFrom(params.getStdio()))
        .then([this, context, id]() mutable {
          auto r = context.getResults();
          r.setContainer(makeContainerClient(containers_, id));
          r.setInit(makeProcessClient(containers_, id, ""));
        });
  });
}

kj::Promise<void> AgentServer::container(ContainerContext context) {
  return rpcGuard("Agent.container", [&]() -> kj::Promise<void> {
    std::string id = context.getParams().getId();
    containers_.requireContainer(id);
    context.getResults().setContainer(makeContainerClient(containers_, id));
    return kj::READY_NOW;
  });
}

kj::Promise<void> AgentServer::listContainers(ListContainersContext context) {
  return rpcGuard("Agent.listContainers", [&]() -> kj::Promise<void> {
    auto ids = containers_.list();
    auto list = context.getResults().initIds(static_cast<unsigned>(ids.size()));
    for (unsigned i = 0; i < ids.size(); ++i) list.set(i, ids[i]);
    return kj::READY_NOW;
  });
}

kj::Promise<void> AgentServer::waitBlockDevice(WaitBlockDeviceContext context) {
  return rpcGuard("Agent.waitBlockDevice", [&] {
    auto params = context.getParams();
    std::string serial = decodeBlockSerial(params.getSerial());
    return containers_.waitBlockDevice(serial, params.getTimeoutMs()).then([context](kj::String path) mutable {
      context.getResults().setDevicePath(path);
    });
  });
}

kj::Promise<void> AgentServer::metrics(MetricsContext context) {
  return guarded("metrics", [&] {
    MetricsInput in;
    in.guest = readGuestProcFigures(boot_.procRoot);
    in.agent = readAgentSelfFigures(boot_.procRoot);
    long tck = ::sysconf(_SC_CLK_TCK);
    in.ticksPerSecond = tck > 0 ? static_cast<uint64_t>(tck) : 100;
    long cpus = ::sysconf(_SC_NPROCESSORS_ONLN);
    in.onlineCpus = cpus > 0 ? static_cast<uint32_t>(cpus) : 0;
    in.agentVersion = boot_.identity.version;
    in.agentCommit = boot_.identity.commit;
    in.kernelRelease = boot_.identity.kernelRelease;
    in.protocolVersion = ipc::agent::PROTOCOL_VERSION;
    in.agentStartNs = boot_.startNs;
    in.agentReadyNs = boot_.readyNs;
    in.modulesLoaded = boot_.modules.names().size();
    in.modulesLoading = boot_.modules.loading();
    for (const std::string& id : containers_.list()) {
      ContainerFigures c;
      c.id = id;
      switch (containers_.status(id)) {
        case ContainerStatus::kCreated: c.status = "created"; break;
        case ContainerStatus::kRunning: c.status = "running"; break;
        case ContainerStatus::kPaused: c.status = "paused"; break;
        case ContainerStatus::kStopped: c.status = "stopped"; break;
      }
      c.processes = containers_.ps(id).size();
      try {
        CgroupStats st = containers_.stats(id);
        c.cpuUsageUsec = st.cpuUsageUsec;
        c.memoryUsageBytes = st.memoryUsageBytes;
        c.oomKills = st.oomKills;
      } catch (const Error&) {
        // No cgroup (or it is gone while the container stops): the container's own figures only.
      }
      in.containers.push_back(std::move(c));
    }
    context.getResults().setText(renderMetrics(in));
  });
}

}  // namespace kata::agent

namespace kata::agent {

NetworkService& AgentServer::network(const char* method) {
  if (!network_) fail(ErrorKind::kNotSupported, std::string("this agent serves no network configuration (") + method + ")");
  return *network_;
}

kj::Promise<void> AgentServer::updateInterface(UpdateInterfaceContext context) {
  return rpcGuard("Agent.updateInterface", [&] {
    NetworkService& n = network("Agent.updateInterface");
    return serveUpdateInterface(n.net, n.timer, context);
  });
}

kj::Promise<void> AgentServer::removeInterface(RemoveInterfaceContext context) {
  return rpcGuard("Agent.removeInterface", [&] { return serveRemoveInterface(network("Agent.removeInterface").net, context); });
}

kj::Promise<void> AgentServer::listInterfaces(ListInterfacesContext context) {
  return rpcGuard("Agent.listInterfaces", [&] { return serveListInterfaces(network("Agent.listInterfaces").net, context); });
}

kj::Promise<void> AgentServer::updateRoutes(UpdateRoutesContext context) {
  return rpcGuard("Agent.updateRoutes", [&] { return serveUpdateRoutes(network("Agent.updateRoutes").net, context); });
}

kj::Promise<void> AgentServer::listRoutes(ListRoutesContext context) {
  return rpcGuard("Agent.listRoutes", [&] { return serveListRoutes(network("Agent.listRoutes").net, context); });
}

}  // namespace kata::agent
