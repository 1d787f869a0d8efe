#include "kata-ctl/sandboxes.h"

#include "common/error.h"
#include "common/sha256.h"
#include "kata-ctl/context.h"
#include "runtime/sandbox/spawn.h"
#include "security/validate.h"

namespace kata::ctl {
namespace {

std::string annotation(const std::map<std::string, std::string>& a, const char* key) {
  auto it = a.find(key);
  return it == a.end() ? std::string() : it->second;
}

}  // namespace

std::string sandboxIdFor(const std::string& id) {
  try {
    security::validateSandboxId(id);
    return id;
  } catch (const Error&) {
    return "sb-" + sha256Hex(id).substr(0, 32);
  }
}

Membership sandboxMembership(const std::string& containerId, const std::map<std::string, std::string>& a) {
  for (auto [typeKey, idKey] : {std::pair{"io.kubernetes.cri.container-type", "io.kubernetes.cri.sandbox-id"},
                                std::pair{"io.kubernetes.cri-o.ContainerType", "io.kubernetes.cri-o.SandboxID"}}) {
    std::string type = annotation(a, typeKey);
    if (type != "container") continue;
    std::string sandbox = annotation(a, idKey);
    if (sandbox.empty())
      fail(ErrorKind::kInvalidArgument, std::string("annotation ") + typeKey + " says \"container\" but " + idKey +
                                            " names no sandbox");
    if (sandbox == containerId)
      fail(ErrorKind::kInvalidArgument, std::string("annotation ") + idKey + " names the container itself");
    return Membership{sandboxIdFor(sandbox), false};
  }
  return Membership{sandboxIdFor(containerId), true};
}

sandbox::SandboxConfig sandboxConfigFor(Context& ctx, const std::string& sandboxId, const oci::Spec& spec) {
  const auto& cfg = ctx.config();
  sandbox::SandboxConfig c;
  c.id = sandboxId;
  c.vcpus = static_cast<uint32_t>(cfg.hypervisor.defaultVcpus);
  c.memoryMiB = static_cast<uint64_t>(cfg.hypervisor.defaultMemoryMib);
  c.accel = config::accelName(cfg.hypervisor.accel);
  c.guestImageDir = cfg.hypervisor.guestImage;
  c.kernelParams = cfg.hypervisor.kernelParams;
  c.sharedFs = config::sharedFsName(cfg.hypervisor.sharedFs);
  c.hostname = spec.hostname.value_or("");
  c.agentTimeout = std::chrono::milliseconds(cfg.agent.dialTimeoutMs);
  // The pod's network is the namespace the sandbox container's spec names (set up by the engine or
  // CNI); a new, empty namespace (no path) or none at all leaves the guest with loopback only.
  if (const oci::Namespace* ns = spec.findNamespace("network"); ns && ns->path && !ns->path->empty()) {
    c.netnsPath = *ns->path;
    c.networkModel = config::networkModelName(cfg.network.model);
    c.netQueues = static_cast<uint32_t>(cfg.network.queues);
  }
  // The monitor is this binary again; its log sits in the sandbox's run directory.
  const std::string runDir = ctx.sandboxEnv().runRoot + "/" + sandboxId;
  c.monitor = sandbox::MonitorCommand{{sandbox::selfExe(), "--root", ctx.root(), "--log", runDir + "/monitor.log",
                                       "--log-format", "json", "__monitor"}};
  if (ctx.options().debug) c.monitor->argv.insert(c.monitor->argv.begin() + 1, "--debug");
  return c;
}

std::unique_ptr<sandbox::Sandbox> openSandbox(Context& ctx, const state::ContainerState& s) {
  if (s.sandboxId.empty())
    fail(ErrorKind::kFailedPrecondition, "container " + s.id + " has no sandbox (its create did not finish)");
  try {
    return sandbox::Sandbox::open(ctx.sandboxEnv(), s.sandboxId);
  } catch (const Error& e) {
    if (e.kind() != ErrorKind::kNotFound) throw;
    fail(ErrorKind::kFailedPrecondition, "container " + s.id + ": its sandbox " + s.sandboxId + " no longer exists");
  }
}

void deleteSandboxIfUnused(Context& ctx, const std::string& sandboxId) {
  auto& env = ctx.sandboxEnv();
  if (!sandbox::Sandbox::exists(env, sandboxId)) return;
  auto sb = sandbox::Sandbox::open(env, sandboxId);
  sb->deleteIfUnused();
}

}  // namespace kata::ctl
