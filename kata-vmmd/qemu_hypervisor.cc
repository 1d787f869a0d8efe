#include "kata-vmmd/qemu_hypervisor.h"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include "common/error.h"
#include "common/fs.h"
#include "ipc/peer_creds.h"
#include "kata-vmmd/accel_probe.h"
#include "kata-vmmd/qemu_config.h"
#include "security/rlimits.h"
#include "security/validate.h"

namespace kata::vmmd {
namespace {

using Clock = std::chrono::steady_clock;

Deadline half(Deadline deadline) { return Clock::now() + (deadline - Clock::now()) / 2; }

}  // namespace

QemuHypervisor::QemuHypervisor(VmConfig config, QemuDriverOptions options, std::unique_ptr<Arch> arch, Logger log)
    : config_(std::move(config)), options_(std::move(options)), arch_(std::move(arch)),
      log_(log.with("sandbox", config_.id)) {
  security::validateSandboxId(config_.id);
  security::validateAbsolutePath(config_.runDir, "VM run directory");
  if (options_.rlimits.empty()) options_.rlimits = security::defaultQemuRlimits();
  if (options_.qemuBinary.empty()) options_.qemuBinary = "/usr/bin/" + arch_->qemuBinary();
  for (const Device& d : config_.devices)
    if (const auto* n = std::get_if<NetDevice>(&d); n && !n->bus.empty())
      for (unsigned k = 0; k < config_.hotplugSlots; ++k)
        if (n->bus == rootPortId(k)) hotplugged_[n->id] = Hotplugged{k, Backend::kNetdev};
}

std::unique_ptr<QemuHypervisor> QemuHypervisor::adopt(VmConfig config, QemuDriverOptions options,
                                                       std::unique_ptr<Arch> arch, Logger log,
                                                       const QemuAdoption& adoption) {
  auto vm = std::make_unique<QemuHypervisor>(std::move(config), std::move(options), std::move(arch), std::move(log));
  const std::string& id = vm->config_.id;
  std::optional<security::Cgroup> cgroup;
  if (vm->options_.cgroup) {
    const CgroupSpec& cg = *vm->options_.cgroup;
    try {
      cgroup = security::Cgroup::open(cg.layout, cg.parent, id);
    } catch (const Error& e) {
      vm->log_.warn(std::string("adopting without its cgroup: ") + e.what());
    }
  }
  auto process = LaunchedProcess::adopt(adoption.pid, adoption.startTime, std::move(cgroup), vm->options_.procRoot);
  // The VM's virtiofsd processes: kept with a live QEMU, killed when QEMU is gone (they would only
  // wait for a front end that never comes back, inside a cgroup that must go).
  for (const auto& [dev, helper] : adoption.virtiofsd) {
    auto v = LaunchedProcess::adopt(helper.pid, helper.startTime, std::nullopt, vm->options_.procRoot);
    if (!v) {
      if (process) vm->helperFailure_ = "virtiofsd of device " + dev + " (pid " + std::to_string(helper.pid) +
                                        ") exited while kata-vmmd was not running";
      continue;
    }
    if (process) {
      vm->virtiofsd_.emplace(dev, std::move(*v));
      continue;
    }
    try {
      v->signal(SIGKILL);
      v->wait(deadlineIn(std::chrono::seconds(5)));
    } catch (const Error& e) {
      vm->log_.warn("could not end virtiofsd pid " + std::to_string(helper.pid) + " of a gone VM: " + e.what());
    }
  }
  if (!process) {
    // The VM is gone; its cgroup (if any) is empty now and must not outlive it.
    if (vm->options_.cgroup) {
      try {
        const CgroupSpec& cg = *vm->options_.cgroup;
        security::Cgroup::open(cg.layout, cg.parent, id).remove();
      } catch (const Error&) {  // none, or already removed
      }
    }
    return nullptr;
  }
  vm->process_.emplace(std::move(*process));
  vm->accel_ = vm->config_.accel;
  if (!vm->helperFailure_.empty()) {
    std::string why = vm->helperFailure_;
    vm->helperFailure_.clear();
    vm->failForHelper(why);
    return vm;  // stopped; the sandbox manager records why
  }
  for (const auto& [dev, slot] : adoption.hotplugSlots)
    vm->hotplugged_[dev] = Hotplugged{slot, adoption.netdevs.count(dev) ? Backend::kNetdev : Backend::kNone};
  QmpOptions qo;
  qo.timeout = vm->options_.qmpTimeout;
  try {
    vm->qmp_.emplace(QmpClient::connect(vm->qmpPath(), deadlineIn(std::min(vm->options_.qmpTimeout,
                                                                           std::chrono::milliseconds(5000))), qo));
  } catch (const Error& e) {
    vm->log_.error("QEMU pid " + std::to_string(adoption.pid) + " is alive but its QMP socket " + vm->qmpPath() +
                   " does not answer: " + e.what() + "; only stop (kill) is possible");
  }
  return vm;
}

QemuAdoption QemuHypervisor::adoption() const {
  QemuAdoption a;
  if (process_) {
    a.pid = process_->pid();
    a.startTime = process_->startTime();
  }
  for (const auto& [dev, h] : hotplugged_) {
    a.hotplugSlots[dev] = h.slot;
    if (h.backend == Backend::kNetdev) a.netdevs.insert(dev);
  }
  for (const auto& [dev, p] : virtiofsd_) a.virtiofsd[dev] = HelperProcess{p.pid(), p.startTime()};
  return a;
}

std::vector<UniqueFd> QemuHypervisor::helperPidfds() const {
  std::vector<UniqueFd> out;
  for (const auto& entry : virtiofsd_) {  // named: KATA_SYSCALL's lambda cannot capture a binding in clang
    const std::string& dev = entry.first;
    out.emplace_back(KATA_SYSCALL(::fcntl(entry.second.pidfd(), F_DUPFD_CLOEXEC, 3), "dup the pidfd of virtiofsd of " + dev));
  }
  return out;
}

void QemuHypervisor::release() {
  if (process_) process_->release();
  for (auto& [_, p] : virtiofsd_) p.release();
}

void QemuHypervisor::stopVirtiofsd() {
  for (auto& [dev, p] : virtiofsd_) {
    ExitStatus ex = p.wait(deadlineIn(std::chrono::seconds(1)));
    if (!ex.exited) {
      log_.warn("virtiofsd of device " + dev + " did not exit with its QEMU; killing it");
      try {
        p.signal(SIGKILL);
      } catch (const Error& e) {
        log_.warn(std::string("could not kill virtiofsd: ") + e.what());
      }
      p.wait(deadlineIn(std::chrono::seconds(5)));
    }
    (void)::unlink(virtiofsdSocket(dev).c_str());
  }
  virtiofsd_.clear();
}

void QemuHypervisor::failForHelper(const std::string& why) {
  if (!helperFailure_.empty() || !process_) return;
  helperFailure_ = why + ": the guest's virtio-fs share cannot answer any more, so the VM was stopped";
  log_.error(helperFailure_ + " (its log is in " + config_.runDir + ")");
  qmp_.reset();
  try {
    process_->signal(SIGKILL);
  } catch (const Error& e) {  // exited meanwhile
    log_.warn(std::string("killing QEMU after its virtiofsd died: ") + e.what());
  }
  process_->wait(deadlineIn(std::chrono::seconds(5)));
}

void QemuHypervisor::checkVirtiofsd() {
  if (!process_ || !helperFailure_.empty() || process_->exited()) return;
  for (auto& [dev, p] : virtiofsd_) {
    ExitStatus ex = p.wait(Clock::now());
    if (!ex.exited) continue;
    // QEMU's own exit closes the connection first (a guest that powered off): virtiofsd then ends
    // a moment before QEMU's exit is visible. Only a virtiofsd that died under a live QEMU is a failure.
    if (process_->wait(deadlineIn(std::chrono::milliseconds(500))).exited) return;
    failForHelper("virtiofsd of device " + dev + " (pid " + std::to_string(p.pid()) + ") " +
                  (ex.signal ? "was killed by signal " + std::to_string(ex.signal)
                   : ex.code >= 0 ? "exited with status " + std::to_string(ex.code)
                                  : "exited"));
    return;
  }
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
  // A descriptor the caller opened: QEMU opens its own copy at the same number.
  if (config_.kernel.kernelFd >= 0) qc.kernel.kernel = "/proc/self/fd/" + std::to_string(config_.kernel.kernelFd);
  if (config_.kernel.initrdFd >= 0) qc.kernel.initrd = "/proc/self/fd/" + std::to_string(config_.kernel.initrdFd);
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
  UniqueFd qmpListen = ipc::listenUnix(qmpPath(), 0600, static_cast<gid_t>(-1), 4);
  qemuConfig_ = buildQemuConfig(qmpListen.get());
  // virtio-fs: vmmd listens on the run dir's socket, virtiofsd gets the listening fd, QEMU a
  // connection vmmd opens now (it waits in the backlog until virtiofsd accepts it).
  struct VirtioFsPlan {
    std::string id, dir;
    UniqueFd listen, connection;
  };
  std::vector<VirtioFsPlan> virtioFs;
  for (Device& d : qemuConfig_.devices) {
    auto* v = std::get_if<VirtioFsDevice>(&d);
    if (!v) continue;
    if (options_.virtiofsdBinary.empty())
      fail(ErrorKind::kFailedPrecondition, "VM " + config_.id + " shares " + v->path +
                                               " over virtio-fs, but no virtiofsd binary is configured");
    security::validateAbsolutePath(v->path, "virtio-fs shared directory");
    VirtioFsPlan plan{v->id, v->path, ipc::listenUnix(virtiofsdSocket(v->id), 0600, static_cast<gid_t>(-1), 1), {}};
    // virtiofsd blocks in accept(); the daemon's sockets are non-blocking.
    int flags = KATA_SYSCALL(::fcntl(plan.listen.get(), F_GETFL), "virtiofsd socket flags");
    KATA_SYSCALL(::fcntl(plan.listen.get(), F_SETFL, flags & ~O_NONBLOCK), "virtiofsd socket flags");
    plan.connection = ipc::connectUnix(virtiofsdSocket(v->id));
    v->socketFd = plan.connection.get();
    virtioFs.push_back(std::move(plan));
  }

  LaunchSpec spec;
  spec.sandboxId = config_.id;
  spec.argv = buildQemuArgs(qemuConfig_, *arch_);
  spec.identity = options_.identity;
  spec.passFds = {qmpListen.get()};
  for (int fd : {config_.kernel.kernelFd, config_.kernel.initrdFd})
    if (fd >= 0) spec.passFds.push_back(fd);
  for (const Device& d : qemuConfig_.devices) {
    std::visit(
        [&](const auto& dev) {
          using T = std::decay_t<decltype(dev)>;
          if constexpr (std::is_same_v<T, SerialPortDevice>) {
            if (dev.listenFd >= 0) spec.passFds.push_back(dev.listenFd);
          } else if constexpr (std::is_same_v<T, VsockDevice>) {
            if (dev.vhostFd >= 0) spec.passFds.push_back(dev.vhostFd);
          } else if constexpr (std::is_same_v<T, VirtioFsDevice>) {
            spec.passFds.push_back(dev.socketFd);
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
  process_.emplace(launchJailed(spec, log_, options_.launcher));
  // QEMU waits in the vhost-user handshake for its virtiofsd: launched now, into QEMU's cgroup.
  for (VirtioFsPlan& plan : virtioFs) {
    VirtiofsdSpec vs;
    vs.binary = options_.virtiofsdBinary;
    vs.flavour = options_.virtiofsdFlavour;
    vs.ownerUid = options_.virtiofsdOwnerUid;
    vs.ownerGid = options_.virtiofsdOwnerGid;
    vs.sandboxId = config_.id;
    vs.deviceId = plan.id;
    vs.sharedDir = plan.dir;
    vs.listenFd = plan.listen.get();
    vs.logPath = config_.runDir + "/virtiofsd-" + plan.id + ".log";
    vs.cgroup = process_->cgroup() ? &*process_->cgroup() : nullptr;
    vs.launcher = options_.launcher;
    try {
      virtiofsd_.emplace(plan.id, launchVirtiofsd(vs, log_));
    } catch (...) {
      virtiofsd_.clear();  // kills the ones already started
      process_.reset();    // kills and reaps QEMU, removes its cgroup
      for (const auto& p : virtioFs) (void)::unlink(virtiofsdSocket(p.id).c_str());
      (void)::unlink(qmpPath().c_str());
      throw;
    }
  }
  QmpOptions qo;
  qo.timeout = options_.qmpTimeout;
  try {
    qmp_.emplace(QmpClient::connect(qmpPath(), deadlineIn(options_.qmpTimeout), qo));
  } catch (const Error& e) {
    bool exited = process_->wait(deadlineIn(std::chrono::milliseconds(200))).exited;
    virtiofsd_.clear();  // before QEMU's cgroup goes
    process_.reset();  // kills and reaps it, removes its cgroup
    (void)::unlink(qmpPath().c_str());
    std::string tail = readFileIfExists(AT_FDCWD, spec.logPath, 1 << 16).value_or("");
    while (!tail.empty() && tail.back() == '\n') tail.pop_back();
    fail(e.kind(), "QEMU for sandbox " + config_.id + (exited ? " exited at start-up: " : " did not come up: ") +
                       e.what() +
                       (tail.empty() ? "" : "; QEMU said: " + tail.substr(tail.size() > 2000 ? tail.size() - 2000 : 0)));
  }
}

QmpClient& QemuHypervisor::qmp() {
  if (!process_ || process_->wait(Clock::now()).exited) {
    qmp_.reset();
    fail(ErrorKind::kFailedPrecondition, "VM " + config_.id + " is not running");
  }
  if (!qmp_)
    fail(ErrorKind::kFailedPrecondition, "the hypervisor of VM " + config_.id + " (pid " + std::to_string(pid()) +
                                             ") does not answer on QMP; stop or destroy it");
  return *qmp_;
}

ExitStatus QemuHypervisor::stop(Deadline deadline) {
  if (!process_) fail(ErrorKind::kFailedPrecondition, "VM " + config_.id + " was never launched");
  ExitStatus ex = process_->wait(Clock::now());
  // 1. ACPI power button: a guest that handles it shuts down cleanly (flushes its disks). Only a
  // guest whose CPUs run can answer it; waiting for a paused or never-started one wastes the time.
  if (!ex.exited && qmp_) {
    try {
      if (qmp_->queryStatus().running) {
        qmp_->systemPowerdown();
        ex = process_->wait(half(deadline));
      }
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
    stopVirtiofsd();     // it shares QEMU's cgroup, which goes next
    process_->cleanup();
    (void)::unlink(qmpPath().c_str());  // nobody listens on it any more
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
  checkVirtiofsd();
  ExitStatus ex = process_->wait(Clock::now());
  if (ex.exited) {
    st.state = VmState::kExited;
    st.detail = !helperFailure_.empty() ? helperFailure_
                : ex.signal            ? "killed by signal " + std::to_string(ex.signal)
                                       : "exit code " + std::to_string(ex.code);
    return st;
  }
  if (!qmp_) {
    st.state = VmState::kUnknown;
    st.detail = "QMP does not answer";
    return st;
  }
  QmpStatus q = qmp().queryStatus();
  st.detail = q.status;
  if (q.running) st.state = VmState::kRunning;
  else if (q.status == "prelaunch") st.state = VmState::kNotStarted;
  else if (q.status == "shutdown") st.state = VmState::kShutdown;
  else if (q.status == "paused" || q.status == "suspended") st.state = VmState::kPaused;
  else st.state = VmState::kUnknown;
  return st;
}

unsigned QemuHypervisor::takeFreeSlot(const std::string& deviceId) const {
  for (unsigned i = 0; i < config_.hotplugSlots; ++i) {
    bool used = false;
    for (const auto& [dev, h] : hotplugged_) used = used || h.slot == i;
    if (!used) return i;
  }
  fail(ErrorKind::kFailedPrecondition, "VM " + config_.id + " has no free hot-plug slot for device " + deviceId +
                                           " (all " + std::to_string(config_.hotplugSlots) +
                                           " in use): unplug a device first");
}

void QemuHypervisor::hotplug(const Device& device) {
  const std::string& id = deviceId(device);
  validateDeviceId(id);
  if (hotplugged_.count(id)) fail(ErrorKind::kAlreadyExists, "device " + id + " is already plugged into VM " + config_.id);
  for (const auto& d : config_.devices)
    if (deviceId(d) == id) fail(ErrorKind::kAlreadyExists, "device " + id + " is already plugged into VM " + config_.id);
  unsigned slot = takeFreeSlot(id);
  QmpClient& q = qmp();
  // A block device the client passed as a descriptor goes into an fd set of its own (add-fd; QEMU
  // picks the set id), and QEMU opens it as /dev/fdset/N: a jailed QEMU could not open the client's
  // path, and the descriptor is the client's proof of access.
  int64_t fdset = -1;
  std::optional<Device> viaFdset;
  if (const auto* b = std::get_if<BlockDevice>(&device); b && b->fd >= 0) {
    nlohmann::json r = q.executeWithFd("add-fd", {{"opaque", "blk-" + id}}, b->fd, deadlineIn(std::chrono::seconds(10)));
    if (!r.is_object() || !r.value("fdset-id", nlohmann::json()).is_number_integer())
      fail(ErrorKind::kInternal, "QMP add-fd for device " + id + ": reply has no fdset-id");
    fdset = r["fdset-id"].get<int64_t>();
    BlockDevice copy = *b;
    copy.path = "/dev/fdset/" + std::to_string(fdset);
    viaFdset = copy;
  }
  std::vector<std::string> fdsPassed;
  std::vector<std::pair<std::string, nlohmann::json>> backendsAdded;
  try {
    HotplugPlan plan = planHotplug(viaFdset ? *viaFdset : device, rootPortId(slot), *arch_);
    for (const auto& [name, fd] : plan.fds) {
      q.getfd(name, fd);
      fdsPassed.push_back(name);
    }
    for (const auto& [cmd, args] : plan.backends) {
      q.execute(cmd, args);
      backendsAdded.push_back({cmd, args});
    }
    q.deviceAdd(plan.deviceAdd);
  } catch (...) {
    // Leave QEMU as it was: a backend, named fd or fd set left behind would make the id unusable.
    for (auto b = backendsAdded.rbegin(); b != backendsAdded.rend(); ++b) {
      try {
        if (b->first == "netdev_add") q.netdevDel(b->second.value("id", ""));
        else if (b->first == "blockdev-add") q.execute("blockdev-del", {{"node-name", b->second.value("node-name", "")}});
      } catch (const std::exception& undo) {
        log_.warn("hot-plug of " + id + " failed and undoing " + b->first + " failed too: " + undo.what());
      }
    }
    for (const auto& name : fdsPassed) {
      try {
        q.closefd(name);
      } catch (const std::exception&) {  // consumed by the backend already
      }
    }
    if (fdset >= 0) {
      try {
        q.execute("remove-fd", {{"fdset-id", fdset}});
      } catch (const std::exception&) {
      }
    }
    throw;
  }
  Backend backend = std::holds_alternative<NetDevice>(device)     ? Backend::kNetdev
                    : std::holds_alternative<BlockDevice>(device) ? Backend::kBlockdev
                                                                  : Backend::kNone;
  hotplugged_[id] = Hotplugged{slot, backend, fdset};
}

void QemuHypervisor::unplug(const std::string& id, Deadline deadline) {
  auto it = hotplugged_.find(id);
  if (it == hotplugged_.end()) fail(ErrorKind::kNotFound, "device " + id + " was not hot-plugged into VM " + config_.id);
  qmp().deviceDelAndWait(id, deadline);
  // The backend outlives the device in QEMU; remove it so the id can be reused.
  if (it->second.backend == Backend::kNetdev) qmp().netdevDel("net-" + id);
  if (it->second.backend == Backend::kBlockdev) qmp().execute("blockdev-del", {{"node-name", "blk-" + id}});
  // The fd set keeps the client's descriptor open in QEMU until it is removed.
  if (it->second.fdset >= 0) qmp().execute("remove-fd", {{"fdset-id", it->second.fdset}});
  hotplugged_.erase(it);
  // A cold-plugged device that was unplugged: its id may be plugged again.
  std::erase_if(config_.devices, [&](const Device& d) { return deviceId(d) == id; });
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
  checkVirtiofsd();
  ExitStatus ex = process_->wait(deadline);
  if (ex.exited) ex.reason = helperFailure_;
  return ex;
}

}  // namespace kata::vmmd
