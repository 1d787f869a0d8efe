// How kata-ctl maps containers onto sandboxes (pods, one VM each).
//
// A container starts its own sandbox unless its annotations put it into an existing one, as CRI
// runtimes mark the containers of a pod:
//   io.kubernetes.cri.container-type = "container" + io.kubernetes.cri.sandbox-id = <id>  (containerd)
//   io.kubernetes.cri-o.ContainerType = "container" + io.kubernetes.cri-o.SandboxID = <id>  (CRI-O)
// The sandbox's id is the sandbox container's id when kata-vmmd's id rule allows it (at most 64
// characters of [A-Za-z0-9_.-]), else a stable digest of it ("sb-<32 hex>").
#pragma once

#include <map>
#include <memory>
#include <string>

#include "runtime/oci/spec.h"
#include "runtime/sandbox/sandbox.h"
#include "runtime/state/container_state.h"

namespace kata::ctl {

class Context;

struct Membership {
  std::string sandboxId;
  bool ownSandbox = true;  // the container starts the sandbox (it is the sandbox container)
};

Membership sandboxMembership(const std::string& containerId, const std::map<std::string, std::string>& annotations);
std::string sandboxIdFor(const std::string& sandboxContainerId);

// The sandbox a new container starts, from the configuration and its spec.
sandbox::SandboxConfig sandboxConfigFor(Context& ctx, const std::string& sandboxId, const oci::Spec& spec);

// The sandbox of a stored container. kFailedPrecondition naming the container when it is gone.
std::unique_ptr<sandbox::Sandbox> openSandbox(Context& ctx, const state::ContainerState& container);

// Removes the sandbox when no container uses it any more (its VM, monitor and records).
void deleteSandboxIfUnused(Context& ctx, const std::string& sandboxId);

}  // namespace kata::ctl
