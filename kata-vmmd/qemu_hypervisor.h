// The QEMU driver of the Hypervisor interface: VmConfig → QemuConfig (qemu_config.h) → argv, started
// by the jailed launcher (launcher.h), controlled over QMP (qmp_client.h). It can also re-attach to a
// QEMU an earlier kata-vmmd launched (adopt), so a daemon restart does not lose its VMs.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>

#include "common/log.h"
#include "kata-vmmd/arch.h"
#include "kata-vmmd/hypervisor.h"
#include "kata-vmmd/launcher.h"
#include "kata-vmmd/qemu_config.h"
#include "kata-vmmd/qmp_client.h"
#include "kata-vmmd/virtiofsd.h"

namespace kata::vmmd {

struct QemuDriverOptions {
  std::string qemuBinary;  // empty: /usr/bin/<arch default>
  security::IdentitySpec identity;  // the VM's uid/gid (the sandbox owner's, or a configured VM uid)
  std::optional<CgroupSpec> cgroup;
  int netnsFd = -1;  // QEMU joins this network namespace (launch step C6, in the launcher process); -1: ours
  std::map<int, rlimit> rlimits;  // empty: security::defaultQemuRlimits()
  std::string kvmDevice = "/dev/kvm";
  std::string procRoot = "/proc";  // where adopt() reads a process's start time
  bool startPaused = false;  // -S: launch() returns with the CPUs stopped; resume() starts them
  std::chrono::milliseconds qmpTimeout{10000};
  // The virtiofsd for VirtioFsDevices (virtiofsd.h); empty: a VM with one is refused. Its flavour
  // (probed once by the daemon) says which option syntax it takes; its user namespace's uid/gid 0
  // are these host ids (the sandbox owner's).
  std::string virtiofsdBinary;
  VirtiofsdFlavour virtiofsdFlavour = VirtiofsdFlavour::kQemu;
  uid_t virtiofsdOwnerUid = 0;
  gid_t virtiofsdOwnerGid = 0;
  // Where QEMU and virtiofsd are started: the daemon's launcher process (jail_launcher.h), or this
  // process when null (tools and tests that are not the hardened daemon).
  LaunchBackend* launcher = nullptr;
};

// A process of the VM besides the hypervisor (a virtiofsd), as a registry records it.
struct HelperProcess {
  pid_t pid = -1;
  uint64_t startTime = 0;
};

// What a restarted daemon knows about a QEMU an earlier one launched (from its registry).
struct QemuAdoption {
  pid_t pid = -1;
  uint64_t startTime = 0;  // LaunchedProcess::startTime() at launch
  // Hot-plugged device id → the hot-plug slot it occupies. Devices without a backend object
  // (emulated, VFIO) and NICs (netdevs below) are re-attached faithfully; an adopted block device's
  // backend stays in QEMU after unplug.
  std::map<std::string, unsigned> hotplugSlots;
  std::map<std::string, HelperProcess> virtiofsd;  // device id → its virtiofsd
  // Those of them that are NICs (their netdev backend "net-<id>" is removed after the device).
  std::set<std::string> netdevs;
};

class QemuHypervisor final : public Hypervisor {
 public:
  QemuHypervisor(VmConfig config, QemuDriverOptions options, std::unique_ptr<Arch> arch, Logger log);
  // Re-attaches the QEMU an earlier kata-vmmd launched with this config and these options: the
  // process by pidfd (pid and start time must both match, so a process that took a recycled pid is
  // never adopted), its cgroup (so stop() removes it), QMP by reconnecting to <runDir>/qmp.sock (QEMU
  // keeps listening on it), and its virtiofsd processes (by pidfd, like QEMU). nullptr when QEMU is
  // gone; a virtiofsd left without its QEMU is killed then. A live QEMU whose QMP does not answer
  // is still adopted: status() says kUnknown, control calls fail saying so, stop() kills it.
  static std::unique_ptr<QemuHypervisor> adopt(VmConfig config, QemuDriverOptions options, std::unique_ptr<Arch> arch,
                                               Logger log, const QemuAdoption& adoption);
  // A NetDevice of config.devices behind a hot-plug slot's root port (NetDevice::bus) occupies that
  // slot and can be unplugged like a hot-plugged one.
  // Kills an unreleased running VM and removes its cgroup (LaunchedProcess does both).
  ~QemuHypervisor() override = default;

  const char* name() const override { return "qemu"; }
  void launch() override;
  ExitStatus stop(Deadline deadline) override;
  void pause() override;
  void resume() override;
  // kNotStarted also for a launched VM whose CPUs never ran (QEMU's "prelaunch"). A VM whose
  // virtiofsd died is stopped here (kExited, detail saying so).
  VmStatus status() override;
  void hotplug(const Device& device) override;
  void unplug(const std::string& deviceId, Deadline deadline) override;
  VmStats stats() override;
  ExitStatus waitForExit(Deadline deadline) override;
  pid_t pid() const override { return process_ ? process_->pid() : -1; }

  Accel accel() const { return accel_; }
  QmpClient& qmp();
  // What a registry records to adopt this VM later.
  QemuAdoption adoption() const;
  bool adopted() const { return process_ && process_->adopted(); }
  // New descriptors (pidfds) of its virtiofsd processes: they become readable when one exits, so
  // the daemon's event loop can notice a dead virtiofsd without being asked (status() acts on it).
  std::vector<UniqueFd> helperPidfds() const;
  // The VM outlives this object (daemon shutdown): the destructor neither kills it nor removes its
  // cgroup.
  void release();
  // The QEMU config built at launch (for logs and tests; empty for an adopted VM).
  const QemuConfig& qemuConfig() const { return qemuConfig_; }

 private:
  enum class Backend { kNone, kNetdev, kBlockdev };  // what unplug removes after the device
  struct Hotplugged {
    unsigned slot = 0;
    Backend backend = Backend::kNone;
    int64_t fdset = -1;  // the add-fd set holding a passed block device's descriptor (removed at unplug)
  };

  QemuConfig buildQemuConfig(int qmpListenFd) const;
  std::string qmpPath() const { return config_.runDir + "/qmp.sock"; }
  std::string virtiofsdSocket(const std::string& deviceId) const {
    return config_.runDir + "/virtiofsd-" + deviceId + ".sock";
  }
  unsigned takeFreeSlot(const std::string& deviceId) const;
  // After QEMU exited: virtiofsd ends when its vhost-user connection closes; it is killed if not.
  void stopVirtiofsd();
  // A virtiofsd that exited while its QEMU runs: the guest's share no longer answers (every file
  // operation on it would hang), so QEMU is killed and helperFailure_ says why.
  void checkVirtiofsd();
  void failForHelper(const std::string& why);

  VmConfig config_;
  QemuDriverOptions options_;
  std::unique_ptr<Arch> arch_;
  Logger log_;
  Accel accel_ = Accel::kTcg;
  QemuConfig qemuConfig_;
  std::optional<LaunchedProcess> process_;  // QEMU; owns the VM's cgroup
  std::map<std::string, LaunchedProcess> virtiofsd_;  // by device id; after process_: gone before the cgroup
  std::optional<QmpClient> qmp_;
  std::map<std::string, Hotplugged> hotplugged_;
  std::string helperFailure_;  // non-empty: the VM was stopped because a helper process died
};

}  // namespace kata::vmmd
