#include "kata-vmmd/sandbox_manager.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>

#include "common/error.h"
#include "common/fs.h"
#include "common/time.h"
#include "ipc/peer_creds.h"
#include "kata-vmmd/accel_probe.h"
#include "kata-vmmd/qemu_config.h"
#include "netdev/tap.h"
#include "kata-vmmd/validation.h"

namespace kata::vmmd {
namespace {

std::chrono::milliseconds boundedTimeout(uint32_t ms) {
  if (ms == 0) ms = 10000;
  return std::chrono::milliseconds(std::min(ms, kMaxTimeoutMs));
}

void makeDir(const std::string& path, mode_t mode) {
  if (::mkdir(path.c_str(), mode) != 0 && errno != EEXIST) throwSysError(errno, "mkdir " + path);
  KATA_SYSCALL(::chmod(path.c_str(), mode), path);
}


}  // namespace

void validateCreateRequest(const CreateRequest& req) {
  security::validateSandboxId(req.sandboxId);
  if (req.vcpus == 0 || req.vcpus > kMaxVcpus)
    fail(ErrorKind::kInvalidArgument, "vcpus " + std::to_string(req.vcpus) + " is out of range 1-" + std::to_string(kMaxVcpus));
  if (req.memoryMiB < kMinMemoryMiB || req.memoryMiB > kMaxMemoryMiB)
    fail(ErrorKind::kInvalidArgument, "memory " + std::to_string(req.memoryMiB) + " MiB is out of range " +
                                          std::to_string(kMinMemoryMiB) + "-" + std::to_string(kMaxMemoryMiB));
  if (req.hotplugSlots > kMaxHotplugSlots)
    fail(ErrorKind::kInvalidArgument, "hotplugSlots " + std::to_string(req.hotplugSlots) + " exceeds " +
                                          std::to_string(kMaxHotplugSlots));
  if (!req.accel.empty()) (void)parseAccel(req.accel);
  validateText(req.kernelCmdline, kMaxCmdlineBytes, "kernel command line");
  (void)netdev::parseModel(req.netModel);
  if (req.netQueues > netdev::kMaxQueues)
    fail(ErrorKind::kInvalidArgument, "netQueues " + std::to_string(req.netQueues) + " exceeds " +
                                          std::to_string(netdev::kMaxQueues));
}

const char* sandboxStateName(SandboxState state) {
  switch (state) {
    case SandboxState::kUnknown: return "unknown";
    case SandboxState::kCreated: return "created";
    case SandboxState::kRunning: return "running";
    case SandboxState::kPaused: return "paused";
    case SandboxState::kStopped: return "stopped";
  }
  return "unknown";
}

SandboxManager::SandboxManager(ManagerOptions options, Logger log)
    : options_(std::move(options)), log_(std::move(log)), registry_((makeDirs(options_.stateDir, 0711),
                                                                    options_.stateDir + "/sandboxes")) {
  // QEMU runs as an ordinary uid: it must traverse to its console log and share root (umask aside).
  KATA_SYSCALL(::chmod(options_.stateDir.c_str(), 0711), options_.stateDir);
  makeDir(options_.stateDir + "/vms", 0711);
  makeDir(options_.stateDir + "/shares", 0711);
  makeDir(options_.stateDir + "/netns", 0700);  // pins of the sandboxes' network namespaces
  if (!options_.cgroupParent.empty()) cgroupLayout_ = security::CgroupLayout::detect(options_.cgroupRoot);
}

SandboxManager::~SandboxManager() {
  for (auto& [_, s] : sandboxes_)
    if (s.vm) s.vm->release();
}

VmConfig SandboxManager::vmConfig(const SandboxRecord& r) const {
  VmConfig c;
  c.id = r.id;
  c.vcpus = r.vcpus;
  c.memory.sizeMiB = r.memoryMiB;
  c.hotplugSlots = r.hotplugSlots + (r.network ? r.network->coldPlugSlots : 0);
  c.runDir = r.runDir;
  c.consoleLogPath = r.consoleLog;
  // The agent channel: vmmd listens (create() fills in the fd), QEMU accepts the guest's port on it.
  // The port name is the one kata-agent looks for by default (agent/main.cc, docs/guest.md).
  c.devices.push_back(SerialPortDevice{"agent", "agent.channel.0", "", -1});
  // The share root, attached at boot; shareDirectory mounts below it while the VM runs.
  c.devices.push_back(FsShareDevice{"share", r.shareDir, "kataShared", FsShareDevice::SecurityModel::kNone, false});
  return c;
}

QemuDriverOptions SandboxManager::driverOptions(const SandboxRecord& r) const {
  QemuDriverOptions o;
  o.qemuBinary = options_.policy.qemuBinary;
  // QEMU runs as the sandbox owner (root's sandboxes: nobody) unless the policy names a VM identity.
  const Policy& p = options_.policy;
  o.identity.uid = p.qemuUid ? p.qemuUid : (r.ownerUid ? r.ownerUid : 65534);
  o.identity.gid = p.qemuUid ? p.qemuGid : (r.ownerUid ? r.ownerGid : 65534);
  if (cgroupLayout_) o.cgroup = CgroupSpec{*cgroupLayout_, options_.cgroupParent, options_.cgroupLimits};
  o.procRoot = options_.procRoot;
  return o;
}

void SandboxManager::recover() {
  for (SandboxRecord& rec : registry_.loadAll(log_)) {
    Sandbox s;
    s.record = rec;
    s.adopted = true;
    Logger log = logFor(rec.id);
    if (rec.stopped) {
      sandboxes_.emplace(rec.id, std::move(s));
      continue;
    }
    QemuAdoption adoption;
    adoption.pid = rec.pid;
    adoption.startTime = rec.startTime;
    if (rec.network)
      for (const auto& nic : rec.network->nics) adoption.netdevs.insert(nic.deviceId);
    for (const auto& entry : rec.hotplugged) {
      auto at = entry.rfind('@');
      if (at == std::string::npos || at + 1 >= entry.size() || entry.size() - at > 3 ||
          entry.find_first_not_of("0123456789", at + 1) != std::string::npos) {
        log.warn("ignoring malformed hot-plug entry " + security::quoteForMessage(entry));
        continue;
      }
      adoption.hotplugSlots[entry.substr(0, at)] = static_cast<unsigned>(std::stoul(entry.substr(at + 1)));
    }
    try {
      s.vm = QemuHypervisor::adopt(vmConfig(rec), driverOptions(rec), hostArch(), log, adoption);
    } catch (const Error& e) {
      log.error("could not re-attach VM process " + std::to_string(rec.pid) + ": " + e.what());
    }
    auto [it, _] = sandboxes_.emplace(rec.id, std::move(s));
    Sandbox& sb = it->second;
    if (!sb.vm) {
      log.warn("VM process " + std::to_string(rec.pid) + " is gone or cannot be re-attached: marking it stopped");
      markStopped(sb, "the hypervisor exited while kata-vmmd was not running");
      continue;
    }
    try {
      VmStatus st = sb.vm->status();
      sb.created = st.state == VmState::kNotStarted;
      log.info("re-adopted VM process " + std::to_string(rec.pid) + " (" + st.detail + ")");
    } catch (const Error& e) {
      log.error("re-adopted VM process " + std::to_string(rec.pid) + " but its status is unknown: " + e.what());
    }
  }
}

Accel SandboxManager::resolvedAccel(const std::string& requested) {
  Accel a = parseAccel(requested.empty() ? options_.policy.accel : requested);
  if (a != Accel::kAuto) return a == Accel::kKvm ? resolveAccel(a, log_) : a;
  if (!autoAccel_) autoAccel_ = resolveAccel(Accel::kAuto, log_);
  return *autoAccel_;
}

Usage SandboxManager::usageOf(uid_t uid) {
  Usage u;
  for (auto& [_, s] : sandboxes_) {
    if (s.record.ownerUid != uid) continue;
    ++u.sandboxes;
    refresh(s);
    if (!s.record.stopped) {
      u.vcpus += s.record.vcpus;
      u.memoryMiB += s.record.memoryMiB;
    }
  }
  return u;
}

SandboxInfo SandboxManager::create(const CallerId& caller, CreateRequest req) {
  validateCreateRequest(req);
  if (!req.kernel && (req.initrd || !req.kernelCmdline.empty()))
    fail(ErrorKind::kInvalidArgument, "an initrd or kernel command line needs a kernel: pass the kernel's descriptor too");
  if (sandboxes_.count(req.sandboxId)) {
    // Another uid's sandbox must stay invisible, yet the id is taken: say so without naming the owner.
    fail(ErrorKind::kAlreadyExists, "sandbox with given ID already exists: " + req.sandboxId);
  }
  authorizeCreate(options_.policy, caller, usageOf(caller.uid), req.vcpus, req.memoryMiB);
  // The pod network's namespace is checked before anything exists on the host for the sandbox.
  std::optional<netdev::Netns> netns;
  if (req.netns) netns.emplace(admitNetns(caller, req.netns.get(), req.sandboxId));
  Accel accel = resolvedAccel(req.accel);

  const std::string& id = req.sandboxId;
  Logger log = logFor(id);
  Sandbox s;
  SandboxRecord& r = s.record;
  r.id = id;
  r.ownerUid = caller.uid;
  r.ownerGid = caller.gid;
  r.runDir = options_.stateDir + "/vms/" + id;
  r.shareDir = options_.stateDir + "/shares/" + id;
  r.qmpSocket = r.runDir + "/qmp.sock";
  r.agentSocket = r.runDir + "/agent.sock";
  r.consoleLog = r.runDir + "/console.log";
  r.vcpus = req.vcpus;
  r.memoryMiB = req.memoryMiB;
  r.hotplugSlots = req.hotplugSlots;
  r.createdAt = rfc3339Nano(std::chrono::system_clock::now());

  QemuDriverOptions opts = driverOptions(r);
  opts.startPaused = req.startPaused || !req.kernel;  // without a kernel there is nothing to run yet
  const security::IdentitySpec identity = opts.identity;
  std::vector<Carried> nics;  // their descriptors stay open until QEMU has its own
  try {
    if (::mkdir(r.runDir.c_str(), 0711) != 0) {
      if (errno == EEXIST)
        fail(ErrorKind::kAlreadyExists, "run directory " + r.runDir + " of sandbox " + id +
                                            " exists without a record: remove it (left by a crash)");
      throwSysError(errno, "mkdir " + r.runDir);
    }
    KATA_SYSCALL(::chmod(r.runDir.c_str(), 0711), r.runDir);
    makeDir(r.shareDir, 0755);
    {
      UniqueFd console(KATA_SYSCALL(::open(r.consoleLog.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600),
                                    r.consoleLog));
      KATA_SYSCALL(::fchown(console.get(), identity.uid, identity.gid), r.consoleLog);
    }
    VmConfig config = vmConfig(r);
    config.accel = accel;
    config.kernel.cmdline = req.kernelCmdline;
    config.kernel.kernelFd = req.kernel.get();
    config.kernel.initrdFd = req.initrd.get();
    UniqueFd agentListen = ipc::listenUnix(r.agentSocket, 0600, static_cast<gid_t>(-1), 4);
    std::get<SerialPortDevice>(config.devices.front()).listenFd = agentListen.get();
    if (netns) {
      // Each interface of the pod's namespace becomes a NIC with its MAC, cold-plugged behind a
      // slot of its own (after the ones asked for), so it can be unplugged like a hot-plugged one.
      pinNetwork(r, *netns);
      nics = carryInterfaces(r, *netns, "", netdev::parseModel(req.netModel), req.netQueues, identity);
      for (size_t k = 0; k < nics.size(); ++k) {
        nics[k].device.bus = rootPortId(req.hotplugSlots + static_cast<unsigned>(k));
        config.devices.push_back(nics[k].device);
        r.network->nics.push_back(nics[k].nic);
      }
      r.network->coldPlugSlots = static_cast<uint32_t>(nics.size());
      config.hotplugSlots = r.hotplugSlots + r.network->coldPlugSlots;
      // QEMU itself runs in the pod's namespace: a QEMU the guest took over reaches the pod's
      // network, never the host's.
      opts.netnsFd = netns->fd();
    }
    s.created = opts.startPaused;
    s.vm = std::make_unique<QemuHypervisor>(std::move(config), std::move(opts), hostArch(), log);
    s.vm->launch();
    nics.clear();  // QEMU has its own descriptors now; the taps live as long as QEMU holds them
    QemuAdoption a = s.vm->adoption();
    r.pid = a.pid;
    r.startTime = a.startTime;
    if (!r.startTime) fail(ErrorKind::kSystem, "QEMU of " + id + " exited right after it started (see " + r.runDir + "/qemu.log)");
    save(s);  // with the slots of the cold-plugged NICs
  } catch (...) {
    s.vm.reset();  // kills and reaps a half-started QEMU, removes its cgroup
    nics.clear();
    teardownNetwork(r);
    removeTree(AT_FDCWD, r.runDir);
    if (::rmdir(r.shareDir.c_str()) != 0 && errno != ENOENT) log.warn("could not remove " + r.shareDir);
    throw;
  }
  log.info("created sandbox for uid " + std::to_string(caller.uid) + ", QEMU pid " + std::to_string(r.pid));
  auto [it, _] = sandboxes_.emplace(id, std::move(s));
  return describe(it->second, false);
}

SandboxManager::Sandbox& SandboxManager::find(const CallerId& caller, const std::string& id) {
  security::validateSandboxId(id);
  auto it = sandboxes_.find(id);
  if (it == sandboxes_.end()) fail(ErrorKind::kNotFound, "sandbox " + id + " does not exist");
  authorizeAccess(caller, it->second.record.ownerUid, id);
  refresh(it->second);
  return it->second;
}

void SandboxManager::refresh(Sandbox& s) {
  if (s.record.stopped) return;
  if (!s.vm) return;
  ExitStatus st = s.vm->waitForExit(std::chrono::steady_clock::now());
  if (st.exited)
    markStopped(s, st.signal ? "the hypervisor was killed by signal " + std::to_string(st.signal)
                             : "the hypervisor exited" + (st.code >= 0 ? " with status " + std::to_string(st.code) : ""));
}

void SandboxManager::markStopped(Sandbox& s, const std::string& reason) {
  s.vm.reset();  // an exited VM: its cgroup is removed with it
  s.record.stopped = true;
  s.record.pid = -1;
  s.record.startTime = 0;
  s.record.stopReason = reason;
  s.record.hotplugged.clear();
  // The sockets belong to a process that is gone.
  (void)::unlink(s.record.qmpSocket.c_str());
  (void)::unlink(s.record.agentSocket.c_str());
  try {
    save(s);
  } catch (const Error& e) {
    logFor(s.record.id).error(std::string("could not record the stop: ") + e.what());
  }
}

void SandboxManager::save(const Sandbox& s) {
  SandboxRecord r = s.record;
  if (s.vm) {
    r.hotplugged.clear();
    for (const auto& [dev, slot] : s.vm->adoption().hotplugSlots) r.hotplugged.push_back(dev + "@" + std::to_string(slot));
  }
  registry_.save(r);
}

QemuHypervisor& SandboxManager::running(Sandbox& s) {
  if (s.record.stopped || !s.vm)
    fail(ErrorKind::kFailedPrecondition, "sandbox " + s.record.id + " is not running (" + s.record.stopReason + ")");
  return *s.vm;
}

SandboxInfo SandboxManager::describe(Sandbox& s, bool ask) {
  SandboxInfo i;
  i.id = s.record.id;
  i.ownerUid = s.record.ownerUid;
  i.pid = s.record.pid;
  i.vcpus = s.record.vcpus;
  i.memoryMiB = s.record.memoryMiB;
  i.adopted = s.adopted;
  if (s.record.stopped) {
    i.state = SandboxState::kStopped;
    i.detail = s.record.stopReason;
    return i;
  }
  if (!ask) {
    i.state = s.created ? SandboxState::kCreated : SandboxState::kRunning;
    return i;
  }
  VmStatus st = s.vm->status();
  i.detail = st.detail;
  switch (st.state) {
    case VmState::kRunning: s.created = false; i.state = SandboxState::kRunning; break;
    case VmState::kNotStarted: i.state = SandboxState::kCreated; break;
    case VmState::kPaused: i.state = s.created ? SandboxState::kCreated : SandboxState::kPaused; break;
    case VmState::kExited: i.state = SandboxState::kStopped; break;
    default: i.state = SandboxState::kUnknown; break;
  }
  return i;
}

SandboxInfo SandboxManager::info(const CallerId& caller, const std::string& id) { return describe(find(caller, id), false); }
SandboxInfo SandboxManager::status(const CallerId& caller, const std::string& id) { return describe(find(caller, id), true); }

std::vector<SandboxInfo> SandboxManager::list(const CallerId& caller) {
  std::vector<SandboxInfo> out;
  for (auto& [_, s] : sandboxes_)
    if (caller.isRoot() || s.record.ownerUid == caller.uid) {
      refresh(s);
      out.push_back(describe(s, false));
    }
  return out;
}

void SandboxManager::start(const CallerId& caller, const std::string& id) {
  Sandbox& s = find(caller, id);
  QemuHypervisor& vm = running(s);
  if (!s.created) fail(ErrorKind::kFailedPrecondition, "sandbox " + id + " is already started");
  vm.resume();
  s.created = false;
}

SandboxInfo SandboxManager::stop(const CallerId& caller, const std::string& id, uint32_t timeoutMs) {
  Sandbox& s = find(caller, id);
  if (!s.record.stopped) {
    std::string reason = "stopped";
    if (s.vm) {
      ExitStatus st = s.vm->stop(deadlineIn(boundedTimeout(timeoutMs)));
      if (!st.exited)
        fail(ErrorKind::kTimeout, "the hypervisor of sandbox " + id + " (pid " + std::to_string(s.record.pid) +
                                      ") survived SIGKILL; try destroy again");
      if (st.signal) reason += " (killed by signal " + std::to_string(st.signal) + ")";
    }
    markStopped(s, reason);
    logFor(id).info("stopped");
  }
  return describe(s, false);
}

void SandboxManager::pause(const CallerId& caller, const std::string& id) {
  Sandbox& s = find(caller, id);
  if (s.created) fail(ErrorKind::kFailedPrecondition, "sandbox " + id + " is not started");
  running(s).pause();
}

void SandboxManager::resume(const CallerId& caller, const std::string& id) {
  Sandbox& s = find(caller, id);
  if (s.created) fail(ErrorKind::kFailedPrecondition, "sandbox " + id + " is not started: call start");
  running(s).resume();
}

VmStats SandboxManager::stats(const CallerId& caller, const std::string& id) { return running(find(caller, id)).stats(); }

void SandboxManager::hotplug(const CallerId& caller, const std::string& id, const Device& device) {
  Sandbox& s = find(caller, id);
  QemuHypervisor& vm = running(s);
  if (auto* g = std::get_if<GenericDevice>(&device)) {
    authorizeEmulatedDevice(options_.policy, g->driver);
    if (!g->properties.empty()) fail(ErrorKind::kInvalidArgument, "emulated devices take no properties");
  } else if (auto* v = std::get_if<VfioDevice>(&device)) {
    authorizeVfio(options_.policy, options_.sysfsRoot, v->hostBdf);
  } else if (auto* b = std::get_if<BlockDevice>(&device)) {
    // The descriptor the client opened is its proof of access (no path is ever opened for it); it
    // must be a regular file or a block device, opened for what the guest may do with it.
    BlockDevice checked = *b;
    UniqueFd readOnlyCopy;
    if (checked.fd < 0) fail(ErrorKind::kInvalidArgument, "block device " + checked.id + ": no file descriptor was passed");
    struct stat st {};
    KATA_SYSCALL(::fstat(checked.fd, &st), "fstat block device " + checked.id);
    if (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode))
      fail(ErrorKind::kInvalidArgument, "block device " + checked.id + ": the passed descriptor is neither a file nor a block device");
    checked.hostDevice = S_ISBLK(st.st_mode);
    int mode = KATA_SYSCALL(::fcntl(checked.fd, F_GETFL), "fcntl block device " + checked.id) & O_ACCMODE;
    if (!checked.readOnly && mode != O_RDWR)
      fail(ErrorKind::kPermissionDenied, "block device " + checked.id +
                                             ": the descriptor is not open for reading and writing; open it O_RDWR "
                                             "or plug it read-only");
    if (checked.readOnly && mode == O_WRONLY)
      fail(ErrorKind::kInvalidArgument, "block device " + checked.id + ": the descriptor is write-only");
    if (checked.readOnly && mode == O_RDWR) {
      // QEMU takes from an fd set only a descriptor of the access mode it opens with (O_RDONLY for a
      // read-only disk): reopen the same file read-only (less than the client was granted).
      std::string self = "/proc/self/fd/" + std::to_string(checked.fd);
      readOnlyCopy = UniqueFd(KATA_SYSCALL(::open(self.c_str(), O_RDONLY | O_CLOEXEC), "reopen block device " + checked.id + " read-only"));
      checked.fd = readOnlyCopy.get();
    }
    vm.hotplug(checked);
    save(s);
    logFor(id).info("hot-plugged block device " + checked.id + (checked.readOnly ? " (read-only)" : ""));
    return;
  } else {
    fail(ErrorKind::kNotSupported, "this device type cannot be hot-plugged through kata-vmmd yet");
  }
  vm.hotplug(device);
  save(s);
  logFor(id).info("hot-plugged device " + deviceId(device));
}

