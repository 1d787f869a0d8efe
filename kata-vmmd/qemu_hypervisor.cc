#include "kata-vmmd/qemu_hypervisor.h"

#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>

#include "common/error.h"
#include "common/fs.h"
#include "kata-vmmd/accel_probe.h"
#include "kata-vmmd/qemu_config.h"
#include "security/rlimits.h"
#include "security/validate.h"

namespace kata::vmmd {
namespace {

using Clock = std::chrono::steady_clock;

UniqueFd listenUnix(const std::string& path) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof addr.sun_path)
    fail(ErrorKind::kInvalidArgument, "socket path " + path + " is longer than 107 bytes; use a shorter run dir");
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  UniqueFd fd(KATA_SYSCALL(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0), "QMP socket"));
  if (::unlink(path.c_str()) < 0 && errno != ENOENT) throwSysError(errno, "unlink stale " + path);
  KATA_SYSCALL(::bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr), path);
  KATA_SYSCALL(::chmod(path.c_str(), 0600), path);
  KATA_SYSCALL(::listen(fd.get(), 4), path);
  return fd;
}

Deadline half(Deadline deadline) { return Clock::now() + (deadline - Clock::now()) / 2; }

}  // namespace

QemuHypervisor::QemuHypervisor(VmConfig config, QemuDriverOptions options, std::unique_ptr<Arch> arch, Logger log)
    : config_(std::move(config)), options_(std::move(options)), arch_(std::move(arch)),
      log_(log.with("sandbox", config_.id)) {
  security::validateSandboxId(config_.id);
  security::validateAbsolutePath(config_.runDir, "VM run directory");
  if (options_.rlimits.empty()) options_.rlimits = security::defaultQemuRlimits();
  if (options_.qemuBinary.empty()) options_.qemuBinary = "/usr/bin/" + arch_->qemuBinary();
}

QemuConfig QemuHypervisor::buildQemuConfig(int qmpListenFd) const {
  QemuConfig qc;
  qc.binary = options_.qemuBinary;
  qc.name = config_.id;
  qc.accel = accel_;
  qc.vcpus = config_.vcpus;
  qc.maxVcpus = config_.maxVcpus;
  qc.memory = config_.memory;
  qc.kernel = config_.kernel;
  qc.qmp.listenFd = qmpListenFd;
  qc.consoleLogPath = config_.consoleLogPath.empty() ? config_.runDir + "/console.log" : config_.consoleLogPath;
  qc.hotplugRootPorts = config_.hotplugSlots;
  qc.devices = config_.devices;
  qc.startPaused = options_.startPaused;
  return qc;
}

void QemuHypervisor::launch() {
  if (process_) fail(ErrorKind::kFailedPrecondition, "VM " + config_.id + " was launched already");
  accel_ = resolveAccel(config_.accel, log_, options_.kvmDevice);
  // vmmd owns the QMP socket (in the run dir, mode 0600, root's): QEMU gets only the listening fd.
  std::string qmpPath = config_.runDir + "/qmp.sock";
  UniqueFd qmpListen = listenUnix(qmpPath);
  qemuConfig_ = buildQemuConfig(qmpListen.get());

  LaunchSpec spec;
  spec.sandboxId = config_.id;
  spec.argv = buildQemuArgs(qemuConfig_, *arch_);
  spec.identity = options_.identity;
  spec.passFds = {qmpListen.get()};
  for (const Device& d : config_.devices) {
    std::visit(
        [&](const auto& dev) {
          using T = std::decay_t<decltype(dev)>;
          if constexpr (std::is_same_v<T, SerialPortDevice>) {
            if (dev.listenFd >= 0) spec.passFds.push_back(dev.listenFd);
          } else if constexpr (std::is_same_v<T, VsockDevice>) {
            if (dev.vhostFd >= 0) spec.passFds.push_back(dev.vhostFd);
          } else if constexpr (std::is_same_v<T, NetDevice>) {
            spec.passFds.insert(spec.passFds.end(), dev.tapFds.begin(), dev.tapFds.end());
            spec.passFds.insert(spec.passFds.end(), dev.vhostFds.begin(), dev.vhostFds.end());
          }
        },
        d);
  }
  spec.logPath = config_.runDir + "/qemu.log";
  spec.cgroup = options_.cgroup;
  spec.netnsFd = options_.netnsFd;
  spec.rlimits = options_.rlimits;
  log_.info(std::string("launching QEMU with accel=") + accelName(accel_));
  process_.emplace(launchJailed(spec, log_));
  QmpOptions qo;
  qo.timeout = options_.qmpTimeout;
  try {
    qmp_.emplace(QmpClient::connect(qmpPath, deadlineIn(options_.qmpTimeout), qo));
  } catch (const Error& e) {
    process_->wait(deadlineIn(std::chrono::milliseconds(200)));
    std::string tail;
    try {
      tail = readFile(spec.logPath, 1 << 16);
    } catch (...) {
    }
    fail(e.kind(), "QEMU for sandbox " + config_.id + " did not come up: " + e.what() +
                       (tail.empty() ? "" : "; QEMU said: " + tail.substr(tail.size() > 2000 ? tail.size() - 2000 : 0)));
  }
}

QmpClient& QemuHypervisor::qmp() {
  if (!qmp_) fail(ErrorKind::kFailedPrecondition, "VM " + config_.id + " is not running");
  return *qmp_;
}

