// The Sandbox API: the C++ library a CRI shim links to run pods in VMs, and the layer kata-ctl is a
// thin front end over (docs/sandbox-api.md has a shim's example).
//
// A sandbox is one VM (from a VmFactory: kata-vmmd) with one guest agent and the containers of one
// pod. Its records (which VM, where its monitor listens, each container's host-side resources) live
// in a MetadataStore, so that another process — every kata-ctl call is one — can open() the same
// sandbox later. The agent channel is held by a monitor process (SandboxConfig::monitor; kata-ctl's
// mode) or by the creating process itself (a long-lived CRI shim's mode).
//
// Threading: every object of a Sandbox runs on one EventLoop (one thread). Calls are synchronous;
// while a call waits, the loop keeps relaying the stdio of processes this process started.
//
// Errors are kata::Error. Containers are named by the engine's ids; processes by an exec id chosen
// by the caller ("" is a container's init process).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/fd.h"
#include "common/log.h"
#include "runtime/sandbox/agent_link.h"
#include "runtime/sandbox/event_loop.h"
#include "runtime/sandbox/guest_image.h"
#include "runtime/sandbox/stdio_relay.h"
#include "runtime/sandbox/vm_factory.h"
#include "runtime/store/metadata_store.h"

namespace kata::sandbox {

// How to start a sandbox's monitor process: argv (the binary first) to which the library appends
// "--sandbox <id> --run-dir <dir> --agent-fd <n> --ready-fd <n>" (see kata-ctl's "__monitor").
struct MonitorCommand {
  std::vector<std::string> argv;
};

struct SandboxConfig {
  std::string id;                 // [A-Za-z0-9][A-Za-z0-9_.-]{0,63} (kata-vmmd's rule)
  uint32_t vcpus = 1;
  uint64_t memoryMiB = 1024;
  std::string accel;              // "auto" | "kvm" | "tcg"; empty: kata-vmmd's policy
  std::string guestImageDir;      // empty: defaultGuestImageDir()
  std::string kernelParams;
  uint32_t hotplugSlots = 4;
  std::string hostname;           // empty: the sandbox id
  std::vector<std::string> dns;
  std::chrono::milliseconds agentTimeout{60000};
  // The pod's network namespace (a path the caller may open: /run/netns/<name>, /proc/<pid>/ns/net).
  // Each of its interfaces is carried into the VM (docs/networking.md) and configured in the guest
  // as the namespace has it. Empty: the guest has loopback only.
  std::string netnsPath;
  std::string networkModel;       // "tcfilter" | "macvtap"; empty: kata-vmmd's default
  uint32_t netQueues = 0;         // queues per NIC; 0: 1
  bool verifyImageHashes = false; // hash kernel + initramfs against the manifest before launching
  // How container root filesystems and volumes (the VM's share root, tag kataShared) reach the
  // guest: "virtio-9p" (also when empty) or "virtio-fs" (kata-vmmd's policy must name a virtiofsd).
  std::string sharedFs;
  std::optional<MonitorCommand> monitor;  // nullopt: this process holds the agent channel
};

// Where and how the library keeps what outlives a process.
struct SandboxEnv {
  EventLoop& loop;
  VmFactory& factory;
  store::MetadataStore& store;    // keys "<sandbox id>/sandbox.json", "<sandbox id>/containers/<id>.json"
  std::string runRoot;            // per-sandbox run directories (monitor socket, logs): <runRoot>/<id>
  Logger log;
};

enum class ContainerStatus { kCreated, kRunning, kPaused, kStopped };
std::string containerStatusName(ContainerStatus status);

struct ContainerStatusInfo {
  std::string id;
  ContainerStatus status = ContainerStatus::kStopped;
  int guestPid = 0;               // the init process, in the guest's pid namespace
};

struct ContainerStats {
  uint64_t cpuUsageNs = 0;
  uint64_t memoryUsageBytes = 0;
  uint64_t memoryLimitBytes = 0;
  uint32_t pids = 0;
  uint64_t oomKills = 0;
};

struct ProcessInfo {
  int pid = 0;
  int ppid = 0;
  uint32_t uid = 0;
  int64_t startWallNs = 0;
  uint64_t cpuTimeNs = 0;
  std::string tty;
  std::vector<std::string> cmdline;
  std::string comm;
  std::string state;
};

struct ExitStatus {
  int code = 0;                   // exit code, or 128 + signal
  std::optional<int> signal;      // the signal that killed it
};

// The host side of a process's stdio: host descriptors to relay (HostStdio), or, when `pipes` is
// set, pipes the library creates and ioStream() hands out.
struct ProcessIo {
  HostStdio host;
  bool pipes = false;
};

struct ContainerConfig {
  std::string id;
  nlohmann::json spec;            // the bundle's config.json (validated by the caller)
  std::string bundle;             // absolute; a relative root.path is resolved against it
  ProcessIo io;
};

struct SandboxStatusInfo {
  std::string id;
  VmInfo vm;
  std::vector<ContainerStatusInfo> containers;
};

struct SandboxStats {
  VmStats vm;
  std::map<std::string, ContainerStats> containers;
};

// The pipe ends the caller uses for a process started with ProcessIo::pipes.
struct IoStreams {
  UniqueFd stdinWrite;
  UniqueFd stdoutRead;
  UniqueFd stderrRead;
};

class Sandbox {
 public:
  ~Sandbox();
  Sandbox(const Sandbox&) = delete;
  Sandbox& operator=(const Sandbox&) = delete;

