// The daemon's core, independent of the RPC layer: the sandboxes, who owns them, their VMs, their
// records on disk. Every call takes the caller's identity (from SO_PEERCRED/SO_PEERGROUPS) and
// checks it: owner or root for a sandbox, the policy's limits and allow-lists for what is created or
// plugged.
//
// Threads: the manager's own state (sandboxes, records, registry, limits) belongs to the event loop
// thread and is only touched there. What can block on a hypervisor (launch, QMP, the stop
// escalation) runs on the VM's own worker thread (vm_worker.h), so those calls return promises;
// authorization and validation happen on the loop before a job is queued, and the bookkeeping after
// it (records, limits) on the loop again. That bookkeeping is detached from the caller: a client
// that disconnects mid-call does not leave a half-recorded VM behind.
#pragma once

#include <sys/types.h>

#include <kj/async-unix.h>
#include <kj/async.h>

#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "common/fd.h"
#include "common/log.h"
#include "kata-vmmd/hypervisor.h"
#include "kata-vmmd/policy.h"
#include "kata-vmmd/qemu_hypervisor.h"
#include "kata-vmmd/registry.h"
#include "kata-vmmd/vm_worker.h"
#include "netdev/carrier.h"
#include "netdev/netns.h"

namespace kata::vmmd {

struct ManagerOptions {
  std::string stateDir = "/run/kata-vmmd";  // sandboxes/ (records), vms/<id>/ (run dirs), shares/<id>/
  std::string procRoot = "/proc";
  std::string sysfsRoot = "/sys";
  // Every QEMU runs in <hierarchy>/<cgroupParent>/<sandbox id> of each cgroup hierarchy under
  // cgroupRoot (security/cgroup.h); empty cgroupParent: no cgroups (tests without cgroupfs).
  std::string cgroupRoot = "/sys/fs/cgroup";
  std::string cgroupParent = "kata-vmmd";
  security::CgroupLimits cgroupLimits = defaultCgroupLimits();
  Policy policy;
  // The launcher process every QEMU and virtiofsd is started by (jail_launcher.h); null: this process.
  LaunchBackend* launcher = nullptr;
  // Which program the policy's [vm] virtiofsd is (probeVirtiofsd at start-up, virtiofsd.h).
  VirtiofsdFlavour virtiofsdFlavour = VirtiofsdFlavour::kQemu;
  // The event loop's port: with it, a virtiofsd that exits is noticed when it exits (its pidfd is
  // watched), not only at the VM's next call. Null: only at the next call (tests without a loop).
  kj::UnixEventPort* eventPort = nullptr;

  // What every sandbox cgroup gets: a pids limit (QEMU's -sandbox forbids fork, this bounds its
  // threads). Memory is not limited here: TCG's translation cache and QEMU's own overhead make a
  // limit derived from the guest's RAM a guess that kills VMs.
  static security::CgroupLimits defaultCgroupLimits() {
    security::CgroupLimits l;
    l.pidsMax = 4096;
    return l;
  }
};

// What a client asks for, decoded and validated (rpc_decode.h); fds the client passed.
struct CreateRequest {
  std::string sandboxId;
  uint32_t vcpus = 1;
  uint64_t memoryMiB = 256;
  std::string accel;  // empty: the policy's
  UniqueFd kernel;
  UniqueFd initrd;
  std::string kernelCmdline;
  bool startPaused = false;
  uint32_t hotplugSlots = 2;
  std::string sharedFs = "virtio-9p";  // or "virtio-fs"
  // The pod's network namespace, opened by the client (docs/networking.md); none: no NICs.
  UniqueFd netns;
  std::string netModel;    // "tcfilter" (default) | "macvtap"
  uint32_t netQueues = 0;  // per NIC; 0: 1
};

// One carried pod interface: how the namespace has it now, and what vmmd made for it.
struct NetInterfaceInfo {
  netdev::Interface iface;
  NicRecord nic;
};

// The bounds every create request must meet (kInvalidArgument naming the field); descriptors are not
// looked at (the RPC layer calls it while decoding, before they arrive). create() calls it again, so
// a caller that skips the decoder gets the same checks.
void validateCreateRequest(const CreateRequest& request);

enum class SandboxState { kUnknown, kCreated, kRunning, kPaused, kStopped };
const char* sandboxStateName(SandboxState state);

struct SandboxInfo {
  std::string id;
  uid_t ownerUid = 0;
  SandboxState state = SandboxState::kUnknown;
  pid_t pid = -1;
  uint32_t vcpus = 0;
  uint64_t memoryMiB = 0;
  std::string detail;
  bool adopted = false;
};

// What createVm hands back: the new sandbox, a connection to its agent channel and its console log.
struct CreatedSandbox {
  SandboxInfo info;
  UniqueFd agentChannel;  // invalid if it could not be opened (logged; agentChannel() retries)
  UniqueFd console;
};

class SandboxManager {
 public:
  SandboxManager(ManagerOptions options, Logger log);
  // Waits for the jobs in flight (their deadlines bound them), then leaves every VM running (a
  // restarted daemon re-adopts them).
  ~SandboxManager();
  SandboxManager(const SandboxManager&) = delete;
  SandboxManager& operator=(const SandboxManager&) = delete;

