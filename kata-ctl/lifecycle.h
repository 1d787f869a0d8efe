// The steps create, run and exec share: making a container (its state, its sandbox, the container in
// the guest, its shim), the shim's start-up handshake, the pid file, and the rollback that leaves
// nothing behind when any step fails.
#pragma once

#include <sys/types.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/log.h"
#include "kata-ctl/bundle.h"
#include "kata-ctl/terminal.h"
#include "runtime/sandbox/sandbox.h"
#include "runtime/state/container_state.h"

namespace kata::ctl {

class Context;

// Undo steps, run newest first unless commit() was called. A failing step is logged; the rest run.
class Rollback {
 public:
  explicit Rollback(Logger log) : log_(std::move(log)) {}
  ~Rollback();
  Rollback(const Rollback&) = delete;
  Rollback& operator=(const Rollback&) = delete;
  void add(std::string what, std::function<void()> undo) { steps_.emplace_back(std::move(what), std::move(undo)); }
  void commit() { steps_.clear(); }

 private:
  Logger log_;
  std::vector<std::pair<std::string, std::function<void()>>> steps_;
};

// What the shim tells kata-ctl once its process exists in the guest (or why it could not).
struct ShimReport {
  pid_t pid = 0;       // the shim
  int guestPid = 0;
};

struct ShimRequest {
  std::string containerId;
  std::string sandboxId;
  std::string execId;              // "" for the container's init
  int consoleFd = -1;              // the host pty slave, when the process has a terminal
  nlohmann::json process;          // for an exec: the OCI process
};

// Where a shim logs when kata-ctl was given no --log: the sandbox's run directory.
std::string shimLogPath(Context& ctx, const std::string& sandboxId, const std::string& containerId);

// Starts a detached shim (stdio inherited from this process unless consoleFd is given) and waits for
// its report; throws the shim's own error when it failed.
ShimReport startShim(Context& ctx, const ShimRequest& request);

// Writes the pid file the way runc does: decimal, no newline, atomically (temp file + rename), last.
void writePidFile(const std::string& path, pid_t pid);

// How the container's process is stood for on the host.
enum class Standin {
  kShim,       // a detached shim process (create, run -d)
  kThisProcess  // kata-ctl itself relays (run in the foreground)
};

struct CreatedContainer {
  state::ContainerState state;
  std::unique_ptr<sandbox::Sandbox> sandbox;
  std::unique_ptr<Rollback> rollback;  // commit() once the caller is done
  std::unique_ptr<RawMode> rawMode;         // the foreground terminal, restored when done
  int ttyFd = -1;                      // kThisProcess with a terminal: the terminal to follow
};

// runc create (and the first half of run): the bundle's checks, the container's state, its sandbox
// (a new VM, or the pod's existing one), the container in the guest, its shim (or this process), the
// prestart/createRuntime/createContainer hooks, and the pid file. The container is left "created".
CreatedContainer createContainer(Context& ctx, const std::string& id, const CreateFlags& flags, bool detach,
                                 Standin standin);

// runc start: startContainer hooks (on the host), the process starts, the state says running,
// poststart hooks (a failure is a warning, as the runtime spec says).
void startContainer(Context& ctx, sandbox::Sandbox& sandbox, state::ContainerState& state);

// Removes a container: from the guest (forcibly when `force`), its state, its sandbox when it was the
// last container in it, then its poststop hooks.
void removeContainer(Context& ctx, const state::ContainerState& state, bool force);

}  // namespace kata::ctl