  // Opens a sandbox created earlier (by any process of this user): its VM through the factory and
  // its agent through its monitor. kNotFound "sandbox <id> does not exist".
  static std::unique_ptr<Sandbox> open(SandboxEnv& env, const std::string& id);
  // Whether a record exists.
  static bool exists(SandboxEnv& env, const std::string& id);

  const std::string& id() const { return id_; }
  EventLoop& loop() { return env_.loop; }

  // Prepares the guest for the pod (hostname, DNS, the shared file system) once the agent answers,
  // and checks the agent is the one the image's manifest names.
  void start();
  // Stops every container (SIGTERM, then SIGKILL after `grace`, or SIGKILL at once with force) and
  // powers the VM off. The records stay until deleteSandbox().
  void stop(bool force, std::chrono::milliseconds grace = std::chrono::seconds(10));
  // Removes the VM, the monitor, the run directory and every record. Containers still present are
  // removed (forcibly) first. ("delete" is a C++ keyword.)
  void deleteSandbox();
  // deleteSandbox() when no container is recorded any more, atomically with respect to containers
  // joining it (the sandbox lock); returns whether it deleted.
  bool deleteIfUnused();
  // Drops this process's connections; the sandbox runs on.
  void release();
  // Resolves with a reason when the sandbox's agent connection ends (VM gone).
  kj::Promise<std::string> monitor();
  SandboxStatusInfo status();
  SandboxStats stats();
  std::vector<std::string> containerIds();

  // --- containers
  // Shares the container's root file system and the sources of its bind mounts into the guest,
  // creates it there (its init waits for startContainer) and records it. Rolls back on failure.
  ContainerStatusInfo createContainer(const ContainerConfig& config);
  // Removes a stopped container (force: also a running one, killed first) and its shares.
  void deleteContainer(const std::string& id, bool force = false);
  void startContainer(const std::string& id);
  // SIGTERM, then SIGKILL after grace (at once with force); returns once the init has exited.
  void stopContainer(const std::string& id, bool force, std::chrono::milliseconds grace = std::chrono::seconds(10));
  void killContainer(const std::string& id, int signal, bool all);
  // Runs another process (an OCI "process" object) in the container; returns execId.
  std::string enterContainer(const std::string& id, const std::string& execId, const nlohmann::json& process,
                             const ProcessIo& io);
  void pauseContainer(const std::string& id);
  void resumeContainer(const std::string& id);
  std::vector<ProcessInfo> processListContainer(const std::string& id);
  std::vector<int> pidsContainer(const std::string& id);
  ContainerStats statsContainer(const std::string& id);
  ContainerStatusInfo statusContainer(const std::string& id);
  // New linux.resources (OCI JSON object) for the container's cgroup in the guest.
  void updateContainer(const std::string& id, const nlohmann::json& resources);

  // --- processes ("" = the container's init)
  // Waits (without a deadline) for the process to exit and its output to be delivered; relays keep
  // running meanwhile. The async form lets a caller wait together with other events (signals).
  ExitStatus waitProcess(const std::string& containerId, const std::string& execId);
  kj::Promise<ExitStatus> waitProcessAsync(const std::string& containerId, const std::string& execId);
  void signalProcess(const std::string& containerId, const std::string& execId, int signal);
  void winsizeProcess(const std::string& containerId, const std::string& execId, unsigned rows, unsigned cols);
  // The same without waiting for the answer (failures are logged): for event callbacks, which must
  // not wait on the loop.
  void signalProcessAsync(const std::string& containerId, const std::string& execId, int signal);
  void winsizeProcessAsync(const std::string& containerId, const std::string& execId, unsigned rows, unsigned cols);
  // The pipe ends of a process started with ProcessIo::pipes by this object (once).
  IoStreams ioStream(const std::string& containerId, const std::string& execId);
  // Closes the process's stdin.
  void closeStdin(const std::string& containerId, const std::string& execId);