  // Re-adopts the VMs of the registry: a live process (same pid and start time) is reattached by
  // pidfd and QMP; one that died while no daemon ran is marked stopped and kept. Synchronous and
  // thread-free: it runs at start-up, before hardenDaemon.
  void recover();

  // The calls that can wait on a hypervisor return promises (errors: rpcException, "<kind>: ...");
  // the others answer at once from the daemon's own state. Either kind throws kata::Error for a
  // request refused before any work started (validation, authorization, an unknown sandbox).
  kj::Promise<CreatedSandbox> create(const CallerId& caller, CreateRequest request);
  SandboxInfo info(const CallerId& caller, const std::string& id);
  kj::Promise<SandboxInfo> status(const CallerId& caller, const std::string& id);  // asks the hypervisor
  std::vector<SandboxInfo> list(const CallerId& caller);
  kj::Promise<void> start(const CallerId& caller, const std::string& id);
  kj::Promise<SandboxInfo> stop(const CallerId& caller, const std::string& id, uint32_t timeoutMs);
  kj::Promise<void> pause(const CallerId& caller, const std::string& id);
  kj::Promise<void> resume(const CallerId& caller, const std::string& id);
  kj::Promise<VmStats> stats(const CallerId& caller, const std::string& id);
  // Devices: checked against the policy's allow-lists before the hypervisor sees them.
  kj::Promise<void> hotplug(const CallerId& caller, const std::string& id, const Device& device);
  kj::Promise<void> unplug(const CallerId& caller, const std::string& id, const std::string& deviceId,
                           uint32_t timeoutMs);
  void shareDirectory(const CallerId& caller, const std::string& id, int dirFd, const std::string& name,
                      bool readOnly);
  void unshareDirectory(const CallerId& caller, const std::string& id, const std::string& name);
  UniqueFd agentChannel(const CallerId& caller, const std::string& id);
  UniqueFd console(const CallerId& caller, const std::string& id);
  kj::Promise<void> destroy(const CallerId& caller, const std::string& id, uint32_t timeoutMs);

  // The pod network (sandbox_network.cc). netnsFd: a descriptor the client passed (nullopt: the
  // sandbox's own, pinned when it was first given). attach and detach run on the VM's worker (the
  // namespace's plumbing and the QMP calls, in that order and serialized with the VM's other calls);
  // listNetwork answers from the record and a netlink dump of the pinned namespace, on the loop.
  kj::Promise<std::vector<NetInterfaceInfo>> attachNetwork(const CallerId& caller, const std::string& id,
                                                           std::optional<int> netnsFd, const std::string& interfaceName,
                                                           const std::string& model, uint32_t queues);
  kj::Promise<void> detachInterface(const CallerId& caller, const std::string& id, const std::string& name,
                                    uint32_t timeoutMs);
  std::vector<NetInterfaceInfo> listNetwork(const CallerId& caller, const std::string& id);

  const Policy& policy() const { return options_.policy; }
  Usage usageOf(uid_t uid);

