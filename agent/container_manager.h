// The guest side of a pod: the sandbox (hostname, resolv.conf, shared-directory mounts) and its
// containers and their processes. Owned by main(), so containers outlive host connections; the RPC
// servers (agent/container_rpc.h) address containers and processes by id through it.
//
// Process model (see docs/guest.md, "Containers and processes"):
//   - a container's init is cloned with the spec's namespaces (mount, pid, uts, ipc, user, cgroup;
//     never network), gets its uid/gid maps from the agent, prepares its root file system, reports
//     "ready" over a sync pipe and blocks until start() writes to its control pipe;
//   - an exec'd process is forked, joins the init's namespaces with setns, forks again (to enter the
//     pid namespace) and the intermediate exits, so the process becomes the agent's (PID 1's) child;
//   - set-up errors travel back over the sync pipe (close-on-exec: end of file means the exec worked);
//   - every process is reaped through the Reaper; its output is pumped into the host's ByteStreams,
//     one write in flight per stream, and drained (discarded) once the host is gone, so a process
//     never blocks on a full pipe because the host disconnected.
#pragma once

#include <sys/types.h>

#include <capnp/capability.h>
#include <kj/async-io.h>
#include <kj/timer.h>

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "agent/console_log.h"
#include "agent/container/cgroup.h"
#include "agent/modules.h"
#include "agent/proc_table.h"
#include "agent/process_launcher.h"
#include "agent/request_decode.h"
#include "agent/reaper.h"
#include "common/fd.h"
#include "ipc/agent.capnp.h"
#include "runtime/oci/spec.h"

namespace kata::agent {

// Bounds on what the host sends.
inline constexpr size_t kMaxIdBytes = 128;
inline constexpr size_t kMaxProcessJsonBytes = 1 << 20;
inline constexpr size_t kMaxResourcesJsonBytes = 64 * 1024;
inline constexpr size_t kMaxHostnameBytes = 64;
inline constexpr size_t kMaxDnsServers = 8;
inline constexpr size_t kMaxShares = 32;
inline constexpr size_t kMaxContainers = 256;
inline constexpr size_t kMaxProcessesPerContainer = 1024;
inline constexpr size_t kMaxStreamWriteBytes = 1 << 20;

// runc's container id rule: [A-Za-z0-9][A-Za-z0-9_.-]*, at most kMaxIdBytes. Also used for exec ids
// and mount tags. Throws kata::Error(kInvalidArgument) naming `what`.
void validateId(const std::string& id, const char* what);

// The shell's view of a wait status: the exit code, or 128 + the signal number.
int shellExitCode(int waitStatus);

struct StdioStreams {
  kj::Maybe<ipc::agent::ByteStream::Client> stdout;
  kj::Maybe<ipc::agent::ByteStream::Client> stderr;
};

enum class ContainerStatus { kCreated, kRunning, kPaused, kStopped };

class ManagedProcess;
class Container;

struct ManagerPaths {
  std::string sharedDir = "/run/kata/shared";
  std::string resolvConf = "/etc/resolv.conf";
  std::string procRoot = "/proc";
  std::string cgroupRoot = "/sys/fs/cgroup";
  std::string cgroupParent = "kata";  // each container's cgroup is <cgroupRoot>/<cgroupParent>/<id>
  std::string sysRoot = "/sys";         // block devices: <sysRoot>/block/*/serial
  std::string devRoot = "/dev";         // their nodes
};

class ContainerManager {
 public:
  ContainerManager(kj::LowLevelAsyncIoProvider& io, kj::Timer& timer, Reaper& reaper, const LoadedModules& modules,
                   std::unique_ptr<ProcessLauncher> launcher, const ConsoleLog& log, ManagerPaths paths = {});
  ~ContainerManager() noexcept;
  KJ_DISALLOW_COPY(ContainerManager);

  kj::Promise<void> createSandbox(SandboxSettings settings);
  kj::Promise<void> destroySandbox();

  // Returns once the init process waits at the start barrier (or fails with the set-up error).
  kj::Promise<void> createContainer(ContainerRequest request, StdioStreams stdio);
  kj::Promise<void> start(const std::string& id);
  // Returns once the process has exec'd (or fails with the set-up error).
  kj::Promise<void> exec(const std::string& id, ExecRequest request, StdioStreams stdio);
  void signal(const std::string& id, int sig, bool all);
  std::vector<pid_t> ps(const std::string& id);
  // What ps -ef shows of each of ps(id), read from procRoot (processes that exit meanwhile are left out).
  std::vector<ProcessEntry> processList(const std::string& id);
  kj::Promise<void> remove(const std::string& id, bool force);
  ContainerStatus status(const std::string& id);
  // Delegated to the container's cgroup (agent/container/cgroup.h).
  CgroupStats stats(const std::string& id);
  void pause(const std::string& id);
  void resume(const std::string& id);
  void update(const std::string& id, const oci::Resources& resources);
  // Resolves with the OOM-kill count once it exceeds `seen`, or when the container stops.
  kj::Promise<uint64_t> nextOomEvent(const std::string& id, uint64_t seen);
  pid_t initPid(const std::string& id);
  std::vector<std::string> list() const;
  void requireContainer(const std::string& id) const;
  // "no sandbox exists; call createSandbox first" unless one does.
  void requireSandbox() const;

  // Devices (not tied to a container): resolves with "/dev/<name>" once a disk whose
  // <sysRoot>/block/<name>/serial is `serial` exists and its node is there; fails after timeoutMs.
  kj::Promise<kj::String> waitBlockDevice(const std::string& serial, uint32_t timeoutMs);

  // Processes; execId "" is the container's init.
  ManagedProcess& process(const std::string& id, const std::string& execId);
  pid_t processPid(const std::string& id, const std::string& execId);
  kj::Promise<int> waitProcess(const std::string& id, const std::string& execId);  // wait status
  void signalProcess(const std::string& id, const std::string& execId, int sig);
  void resizeTty(const std::string& id, const std::string& execId, unsigned rows, unsigned cols);
  kj::Promise<void> writeStdin(const std::string& id, const std::string& execId, kj::Array<kj::byte> data);
  void closeStdin(const std::string& id, const std::string& execId);

 private:
  Container& find(const std::string& id) const;
  kj::Promise<void> waitModules();
  std::unique_ptr<ManagedProcess> startProcess(Container& c, const std::string& execId, const oci::Process& proc,
                                               StdioStreams stdio, bool init, UniqueFd& syncRead);
  void killAll(Container& c, int sig);
  // Kills a process whose set-up failed and resolves once it is reaped and its output drained, then
  // forgets it (the whole container for its init): a failure is answered with nothing of the
  // process left in ps or the container's cgroup.
  kj::Promise<void> discardFailed(const std::string& id, const std::string& execId);
  kj::Promise<kj::String> pollBlockDevice(const std::string& serial, kj::TimePoint deadline, uint32_t timeoutMs);

  kj::LowLevelAsyncIoProvider& io_;
  kj::Timer& timer_;
  Reaper& reaper_;
  const LoadedModules& modules_;
  std::unique_ptr<ProcessLauncher> launcher_;
  const ConsoleLog& log_;
  ManagerPaths paths_;
  std::optional<SandboxSettings> sandbox_;
  std::vector<std::string> mountedShares_;
  std::map<std::string, std::unique_ptr<Container>> containers_;
};

}  // namespace kata::agent
