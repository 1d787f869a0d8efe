// The daemon's core, independent of the RPC layer: the sandboxes, who owns them, their VMs, their
// records on disk. Every call takes the caller's identity (from SO_PEERCRED) and checks it: owner or
// root for a sandbox, the policy's limits and allow-lists for what is created or plugged.
//
// Not thread-safe: the daemon calls it from its one event loop thread.
#pragma once

#include <sys/types.h>

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/fd.h"
#include "common/log.h"
#include "kata-vmmd/hypervisor.h"
#include "kata-vmmd/policy.h"
#include "kata-vmmd/qemu_hypervisor.h"
#include "kata-vmmd/registry.h"
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

class SandboxManager {
 public:
  SandboxManager(ManagerOptions options, Logger log);
  // Leaves every VM running (a restarted daemon re-adopts them).
  ~SandboxManager();
  SandboxManager(const SandboxManager&) = delete;
  SandboxManager& operator=(const SandboxManager&) = delete;

  // Re-adopts the VMs of the registry: a live process (same pid and start time) is reattached by
  // pidfd and QMP; one that died while no daemon ran is marked stopped and kept.
  void recover();

  SandboxInfo create(const CallerId& caller, CreateRequest request);
  SandboxInfo info(const CallerId& caller, const std::string& id);
  SandboxInfo status(const CallerId& caller, const std::string& id);  // asks the hypervisor
  std::vector<SandboxInfo> list(const CallerId& caller);
  void start(const CallerId& caller, const std::string& id);
  SandboxInfo stop(const CallerId& caller, const std::string& id, uint32_t timeoutMs);
  void pause(const CallerId& caller, const std::string& id);
  void resume(const CallerId& caller, const std::string& id);
  VmStats stats(const CallerId& caller, const std::string& id);
  // Devices: checked against the policy's allow-lists before the hypervisor sees them.
  void hotplug(const CallerId& caller, const std::string& id, const Device& device);
  void unplug(const CallerId& caller, const std::string& id, const std::string& deviceId, uint32_t timeoutMs);
  void shareDirectory(const CallerId& caller, const std::string& id, int dirFd, const std::string& name,
                      bool readOnly);
  void unshareDirectory(const CallerId& caller, const std::string& id, const std::string& name);
  UniqueFd agentChannel(const CallerId& caller, const std::string& id);
  UniqueFd console(const CallerId& caller, const std::string& id);
  void destroy(const CallerId& caller, const std::string& id, uint32_t timeoutMs);

  // The pod network (sandbox_network.cc). netnsFd: a descriptor the client passed (nullopt: the
  // sandbox's own, pinned when it was first given).
  std::vector<NetInterfaceInfo> attachNetwork(const CallerId& caller, const std::string& id, std::optional<int> netnsFd,
                                              const std::string& interfaceName, const std::string& model,
                                              uint32_t queues);
  void detachInterface(const CallerId& caller, const std::string& id, const std::string& name, uint32_t timeoutMs);
  std::vector<NetInterfaceInfo> listNetwork(const CallerId& caller, const std::string& id);

  const Policy& policy() const { return options_.policy; }
  Usage usageOf(uid_t uid);

 private:
  struct Sandbox {
    SandboxRecord record;
    std::unique_ptr<QemuHypervisor> vm;  // null once stopped
    bool adopted = false;
    bool created = false;        // CPUs not started yet
  };
  Sandbox& find(const CallerId& caller, const std::string& id);
  QemuHypervisor& running(Sandbox& sandbox);
  // The one description of a sandbox's VM, for launch and for adoption alike.
  VmConfig vmConfig(const SandboxRecord& record) const;
  QemuDriverOptions driverOptions(const SandboxRecord& record) const;
  void refresh(Sandbox& sandbox);  // notices a VM that exited
  void markStopped(Sandbox& sandbox, const std::string& reason);
  SandboxInfo describe(Sandbox& sandbox, bool askHypervisor);
  void removeShares(Sandbox& sandbox);
  void save(const Sandbox& sandbox);
  Logger logFor(const std::string& id) const { return log_.with("sandbox", id); }
  Accel resolvedAccel(const std::string& requested);

  // ---- network (sandbox_network.cc)
  // The namespace behind a client's descriptor, if the caller may use it (authorizeNetns).
  netdev::Netns admitNetns(const CallerId& caller, int fd, const std::string& id);
  // Pins ns for the sandbox and starts its network record.
  void pinNetwork(SandboxRecord& record, const netdev::Netns& ns);
  // The sandbox's pinned namespace, checked to be the one pinned.
  netdev::Netns pinnedNetns(const SandboxRecord& record);
  // Creates the plumbing for each interface not carried yet (all, or the one named), in the slots
  // given, recording each in record.network. For create (cold-plug) and attach (hot-plug).
  struct Carried {
    NicRecord nic;
    netdev::Connection connection;
    NetDevice device;
  };
  std::vector<Carried> carryInterfaces(SandboxRecord& record, const netdev::Netns& ns, const std::string& name,
                                       netdev::Model model, unsigned queues, const security::IdentitySpec& vmIdentity);
  // Removes the plumbing of one NIC / all NICs and the pin; failures are logged, not thrown, so a
  // sandbox can always be destroyed.
  void teardownNic(const SandboxRecord& record, const NicRecord& nic);
  void teardownNetwork(SandboxRecord& record);
  std::string netnsPinPath(const std::string& id) const { return options_.stateDir + "/netns/" + id; }

  ManagerOptions options_;
  Logger log_;
  Registry registry_;
  std::map<std::string, Sandbox> sandboxes_;
  std::optional<Accel> autoAccel_;
  std::optional<security::CgroupLayout> cgroupLayout_;
};

}  // namespace kata::vmmd