void SandboxManager::unplug(const CallerId& caller, const std::string& id, const std::string& devId, uint32_t timeoutMs) {
  Sandbox& s = find(caller, id);
  running(s).unplug(devId, deadlineIn(boundedTimeout(timeoutMs)));
  save(s);
}

void SandboxManager::shareDirectory(const CallerId& caller, const std::string& id, int dirFd, const std::string& name,
                                    bool readOnly) {
  Sandbox& s = find(caller, id);
  validateShareName(name);
  running(s);
  struct stat st{};
  KATA_SYSCALL(::fstat(dirFd, &st), "fstat shared directory");
  // A directory, or a single file (a container's bind-mounted /etc/hosts, say).
  const bool isFile = S_ISREG(st.st_mode);
  if (!S_ISDIR(st.st_mode) && !isFile)
    fail(ErrorKind::kInvalidArgument, "share " + name + ": the passed descriptor is neither a directory nor a regular file");
  // The fd proves the caller could open the directory; writing through the share needs ownership.
  if (!readOnly && !caller.isRoot() && st.st_uid != caller.uid)
    fail(ErrorKind::kPermissionDenied, "share " + name + ": uid " + std::to_string(caller.uid) +
                                           " does not own the directory; share it read-only");
  for (const auto& n : s.record.shares)
    if (n == name) fail(ErrorKind::kAlreadyExists, "share " + name + " already exists in sandbox " + id);
  if (s.record.shares.size() >= 64) fail(ErrorKind::kFailedPrecondition, "sandbox " + id + " has 64 shares already");
  std::string target = s.record.shareDir + "/" + name;
  UniqueFd tree(KATA_SYSCALL(::open_tree(dirFd, "", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_EMPTY_PATH | AT_RECURSIVE),
                             "open_tree of share " + name));
  mount_attr attr{};
  attr.attr_set = MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | (readOnly ? MOUNT_ATTR_RDONLY : 0);
  KATA_SYSCALL(::mount_setattr(tree.get(), "", AT_EMPTY_PATH | AT_RECURSIVE, &attr, sizeof(attr)), "mount_setattr " + name);
  UniqueFd shareRoot(KATA_SYSCALL(::open(s.record.shareDir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW), s.record.shareDir));
  if (isFile)
    UniqueFd(KATA_SYSCALL(::openat(shareRoot.get(), name.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644),
                          target));
  else
    KATA_SYSCALL(::mkdirat(shareRoot.get(), name.c_str(), 0755), target);
  try {
    KATA_SYSCALL(::move_mount(tree.get(), "", shareRoot.get(), name.c_str(), MOVE_MOUNT_F_EMPTY_PATH), "move_mount to " + target);
  } catch (...) {
    (void)::unlinkat(shareRoot.get(), name.c_str(), isFile ? 0 : AT_REMOVEDIR);
    throw;
  }
  s.record.shares.push_back(name);
  save(s);
  logFor(id).info("shared a directory as " + name + (readOnly ? " (read-only)" : ""));
}

