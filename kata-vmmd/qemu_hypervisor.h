// The QEMU driver of the Hypervisor interface: VmConfig → QemuConfig (qemu_config.h) → argv, started
// by the jailed launcher (launcher.h), controlled over QMP (qmp_client.h).
#pragma once

#include <memory>
#include <optional>
#include <set>

#include "common/log.h"
#include "kata-vmmd/arch.h"
#include "kata-vmmd/hypervisor.h"
#include "kata-vmmd/launcher.h"
#include "kata-vmmd/qemu_config.h"
#include "kata-vmmd/qmp_client.h"

namespace kata::vmmd {

struct QemuDriverOptions {
  std::string qemuBinary;  // empty: /usr/bin/<arch default>
  security::IdentitySpec identity;  // the VM's uid/gid (the sandbox owner's, or a configured VM uid)
  std::optional<CgroupSpec> cgroup;
  int netnsFd = -1;
  std::map<int, rlimit> rlimits;  // empty: security::defaultQemuRlimits()
  std::string kvmDevice = "/dev/kvm";
  bool startPaused = false;  // -S: launch() returns with the CPUs stopped; resume() starts them
  std::chrono::milliseconds qmpTimeout{10000};
};

class QemuHypervisor final : public Hypervisor {
 public:
  QemuHypervisor(VmConfig config, QemuDriverOptions options, std::unique_ptr<Arch> arch, Logger log);
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
  pid_t pid() const override { return process_ ? process_->pid() : -1; }

  Accel accel() const { return accel_; }
  QmpClient& qmp();
  // The QEMU config built at launch (for logs and tests).
  const QemuConfig& qemuConfig() const { return qemuConfig_; }

 private:
  QemuConfig buildQemuConfig(int qmpListenFd) const;
  std::string takeFreePort(const std::string& deviceId);

  VmConfig config_;
  QemuDriverOptions options_;
  std::unique_ptr<Arch> arch_;
  Logger log_;
  Accel accel_ = Accel::kTcg;
  QemuConfig qemuConfig_;
  std::optional<LaunchedProcess> process_;
  std::optional<QmpClient> qmp_;
  std::map<std::string, std::string> portOfDevice_;  // hot-plugged device id → root port id
  std::map<std::string, Device> hotplugged_;
};

}  // namespace kata::vmmd
