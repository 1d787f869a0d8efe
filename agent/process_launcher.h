// The last steps inside a new container process, behind an interface so the container manager does
// not depend on how far the OCI set-up pipeline (agent/container/process_init.h) has come.
//
// Both functions run in a freshly cloned child of the agent (no other thread, async-signal-unsafe
// calls are tolerated because the agent is single-threaded by the time containers exist) and throw
// kata::Error on failure; the manager reports the message to the host and _exits the child.
#pragma once

#include <memory>
#include <string>

#include "agent/container/process_init.h"
#include "runtime/oci/spec.h"

namespace kata::agent {

class ProcessLauncher {
 public:
  virtual ~ProcessLauncher() = default;
  // In the container's init process, already in its new mount namespace: make `rootfs` its root.
  // cgroupPath is the container's cgroup directory in the guest ("" without one): what a cgroup2
  // mount binds when a fresh one is not permitted.
  virtual void prepareRootfs(const oci::Spec& spec, const std::string& rootfs, const std::string& cgroupPath) = 0;
  // Applies the process's OCI settings and execs it. Never returns.
  [[noreturn]] virtual void exec(const ProcessSetup& setup) = 0;
};

// The launcher kata-agent uses (agent/process_launcher.cc).
std::unique_ptr<ProcessLauncher> makeProcessLauncher();

}  // namespace kata::agent