void SandboxManager::unshareDirectory(const CallerId& caller, const std::string& id, const std::string& name) {
  Sandbox& s = find(caller, id);
  validateShareName(name);
  auto it = std::find(s.record.shares.begin(), s.record.shares.end(), name);
  if (it == s.record.shares.end()) fail(ErrorKind::kNotFound, "share " + name + " does not exist in sandbox " + id);
  std::string target = s.record.shareDir + "/" + name;
  if (::umount2(target.c_str(), MNT_DETACH | UMOUNT_NOFOLLOW) != 0 && errno != EINVAL && errno != ENOENT)
    throwSysError(errno, "umount " + target);
  // The mount point is a directory, or an empty file for a shared file.
  if (::rmdir(target.c_str()) != 0 && errno != ENOENT) {
    if (errno != ENOTDIR) throwSysError(errno, "rmdir " + target);
    if (::unlink(target.c_str()) != 0 && errno != ENOENT) throwSysError(errno, "unlink " + target);
  }
  s.record.shares.erase(it);
  save(s);
}

void SandboxManager::removeShares(Sandbox& s) {
  for (const auto& name : s.record.shares) {
    std::string target = s.record.shareDir + "/" + name;
    if (::umount2(target.c_str(), MNT_DETACH | UMOUNT_NOFOLLOW) != 0 && errno != EINVAL && errno != ENOENT)
      throwSysError(errno, "umount " + target);
    if (::rmdir(target.c_str()) != 0 && errno == ENOTDIR) (void)::unlink(target.c_str());  // a shared file
  }
  s.record.shares.clear();
}

UniqueFd SandboxManager::agentChannel(const CallerId& caller, const std::string& id) {
  Sandbox& s = find(caller, id);
  running(s);
  return ipc::connectUnix(s.record.agentSocket);
}

UniqueFd SandboxManager::console(const CallerId& caller, const std::string& id) {
  Sandbox& s = find(caller, id);
  return UniqueFd(KATA_SYSCALL(::open(s.record.consoleLog.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW), s.record.consoleLog));
}

void SandboxManager::destroy(const CallerId& caller, const std::string& id, uint32_t timeoutMs) {
  Sandbox& s = find(caller, id);
  stop(caller, id, timeoutMs);
  // QEMU is gone, and with its descriptors the taps; the tc objects and macvtaps are removed here.
  teardownNetwork(s.record);
  removeShares(s);
  if (::rmdir(s.record.shareDir.c_str()) != 0 && errno != ENOENT) throwSysError(errno, "rmdir " + s.record.shareDir);
  removeTree(AT_FDCWD, s.record.runDir);
  registry_.remove(id);
  sandboxes_.erase(id);
  logFor(id).info("destroyed");
}

}  // namespace kata::vmmd