 private:
  // A VM and the thread that drives it (vm_worker.h's ownership rule: vm is touched by the worker,
  // or by the loop while the worker is idle). vm is declared first so the worker is joined before
  // the VM object goes away.
  struct VmRunner {
    explicit VmRunner(const std::string& id) : worker(id) {}
    std::unique_ptr<QemuHypervisor> vm;  // null once stopped
    // The pod network as the worker made it, under the same rule as vm: a network job reads and
    // changes this one and hands a copy back, which the loop puts into the record. Two attach calls
    // in a row therefore see each other's NICs, whatever the loop has recorded yet.
    std::optional<NetworkRecord> network;
    VmWorker worker;
  };
  // A VM's helper process watched from the loop: its own pidfd (a dup, so the VM object's lifetime
  // on the worker does not matter), the observer, and the promise (destroyed first).
  struct HelperWatch {
    HelperWatch(kj::UnixEventPort& port, UniqueFd fd)
        : pidfd(std::move(fd)), observer(port, pidfd.get(), kj::UnixEventPort::FdObserver::OBSERVE_READ) {}
    UniqueFd pidfd;
    kj::UnixEventPort::FdObserver observer;
    kj::Promise<void> exited = nullptr;
  };
  struct Sandbox {
    SandboxRecord record;
    bool adopted = false;
    bool created = false;   // CPUs not started yet
    bool creating = false;  // its launch is in flight: counted against limits, invisible otherwise
    std::unique_ptr<VmRunner> runner;
    std::vector<std::unique_ptr<HelperWatch>> helperWatches;
  };
  struct Launched;
  // A sandbox the caller may use (owner or root); "does not exist" otherwise, also while creating.
  Sandbox& find(const CallerId& caller, const std::string& id);
  // The same sandbox again after a job, if it is still there (a destroy may have removed it).
  Sandbox* lookup(const std::string& id);
  void requireRunning(const Sandbox& sandbox) const;
  // Queues a job on the sandbox's worker; the job gets the VM (kFailedPrecondition if it stopped in
  // the meantime).
  template <typename T, typename Job>
  kj::Promise<T> onVm(Sandbox& sandbox, Job&& job);
  // Keeps work (a job and its bookkeeping) running when the caller's promise is dropped.
  template <typename T>
  kj::Promise<T> detach(kj::Promise<T> work);
  // The one description of a sandbox's VM, for launch and for adoption alike.
  VmConfig vmConfig(const SandboxRecord& record) const;
  QemuDriverOptions driverOptions(const SandboxRecord& record) const;
  // On the worker: the host side of a create (directories, the pod network's plumbing, QEMU); fills
  // runner.vm and runner.network, undoes everything if it fails.
  Launched launch(const SandboxRecord& record, QemuDriverOptions options, CreateRequest request,
                  std::optional<netdev::Netns> netns, VmRunner& runner);
  void refresh(Sandbox& sandbox);  // notices a VM that exited (only while its worker is idle)
  // Watches the VM's helper processes (eventPort); when one exits, its VM's driver looks at it on
  // the worker (a virtiofsd dead under a live QEMU stops the VM) and the loop records the outcome.
  void watchHelpers(Sandbox& sandbox, std::vector<UniqueFd> pidfds);
  void helperExited(const std::string& id);
  void markStopped(Sandbox& sandbox, const std::string& reason);
  SandboxInfo describe(const Sandbox& sandbox) const;
  SandboxInfo describeStatus(Sandbox& sandbox, const VmStatus& status);
  void removeShares(Sandbox& sandbox);
  // After removeShares: what the guest itself created in the share root (a virtio-fs guest's root
  // may write there), then the share root. Never crosses into another file system.
  void removeShareRoot(const Sandbox& sandbox);
  void save(const Sandbox& sandbox);
  Logger logFor(const std::string& id) const { return log_.with("sandbox", id); }
  // Called on workers: the KVM probe runs once for "auto" (guarded by accelMu_).
  Accel resolvedAccel(const std::string& requested);

  // ---- network (sandbox_network.cc). Everything below but admitNetns runs on a worker (or on the
  // loop for listNetwork): it reads only options_ and what it is given, and touches no sandbox.
  // The namespace behind a client's descriptor, if the caller may use it (authorizeNetns). Loop.
  netdev::Netns admitNetns(const CallerId& caller, int fd, const std::string& id) const;
  // Pins ns for sandbox id: the start of its network record.
  NetworkRecord pinNetwork(const std::string& id, const netdev::Netns& ns) const;
  // The sandbox's pinned namespace, checked to be the one pinned.
  netdev::Netns pinnedNetns(const std::string& id, const NetworkRecord& network) const;
  // Creates the plumbing for each interface of ns not carried by network yet (all, or the one
  // named). For create (cold-plug) and attach (hot-plug); the caller records what it plugs.
  struct Carried {
    NicRecord nic;
    netdev::Connection connection;
    NetDevice device;
  };
  std::vector<Carried> carryInterfaces(const std::string& id, const NetworkRecord& network, const netdev::Netns& ns,
                                       const std::string& name, netdev::Model model, unsigned queues,
                                       const security::IdentitySpec& vmIdentity) const;
  // Removes the plumbing of one NIC / all NICs and the pin; failures are logged, not thrown, so a
  // sandbox can always be destroyed.
  void teardownNic(const std::string& id, const NetworkRecord& network, const NicRecord& nic) const;
  void teardownNetwork(const std::string& id, std::optional<NetworkRecord>& network) const;
  std::string netnsPinPath(const std::string& id) const { return options_.stateDir + "/netns/" + id; }
  // What a network job hands back to the loop: the worker's network state and hot-plug slots after
  // it, and the error it ended with (the state is recorded either way: a NIC plugged before the
  // failure stays carried).
  struct NetworkChange {
    std::optional<NetworkRecord> network;
    std::vector<std::string> hotplugged;
    std::vector<NetInterfaceInfo> added;  // attach: the NICs it plugged
    std::optional<Error> failure;
  };
  kj::Promise<NetworkChange> recordNetworkChange(const std::string& id, kj::Promise<NetworkChange> job);

  ManagerOptions options_;
  Logger log_;
  Registry registry_;
  std::map<std::string, Sandbox> sandboxes_;
  std::mutex accelMu_;
  std::optional<Accel> autoAccel_;
  std::optional<security::CgroupLayout> cgroupLayout_;
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wnon-virtual-dtor"  // kj's ErrorHandler is never deleted through a base pointer
  struct TaskErrors final : kj::TaskSet::ErrorHandler {
    explicit TaskErrors(Logger& l) : log(l) {}
    void taskFailed(kj::Exception&& e) override;
    Logger& log;
  } taskErrors_{log_};
#pragma GCC diagnostic pop
  kj::TaskSet tasks_{taskErrors_};  // detached bookkeeping; declared last: cancelled first
};

}  // namespace kata::vmmd