  // --- events and metrics
  // Blocks until a container of the sandbox is OOM-killed; returns its id.
  std::string getOOMEvent();
  // The next OOM-kill count of one container above `seen` (or the final count once it stopped).
  uint64_t nextOomCount(const std::string& id, uint64_t seen);
  kj::Promise<uint64_t> nextOomCountAsync(const std::string& id, uint64_t seen);
  // Host-side figures of the sandbox (VM stats), in the Prometheus text format.
  std::string updateRuntimeMetrics();
  // The agent's own metrics (Prometheus text).
  std::string getAgentMetrics();

  // --- devices and network
  // Hot-plugs a device kata-vmmd's policy allows; for a block device, returns its node in the guest.
  std::string addDevice(const HotplugDevice& device);
  // Carries the pod namespace's interface `interface.name` (one kata-vmmd has not carried yet, e.g.
  // added by a CNI plugin after the sandbox started) into the running VM as a hot-plugged NIC and
  // configures it in the guest as the namespace has it (MAC, MTU, addresses, its routes). Needs a
  // sandbox created with a network namespace. Returns the interface as the guest now has it.
  Interface addInterface(const Interface& interface);
  // Deconfigures the interface in the guest, then unplugs its NIC and removes its host side.
  void removeInterface(const Interface& interface);
  // The guest's interfaces and main-table routes, as the agent reads them.
  std::vector<Interface> listInterfaces();
  // Replaces the guest's routes on the interfaces the runtime configured; returns the table.
  std::vector<Route> updateRoutes(const std::vector<Route>& routes);
  std::vector<Route> listRoutes();

  // The agent, for calls this API does not wrap (tests, tools).
  ipc::agent::Agent::Client agent();

 private:
  friend std::unique_ptr<Sandbox> createSandbox(SandboxEnv& env, const SandboxConfig& config);
  struct Record;
  struct ProcessState;
  Sandbox(SandboxEnv& env, std::string id);

  Vm& vm();  // opened through the factory on first use
  // Gives the guest the carried interfaces as kata-vmmd describes them (routes are separate).
  void configureGuestInterfaces(const std::vector<Interface>& interfaces);
  void deleteContainerLocked(const std::string& id, bool force);
  void deleteSandboxLocked();
  ipc::agent::Container::Client container(const std::string& id);
  ipc::agent::Process::Client process(const std::string& containerId, const std::string& execId);
  void saveRecord();
  void connectAgent();
  ProcessState& localProcess(const std::string& containerId, const std::string& execId);
  ipc::agent::Stdio::Builder fillStdio(ipc::agent::Stdio::Builder stdio, const ProcessIo& io,
                                       const std::string& key);
  void afterStart(const std::string& key, ipc::agent::Process::Client process, const ProcessIo& io);
  template <typename T>
  T call(kj::Promise<T>&& promise, const std::string& what);
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wnon-virtual-dtor"  // kj's handler interface; never deleted through it
  struct TaskErrors final : kj::TaskSet::ErrorHandler {
    explicit TaskErrors(Sandbox& s) : sandbox(s) {}
    void taskFailed(kj::Exception&& exception) override;
    Sandbox& sandbox;
  };
#pragma GCC diagnostic pop

  SandboxEnv& env_;
  std::string id_;
  Logger log_;
  std::unique_ptr<Record> record_;
  std::unique_ptr<Vm> vm_;
  std::unique_ptr<AgentLink> agent_;
  std::map<std::string, std::unique_ptr<ProcessState>> processes_;  // "<container>/<execId>"
  TaskErrors taskErrors_{*this};
  kj::TaskSet tasks_{taskErrors_};  // fire-and-forget calls; destroyed (cancelled) first
};

// Creates a sandbox: checks the image, asks the factory for a VM, starts the monitor (when the
// config asks for one) and writes the record; the guest is prepared by start(). On failure nothing
// is left (VM destroyed, monitor stopped, record removed). kAlreadyExists when the id is taken.
std::unique_ptr<Sandbox> createSandbox(SandboxEnv& env, const SandboxConfig& config);

}  // namespace kata::sandbox