ExitStatus QemuHypervisor::stop(Deadline deadline) {
  if (!process_) fail(ErrorKind::kFailedPrecondition, "VM " + config_.id + " was never launched");
  ExitStatus ex = process_->wait(Clock::now());
  // 1. ACPI power button: a guest that handles it shuts down cleanly (flushes its disks).
  if (!ex.exited && qmp_) {
    try {
      qmp_->systemPowerdown();
      ex = process_->wait(half(deadline));
    } catch (const Error& e) {
      log_.warn(std::string("system_powerdown failed: ") + e.what());
    }
  }
  // 2. quit: QEMU exits at once, the guest gets no say.
  if (!ex.exited && qmp_) {
    try {
      qmp_->quit();
      ex = process_->wait(half(deadline));
    } catch (const Error& e) {
      log_.warn(std::string("QMP quit failed: ") + e.what());
    }
  }
  // 3. SIGKILL through the pidfd.
  if (!ex.exited) {
    log_.warn("QEMU did not exit in time; killing it");
    process_->signal(SIGKILL);
    ex = process_->wait(deadlineIn(std::chrono::seconds(5)));
  }
  qmp_.reset();
  if (ex.exited) {
    process_->cleanup();
    (void)::unlink((config_.runDir + "/qmp.sock").c_str());  // nobody listens on it any more
  }
  return ex;
}

void QemuHypervisor::pause() { qmp().stop(); }
void QemuHypervisor::resume() { qmp().cont(); }

VmStatus QemuHypervisor::status() {
  VmStatus st;
  if (!process_) {
    st.state = VmState::kNotStarted;
    return st;
  }
  st.pid = process_->pid();
  ExitStatus ex = process_->wait(Clock::now());
  if (ex.exited) {
    st.state = VmState::kExited;
    st.detail = ex.signal ? "killed by signal " + std::to_string(ex.signal) : "exit code " + std::to_string(ex.code);
    return st;
  }
  QmpStatus q = qmp().queryStatus();
  st.detail = q.status;
  if (q.running) st.state = VmState::kRunning;
  else if (q.status == "shutdown") st.state = VmState::kShutdown;
  else if (q.status == "paused" || q.status == "prelaunch" || q.status == "suspended") st.state = VmState::kPaused;
  else st.state = VmState::kUnknown;
  return st;
}

std::string QemuHypervisor::takeFreePort(const std::string& deviceId) {
  for (unsigned i = 0; i < config_.hotplugSlots; ++i) {
    std::string port = rootPortId(i);
    bool used = false;
    for (const auto& [dev, p] : portOfDevice_) used = used || p == port;
    if (!used) {
      portOfDevice_[deviceId] = port;
      return port;
    }
  }
  fail(ErrorKind::kFailedPrecondition, "VM " + config_.id + " has no free hot-plug slot for device " + deviceId +
                                           " (all " + std::to_string(config_.hotplugSlots) + " in use)");
}

void QemuHypervisor::hotplug(const Device& device) {
  const std::string& id = deviceId(device);
  validateDeviceId(id);
  if (hotplugged_.count(id)) fail(ErrorKind::kAlreadyExists, "device " + id + " is already plugged");
  for (const auto& d : config_.devices)
    if (deviceId(d) == id) fail(ErrorKind::kAlreadyExists, "device " + id + " is already plugged");
  std::string port = takeFreePort(id);
  try {
    HotplugPlan plan = planHotplug(device, port, *arch_);
    for (const auto& [name, fd] : plan.fds) qmp().getfd(name, fd);
    for (const auto& [cmd, args] : plan.backends) qmp().execute(cmd, args);
    qmp().deviceAdd(plan.deviceAdd);
  } catch (...) {
    portOfDevice_.erase(id);
    throw;
  }
  hotplugged_.emplace(id, device);
}

void QemuHypervisor::unplug(const std::string& id, Deadline deadline) {
  auto it = hotplugged_.find(id);
  if (it == hotplugged_.end()) fail(ErrorKind::kNotFound, "device " + id + " was not hot-plugged into VM " + config_.id);
  qmp().deviceDelAndWait(id, deadline);
  // The backend outlives the device in QEMU; remove it so the id can be reused.
  if (std::holds_alternative<NetDevice>(it->second)) qmp().netdevDel("net-" + id);
  if (std::holds_alternative<BlockDevice>(it->second)) qmp().execute("blockdev-del", {{"node-name", "blk-" + id}});
  hotplugged_.erase(it);
  portOfDevice_.erase(id);
}

VmStats QemuHypervisor::stats() {
  VmStats s;
  QmpMemorySummary mem = qmp().queryMemorySizeSummary();
  s.memoryBaseBytes = mem.baseMemory;
  s.memoryPluggedBytes = mem.pluggedMemory.value_or(0);
  s.balloonActualBytes = qmp().queryBalloon();
  nlohmann::json cpus = qmp().execute("query-cpus-fast");
  s.vcpus = cpus.is_array() ? static_cast<unsigned>(cpus.size()) : 0;
  return s;
}

ExitStatus QemuHypervisor::waitForExit(Deadline deadline) {
  if (!process_) fail(ErrorKind::kFailedPrecondition, "VM " + config_.id + " was never launched");
  return process_->wait(deadline);
}

}  // namespace kata::vmmd
