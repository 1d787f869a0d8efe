#include "agent/agent_server.h"

#include <kj/debug.h>

#include <exception>

#include "agent/guest_stats.h"

namespace kata::agent {
namespace {

// Every declared-but-not-yet-served method fails the same recognizable way, so hosts can tell a
// missing feature from a failure (kj::Exception::Type::UNIMPLEMENTED crosses the wire as such).
kj::Promise<void> notImplemented(const char* method) {
  return KJ_EXCEPTION(UNIMPLEMENTED, kj::str("Agent.", method,
                                             ": not implemented yet by this kata-agent (protocol version ",
                                             ipc::agent::PROTOCOL_VERSION, ")"));
}

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

kj::Promise<void> AgentServer::createSandbox(CreateSandboxContext) { return notImplemented("createSandbox"); }
kj::Promise<void> AgentServer::destroySandbox(DestroySandboxContext) { return notImplemented("destroySandbox"); }
kj::Promise<void> AgentServer::createContainer(CreateContainerContext) { return notImplemented("createContainer"); }
kj::Promise<void> AgentServer::container(ContainerContext) { return notImplemented("container"); }
kj::Promise<void> AgentServer::listContainers(ListContainersContext) { return notImplemented("listContainers"); }

}  // namespace kata::agent
