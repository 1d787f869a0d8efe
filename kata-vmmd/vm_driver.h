// The daemon's QEMU driver: a Hypervisor (hypervisor.h) that runs QEMU as a child process built from
// the typed model (qemu_config.h) and drives it over QMP (qmp_client.h). It can also adopt a QEMU that
// an earlier kata-vmmd started (after a restart): the process is then named by a pidfd and reached by
// reconnecting to its QMP socket; it is not our child, so its exit status is unknown.
//
// The spawn below is the minimal jail until kata-vmmd/launcher.h (clone3, cgroups, rlimits,
// capability bounding set) is merged: new session, stdio to a log, only the passed fds, the VM's
// uid/gid with no supplementary groups, no_new_privs, empty environment, QEMU's own -sandbox.
#pragma once

#include <sys/types.h>

#include <map>
#include <memory>
#include <optional>
#include <string>

#include "common/fd.h"
#include "common/log.h"
#include "kata-vmmd/arch.h"
#include "kata-vmmd/hypervisor.h"
#include "kata-vmmd/qmp_client.h"

namespace kata::vmmd {

struct VmLaunchOptions {
  std::string qemuBinary = "/usr/bin/qemu-system-x86_64";
  uid_t uid = 65534;  // the identity QEMU runs as
  gid_t gid = 65534;
  bool startPaused = false;
  int kernelFd = -1;  // the guest kernel / initrd the client opened; -1: none (firmware only)
  int initrdFd = -1;
  std::string qemuLogPath;    // QEMU's stdout/stderr
  std::string qmpSocketPath;  // created by the driver; QEMU gets the listening fd
  std::string agentSocketPath;  // the agent channel's host end (virtio-serial port "agent.0")
  std::string shareDir;       // shared with the guest over 9p as mount tag "kataShared"
};

class QemuVm : public Hypervisor {
 public:
  QemuVm(VmConfig config, VmLaunchOptions options, Logger log);
  // Adopts a running QEMU (a restarted daemon). ports: hot-plugged device id → root port.
  static std::unique_ptr<QemuVm> adopt(const std::string& sandboxId, pid_t pid, UniqueFd pidfd,
                                       const std::string& qmpSocket, unsigned hotplugSlots,
                                       std::map<std::string, unsigned> ports, Logger log);
  ~QemuVm() override;

  const char* name() const override { return "qemu"; }
  void launch() override;
  ExitStatus stop(Deadline deadline) override;
  void pause() override;
  void resume() override;
  VmStatus status() override;
  void hotplug(const Device& device) override;
  void unplug(const std::string& deviceId, Deadline deadline) override;
  VmStats stats() override;
  ExitStatus waitForExit(Deadline deadline) override;
  pid_t pid() const override { return pid_; }

  int pidfd() const { return pidfd_.get(); }
  // Without blocking: has the process exited?
  bool exited();
  // Lets the process outlive this object (daemon shutdown): the destructor will not kill it.
  void release() { released_ = true; }
  const std::map<std::string, unsigned>& hotplugPorts() const { return ports_; }
  const std::string& argv0Line() const { return commandLine_; }

 private:
  QemuVm(Logger log) : log_(std::move(log)) {}
  QmpClient& qmp();

  VmConfig config_;
  VmLaunchOptions options_;
  Logger log_;
  std::unique_ptr<Arch> arch_;
  pid_t pid_ = -1;
  UniqueFd pidfd_;
  bool child_ = false;  // ours to reap (false for an adopted process)
  bool released_ = false;
  std::optional<ExitStatus> exit_;
  std::optional<QmpClient> qmp_;
  std::string qmpPath_;
  unsigned slots_ = 0;
  std::map<std::string, unsigned> ports_;
  std::string commandLine_;
};

}  // namespace kata::vmmd
