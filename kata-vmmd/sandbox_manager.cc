#include "kata-vmmd/sandbox_manager.h"

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <sys/socket.h>
#include <sys/un.h>

#include <algorithm>
#include <chrono>
#include <cstring>

#include "common/error.h"
#include "common/fs.h"
#include "common/time.h"
#include "ipc/peer_creds.h"
#include "kata-vmmd/accel_probe.h"
#include "kata-vmmd/qemu_config.h"
#include "kata-vmmd/validation.h"
#include "netdev/tap.h"

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

// A continuation on the event loop that may throw kata::Error: kj would turn it into an untyped
// "std::exception: ..."; the client must get the kind ("<kind>: <message>").
template <typename F>
auto typedErrors(F&& f) {
  return [f = kj::fwd<F>(f)](auto&&... args) mutable {
    try {
      return f(kj::fwd<decltype(args)>(args)...);
    } catch (const Error& e) {
      throw rpcException(e);
    }
  };
}

// The tap/macvtap descriptors a create may pass to QEMU: what FdPlan::kMaxKeep (64) leaves after the
// VM's own descriptors (QMP, kernel, initrd, agent, virtio-fs) and the launch's plumbing.
constexpr size_t kMaxColdPlugQueueFds = 48;

std::vector<std::string> hotplugEntries(const QemuAdoption& a) {
  std::vector<std::string> out;
  for (const auto& [dev, slot] : a.hotplugSlots) out.push_back(dev + "@" + std::to_string(slot));
  return out;
}

// Connects to the agent socket without blocking: a hypervisor that stopped accepting (hung, or
// SIGSTOPped) fills the socket's backlog, and a blocking connect would then wait forever.
UniqueFd connectAgent(const std::string& path, const std::string& id) {
  ipc::UnixAddress addr = ipc::unixAddress(path);  // a long path is reached through its directory
  UniqueFd fd(KATA_SYSCALL(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0), "agent channel socket"));
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr.addr), sizeof addr.addr) != 0) {
    if (errno == EAGAIN)
      fail(ErrorKind::kFailedPrecondition, "the agent channel of sandbox " + id +
                                               " accepts no more connections (its hypervisor does not accept them: "
                                               "hung or stopped?); close unused channels or try again");
    throwSysError(errno, "connect to the agent channel of sandbox " + id);
  }
  int flags = KATA_SYSCALL(::fcntl(fd.get(), F_GETFL), "agent channel flags");
  KATA_SYSCALL(::fcntl(fd.get(), F_SETFL, flags & ~O_NONBLOCK), "agent channel flags");
  return fd;
}


// virtiofsd serves the share root from a mount namespace of its own, made when it starts (its
// sandbox pivots into a bind mount of the share root): the directories shareDirectory attaches
// later reach it only by mount propagation. So over virtio-fs the share root is a mount of its own,
// a bind of itself made nosuid,nodev and shared (a peer group of its own): what is attached below it
// propagates into virtiofsd's copy, which its sandbox made a slave, and so does every unmount.
void makeShareRootMount(const std::string& dir) {
  UniqueFd d(KATA_SYSCALL(::open(dir.c_str(), O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC), dir));
  UniqueFd tree(KATA_SYSCALL(::open_tree(d.get(), "", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_EMPTY_PATH),
                             "open_tree of the share root " + dir));
  mount_attr attr{};
  attr.attr_set = MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV;
  KATA_SYSCALL(::mount_setattr(tree.get(), "", AT_EMPTY_PATH, &attr, sizeof(attr)), "mount_setattr " + dir);
  KATA_SYSCALL(::move_mount(tree.get(), "", d.get(), "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH),
               "move_mount onto the share root " + dir);
  mount_attr shared{};
  shared.propagation = MS_SHARED;
  try {
    KATA_SYSCALL(::mount_setattr(AT_FDCWD, dir.c_str(), AT_SYMLINK_NOFOLLOW, &shared, sizeof(shared)),
                 "mount_setattr (shared) " + dir);
  } catch (...) {
    (void)::umount2(dir.c_str(), MNT_DETACH | UMOUNT_NOFOLLOW);
    throw;
  }
}

// The share root's own mount (virtio-fs), if there is one.
void removeShareRootMount(const std::string& dir) {
  if (::umount2(dir.c_str(), MNT_DETACH | UMOUNT_NOFOLLOW) != 0 && errno != EINVAL && errno != ENOENT)
    throwSysError(errno, "umount " + dir);
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
  if (req.sharedFs != "virtio-9p" && req.sharedFs != "virtio-fs")
    fail(ErrorKind::kInvalidArgument, "sharedFs " + security::quoteForMessage(req.sharedFs) +
                                          " is not \"virtio-9p\" or \"virtio-fs\"");
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

struct SandboxManager::Launched {
  pid_t pid = -1;
  uint64_t startTime = 0;
  std::vector<std::string> hotplugged;
  std::optional<NetworkRecord> network;
  HelperProcess virtiofsd;
  std::vector<UniqueFd> helperPidfds;
  UniqueFd agentChannel;
  UniqueFd console;
};

void SandboxManager::TaskErrors::taskFailed(kj::Exception&& e) {
  log.error(std::string("internal: detached sandbox bookkeeping failed: ") + e.getDescription().cStr());
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
  // Jobs in flight finish first (their deadlines bound them); then the VMs are let go, running.
  for (auto& [_, s] : sandboxes_) {
    if (!s.runner) continue;
    s.runner->worker.join();
    if (s.runner->vm) s.runner->vm->release();
  }
}

template <typename T>
kj::Promise<T> SandboxManager::detach(kj::Promise<T> work) {
  // The caller's promise is a void one plus a slot for the value: a fulfiller of a T holding
  // descriptors trips g++ 12's maybe-uninitialized inside kj's result type.
  auto paf = kj::newPromiseAndFulfiller<void>();
  auto fulfiller = std::make_shared<kj::Own<kj::PromiseFulfiller<void>>>(kj::mv(paf.fulfiller));
  if constexpr (std::is_void_v<T>) {
    tasks_.add(work.then([fulfiller]() { (*fulfiller)->fulfill(); },
                         [fulfiller](kj::Exception&& e) { (*fulfiller)->reject(kj::mv(e)); }));
    return kj::mv(paf.promise);
  } else {
    auto slot = std::make_shared<std::optional<T>>();
    tasks_.add(work.then(
        [fulfiller, slot](T value) {
          slot->emplace(kj::mv(value));
          (*fulfiller)->fulfill();
        },
        [fulfiller](kj::Exception&& e) { (*fulfiller)->reject(kj::mv(e)); }));
    return paf.promise.then([slot]() -> T { return kj::mv(**slot); });
  }
}

template <typename T, typename Job>
kj::Promise<T> SandboxManager::onVm(Sandbox& s, Job&& job) {
  VmRunner* runner = s.runner.get();
  std::string id = s.record.id;
  return runner->worker.run<T>([runner, id, job = kj::fwd<Job>(job)]() mutable -> T {
    if (!runner->vm) fail(ErrorKind::kFailedPrecondition, "sandbox " + id + " is not running (it was stopped)");
    return job(runner->vm);
  });
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
  // The share root, attached at boot; shareDirectory mounts below it while the VM runs. Over
  // virtio-fs its virtiofsd maps the guest's RAM, which therefore lives in a shared memfd.
  if (r.sharedFs == "virtio-fs") {
    c.memory.backend = MemorySpec::Backend::kMemfd;
    c.devices.push_back(VirtioFsDevice{"share", r.shareDir, "kataShared", -1, 1024});
  } else {
    c.devices.push_back(FsShareDevice{"share", r.shareDir, "kataShared", FsShareDevice::SecurityModel::kNone, false});
  }
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
  o.virtiofsdBinary = options_.policy.virtiofsd;
  o.virtiofsdFlavour = options_.virtiofsdFlavour;
  // virtiofsd's user namespace makes its uid 0 the owner (virtiofsd.h): what the guest's root
  // creates over virtio-fs belongs to the sandbox owner, as it would in a runc container.
  o.virtiofsdOwnerUid = r.ownerUid;
  o.virtiofsdOwnerGid = r.ownerUid ? r.ownerGid : 0;
  o.launcher = options_.launcher;
  return o;
}

void SandboxManager::recover() {
  for (SandboxRecord& rec : registry_.loadAll(log_)) {
    Sandbox s;
    s.record = rec;
    s.adopted = true;
    s.runner = std::make_unique<VmRunner>(rec.id);  // its thread starts with the first job, after hardening
    s.runner->network = rec.network;  // a stopped sandbox's too: destroy removes its plumbing
    Logger log = logFor(rec.id);
    if (rec.stopped) {
      sandboxes_.emplace(rec.id, std::move(s));
      continue;
    }
    QemuAdoption adoption;
    adoption.pid = rec.pid;
    adoption.startTime = rec.startTime;
    if (rec.virtiofsdPid > 0) adoption.virtiofsd["share"] = HelperProcess{rec.virtiofsdPid, rec.virtiofsdStartTime};
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
      s.runner->vm = QemuHypervisor::adopt(vmConfig(rec), driverOptions(rec), hostArch(), log, adoption);
    } catch (const Error& e) {
      log.error("could not re-attach VM process " + std::to_string(rec.pid) + ": " + e.what());
    }
    auto [it, _] = sandboxes_.emplace(rec.id, std::move(s));
    Sandbox& sb = it->second;
    if (!sb.runner->vm) {
      log.warn("VM process " + std::to_string(rec.pid) + " is gone or cannot be re-attached: marking it stopped");
      markStopped(sb, "the hypervisor exited while kata-vmmd was not running");
      continue;
    }
    try {
      watchHelpers(sb, sb.runner->vm->helperPidfds());
      VmStatus st = sb.runner->vm->status();  // no worker thread yet: this thread is the only one
      sb.created = st.state == VmState::kNotStarted;
      log.info("re-adopted VM process " + std::to_string(rec.pid) + " (" + st.detail + ")");
      if (st.state == VmState::kExited) refresh(sb);  // e.g. stopped because its virtiofsd had died
    } catch (const Error& e) {
      log.error("re-adopted VM process " + std::to_string(rec.pid) + " but its status is unknown: " + e.what());
    }
  }
}

Accel SandboxManager::resolvedAccel(const std::string& requested) {
  Accel a = parseAccel(requested.empty() ? options_.policy.accel : requested);
  if (a != Accel::kAuto) return a == Accel::kKvm ? resolveAccel(a, log_) : a;
  // One probe for the daemon's life; a create that arrives meanwhile waits for its verdict.
  std::lock_guard<std::mutex> lock(accelMu_);
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

// On the sandbox's worker: everything of a launch that touches the host, undone if it fails.
SandboxManager::Launched SandboxManager::launch(const SandboxRecord& r, QemuDriverOptions opts, CreateRequest req,
                                                std::optional<netdev::Netns> netns, VmRunner& runner) {
  const std::string& id = r.id;
  Logger log = logFor(id);
  const security::IdentitySpec identity = opts.identity;
  std::unique_ptr<QemuHypervisor>& vm = runner.vm;
  Launched out;
  std::vector<Carried> nics;  // their descriptors stay open until QEMU has its own
  try {
    Accel accel = resolvedAccel(req.accel);
    if (::mkdir(r.runDir.c_str(), 0711) != 0) {
      if (errno == EEXIST)
        fail(ErrorKind::kAlreadyExists, "run directory " + r.runDir + " of sandbox " + id +
                                            " exists without a record: remove it (left by a crash)");
      throwSysError(errno, "mkdir " + r.runDir);
    }
    KATA_SYSCALL(::chmod(r.runDir.c_str(), 0711), r.runDir);
    if (r.sharedFs == "virtio-fs") {
      // virtiofsd acts as the owner's root in it: for root's sandboxes the guest may create files in
      // the share root itself (setuid ones too), so nobody else may reach them (0700); another owner's
      // virtiofsd may only traverse it (group r-x) and cannot write it (root's, outside its id map).
      makeDir(r.shareDir, r.ownerUid ? 0750 : 0700);
      KATA_SYSCALL(::chown(r.shareDir.c_str(), 0, r.ownerUid ? r.ownerGid : 0), r.shareDir);
      makeShareRootMount(r.shareDir);
    } else {
      makeDir(r.shareDir, 0755);  // QEMU's 9p server runs as the VM's uid and must traverse it
    }
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
      runner.network = pinNetwork(id, *netns);
      nics = carryInterfaces(id, *runner.network, *netns, "", netdev::parseModel(req.netModel), req.netQueues, identity);
      for (size_t k = 0; k < nics.size(); ++k) {
        nics[k].device.bus = rootPortId(r.hotplugSlots + static_cast<unsigned>(k));
        config.devices.push_back(nics[k].device);
        runner.network->nics.push_back(nics[k].nic);
      }
      runner.network->coldPlugSlots = static_cast<uint32_t>(nics.size());
      // Every queue is a descriptor on QEMU's command line, and a launch passes at most
      // FdPlan::kMaxKeep (64) in all, the VM's own ones included. Checked once the NICs are in
      // runner.network, so the undo below removes their plumbing.
      size_t queueFds = 0;
      for (const auto& c : nics) queueFds += c.device.tapFds.size();
      if (queueFds > kMaxColdPlugQueueFds)
        fail(ErrorKind::kInvalidArgument,
             "sandbox " + id + ": its " + std::to_string(nics.size()) + " pod interfaces need " + std::to_string(queueFds) +
                 " queue descriptors at creation, at most " + std::to_string(kMaxColdPlugQueueFds) +
                 " can be passed to QEMU: ask for fewer netQueues, or attach interfaces after creation (attachNetwork)");
      config.hotplugSlots = r.hotplugSlots + runner.network->coldPlugSlots;
      // QEMU itself runs in the pod's namespace (the launcher process's child joins it, step C6): a
      // QEMU the guest took over reaches the pod's network, never the host's.
      opts.netnsFd = netns->fd();
    }
    vm = std::make_unique<QemuHypervisor>(std::move(config), std::move(opts), hostArch(), log);
    vm->launch();
    nics.clear();  // QEMU has its own descriptors now; the taps live as long as QEMU holds them
    QemuAdoption a = vm->adoption();
    out.pid = a.pid;
    out.startTime = a.startTime;
    out.hotplugged = hotplugEntries(a);  // the slots of the cold-plugged NICs
    out.network = runner.network;
    if (auto v = a.virtiofsd.find("share"); v != a.virtiofsd.end()) out.virtiofsd = v->second;
    out.helperPidfds = vm->helperPidfds();
    if (!out.startTime) fail(ErrorKind::kSystem, "QEMU of " + id + " exited right after it started (see " + r.runDir + "/qemu.log)");
  } catch (...) {
    vm.reset();  // kills and reaps a half-started QEMU, removes its cgroup
    nics.clear();
    teardownNetwork(id, runner.network);
    removeTree(AT_FDCWD, r.runDir);
    if (r.sharedFs == "virtio-fs") (void)::umount2(r.shareDir.c_str(), MNT_DETACH | UMOUNT_NOFOLLOW);
    if (::rmdir(r.shareDir.c_str()) != 0 && errno != ENOENT) log.warn("could not remove " + r.shareDir);
    throw;
  }
  // The channels createVm hands back; a failure here does not undo a running VM.
  try {
    out.agentChannel = connectAgent(r.agentSocket, id);
    out.console = UniqueFd(KATA_SYSCALL(::open(r.consoleLog.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW), r.consoleLog));
  } catch (const Error& e) {
    log.warn(std::string("created, but could not open its channels: ") + e.what());
  }
  return out;
}

kj::Promise<CreatedSandbox> SandboxManager::create(const CallerId& caller, CreateRequest req) {
  validateCreateRequest(req);
  if (!req.kernel && (req.initrd || !req.kernelCmdline.empty()))
    fail(ErrorKind::kInvalidArgument, "an initrd or kernel command line needs a kernel: pass the kernel's descriptor too");
  if (sandboxes_.count(req.sandboxId)) {
    // Another uid's sandbox must stay invisible, yet the id is taken: say so without naming the owner.
    fail(ErrorKind::kAlreadyExists, "sandbox with given ID already exists: " + req.sandboxId);
  }
  if (req.sharedFs == "virtio-fs" && options_.policy.virtiofsd.empty())
    fail(ErrorKind::kFailedPrecondition,
         "sandbox " + req.sandboxId + " asks for virtio-fs, but this kata-vmmd has no virtiofsd: its policy's "
         "[vm] virtiofsd is empty (the administrator sets it to the virtiofsd binary), or ask for virtio-9p");
  // Counts the sandboxes still being created too, so parallel creates cannot pass a limit together.
  authorizeCreate(options_.policy, caller, usageOf(caller.uid), req.vcpus, req.memoryMiB);
  // The pod network's namespace is checked before anything exists on the host for the sandbox.
  std::optional<netdev::Netns> netns;
  if (req.netns) netns.emplace(admitNetns(caller, req.netns.get(), req.sandboxId));

  const std::string id = req.sandboxId;
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
  r.sharedFs = req.sharedFs;
  r.createdAt = rfc3339Nano(std::chrono::system_clock::now());
  QemuDriverOptions opts = driverOptions(r);
  opts.startPaused = req.startPaused || !req.kernel;  // without a kernel there is nothing to run yet
  s.created = opts.startPaused;
  s.creating = true;
  s.runner = std::make_unique<VmRunner>(id);
  VmRunner* runner = s.runner.get();
  SandboxRecord record = r;
  sandboxes_.emplace(id, std::move(s));

  auto job = [this, runner, record, opts = std::move(opts), req = std::move(req), netns = std::move(netns)]() mutable -> Launched {
    return launch(record, std::move(opts), std::move(req), std::move(netns), *runner);
  };
  auto done = runner->worker.run<Launched>(std::move(job))
                  .then(
                      [this, id, runner](Launched l) -> kj::Promise<CreatedSandbox> {
                        Sandbox& sb = sandboxes_.at(id);  // a creating sandbox is removed only here
                        sb.record.pid = l.pid;
                        sb.record.startTime = l.startTime;
                        sb.record.virtiofsdPid = l.virtiofsd.pid;
                        sb.record.virtiofsdStartTime = l.virtiofsd.startTime;
                        sb.record.hotplugged = std::move(l.hotplugged);
                        sb.record.network = std::move(l.network);
                        try {
                          registry_.save(sb.record);
                        } catch (const Error& e) {
                          // Unrecorded, a restarted daemon would never find this VM: do not keep it.
                          logFor(id).error(std::string("could not record the new sandbox, removing it: ") + e.what());
                          kj::Exception failure = rpcException(e);
                          SandboxRecord rec = sb.record;
                          return runner->worker
                              .run<void>([this, runner, rec] {
                                runner->vm.reset();
                                teardownNetwork(rec.id, runner->network);
                                removeTree(AT_FDCWD, rec.runDir);
                                (void)::umount2(rec.shareDir.c_str(), MNT_DETACH | UMOUNT_NOFOLLOW);
                                (void)::rmdir(rec.shareDir.c_str());
                              })
                              .then([this, id, failure = kj::mv(failure)]() mutable -> kj::Promise<CreatedSandbox> {
                                sandboxes_.erase(id);
                                return kj::mv(failure);
                              });
                        }
                        sb.creating = false;
                        watchHelpers(sb, std::move(l.helperPidfds));
                        logFor(id).info("created sandbox for uid " + std::to_string(sb.record.ownerUid) + ", QEMU pid " +
                                        std::to_string(l.pid));
                        return CreatedSandbox{describe(sb), std::move(l.agentChannel), std::move(l.console)};
                      },
                      [this, id](kj::Exception&& e) -> kj::Promise<CreatedSandbox> {
                        sandboxes_.erase(id);  // the job undid what it had done on the host
                        return kj::mv(e);
                      });
  return detach(std::move(done));
}

SandboxManager::Sandbox& SandboxManager::find(const CallerId& caller, const std::string& id) {
  security::validateSandboxId(id);
  auto it = sandboxes_.find(id);
  if (it == sandboxes_.end() || it->second.creating) fail(ErrorKind::kNotFound, "sandbox " + id + " does not exist");
  authorizeAccess(caller, it->second.record.ownerUid, id);
  refresh(it->second);
  return it->second;
}

SandboxManager::Sandbox* SandboxManager::lookup(const std::string& id) {
  auto it = sandboxes_.find(id);
  return it == sandboxes_.end() || it->second.creating ? nullptr : &it->second;
}

void SandboxManager::refresh(Sandbox& s) {
  if (s.record.stopped || s.creating || !s.runner) return;
  // A call in flight owns the VM now, and will run into the exit itself.
  if (!s.runner->worker.idle() || !s.runner->vm) return;
  ExitStatus st = s.runner->vm->waitForExit(std::chrono::steady_clock::now());
  if (!st.exited) return;
  s.runner->vm.reset();  // an exited VM: its cgroup is removed with it
  markStopped(s, !st.reason.empty() ? st.reason
                 : st.signal       ? "the hypervisor was killed by signal " + std::to_string(st.signal)
                                   : "the hypervisor exited" + (st.code >= 0 ? " with status " + std::to_string(st.code) : ""));
}

void SandboxManager::watchHelpers(Sandbox& s, std::vector<UniqueFd> pidfds) {
  if (!options_.eventPort) return;
  const std::string id = s.record.id;
  for (auto& fd : pidfds) {
    auto w = std::make_unique<HelperWatch>(*options_.eventPort, std::move(fd));
    w->exited = w->observer.whenBecomesReadable()
                    .then([this, id] { helperExited(id); })
                    .eagerlyEvaluate([this, id](kj::Exception&& e) {
                      logFor(id).error(std::string("watching a helper process failed: ") + e.getDescription().cStr());
                    });
    s.helperWatches.push_back(std::move(w));
  }
}

void SandboxManager::helperExited(const std::string& id) {
  Sandbox* s = lookup(id);
  if (!s || s->record.stopped || !s->runner) return;
  // On the worker, after whatever it is doing: the driver decides (a virtiofsd that died under a
  // live QEMU stops the VM; one that followed its QEMU out is the normal end). Then the loop records it.
  VmRunner* runner = s->runner.get();
  tasks_.add(runner->worker
                 .run<void>([runner] {
                   if (runner->vm) (void)runner->vm->waitForExit(std::chrono::steady_clock::now());
                 })
                 .then([this, id] {
                   if (Sandbox* sb = lookup(id)) refresh(*sb);
                 }));
}

// The VM object is already gone (reset by the job that stopped it, or by refresh); this records it.
void SandboxManager::markStopped(Sandbox& s, const std::string& reason) {
  s.record.stopped = true;
  s.record.pid = -1;
  s.record.startTime = 0;
  s.record.virtiofsdPid = -1;
  s.record.virtiofsdStartTime = 0;
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

void SandboxManager::save(const Sandbox& s) { registry_.save(s.record); }

void SandboxManager::requireRunning(const Sandbox& s) const {
  if (s.record.stopped)
    fail(ErrorKind::kFailedPrecondition, "sandbox " + s.record.id + " is not running (" + s.record.stopReason + ")");
}

SandboxInfo SandboxManager::describe(const Sandbox& s) const {
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
  i.state = s.created ? SandboxState::kCreated : SandboxState::kRunning;
  return i;
}

SandboxInfo SandboxManager::describeStatus(Sandbox& s, const VmStatus& st) {
  SandboxInfo i = describe(s);
  if (s.record.stopped) return i;
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

SandboxInfo SandboxManager::info(const CallerId& caller, const std::string& id) { return describe(find(caller, id)); }

kj::Promise<SandboxInfo> SandboxManager::status(const CallerId& caller, const std::string& id) {
  Sandbox& s = find(caller, id);
  if (s.record.stopped) return describe(s);
  return detach(onVm<VmStatus>(s, [](std::unique_ptr<QemuHypervisor>& vm) { return vm->status(); })
                    .then(typedErrors([this, id](VmStatus st) {
                      Sandbox* sb = lookup(id);
                      if (!sb) fail(ErrorKind::kNotFound, "sandbox " + id + " does not exist");
                      return describeStatus(*sb, st);
                    })));
}

std::vector<SandboxInfo> SandboxManager::list(const CallerId& caller) {
  std::vector<SandboxInfo> out;
  for (auto& [_, s] : sandboxes_)
    if (!s.creating && (caller.isRoot() || s.record.ownerUid == caller.uid)) {
      refresh(s);
      out.push_back(describe(s));
    }
  return out;
}

kj::Promise<void> SandboxManager::start(const CallerId& caller, const std::string& id) {
  Sandbox& s = find(caller, id);
  requireRunning(s);
  if (!s.created) fail(ErrorKind::kFailedPrecondition, "sandbox " + id + " is already started");
  return detach(onVm<void>(s, [](std::unique_ptr<QemuHypervisor>& vm) { vm->resume(); }).then([this, id] {
    if (Sandbox* sb = lookup(id)) sb->created = false;
  }));
}

kj::Promise<SandboxInfo> SandboxManager::stop(const CallerId& caller, const std::string& id, uint32_t timeoutMs) {
  Sandbox& s = find(caller, id);
  if (s.record.stopped) return describe(s);
  pid_t pid = s.record.pid;
  Deadline deadline = deadlineIn(boundedTimeout(timeoutMs));
  auto job = [deadline](std::unique_ptr<QemuHypervisor>& vm) {
    ExitStatus st = vm->stop(deadline);
    if (st.exited) vm.reset();
    return st;
  };
  return detach(onVm<ExitStatus>(s, job).then(typedErrors([this, id, pid](ExitStatus st) {
    Sandbox* sb = lookup(id);
    if (!sb) fail(ErrorKind::kNotFound, "sandbox " + id + " does not exist");
    if (!st.exited)
      fail(ErrorKind::kTimeout, "the hypervisor of sandbox " + id + " (pid " + std::to_string(pid) +
                                    ") survived SIGKILL; try destroy again");
    if (!sb->record.stopped) {
      markStopped(*sb, st.signal ? "stopped (killed by signal " + std::to_string(st.signal) + ")" : "stopped");
      logFor(id).info("stopped");
    }
    return describe(*sb);
  })));
}

kj::Promise<void> SandboxManager::pause(const CallerId& caller, const std::string& id) {
  Sandbox& s = find(caller, id);
  if (s.created) fail(ErrorKind::kFailedPrecondition, "sandbox " + id + " is not started");
  requireRunning(s);
  return onVm<void>(s, [](std::unique_ptr<QemuHypervisor>& vm) { vm->pause(); });
}

kj::Promise<void> SandboxManager::resume(const CallerId& caller, const std::string& id) {
  Sandbox& s = find(caller, id);
  if (s.created) fail(ErrorKind::kFailedPrecondition, "sandbox " + id + " is not started: call start");
  requireRunning(s);
  return onVm<void>(s, [](std::unique_ptr<QemuHypervisor>& vm) { vm->resume(); });
}

kj::Promise<VmStats> SandboxManager::stats(const CallerId& caller, const std::string& id) {
  Sandbox& s = find(caller, id);
  requireRunning(s);
  return onVm<VmStats>(s, [](std::unique_ptr<QemuHypervisor>& vm) { return vm->stats(); });
}

kj::Promise<void> SandboxManager::hotplug(const CallerId& caller, const std::string& id, const Device& device) {
  Sandbox& s = find(caller, id);
  requireRunning(s);
  Device plug = device;
  std::shared_ptr<UniqueFd> keep;  // the descriptor the job hands to QEMU: ours until the job ran
  std::string what = "device " + deviceId(device);
  if (auto* g = std::get_if<GenericDevice>(&device)) {
    authorizeEmulatedDevice(options_.policy, g->driver);
    if (!g->properties.empty()) fail(ErrorKind::kInvalidArgument, "emulated devices take no properties");
  } else if (auto* v = std::get_if<VfioDevice>(&device)) {
    authorizeVfio(options_.policy, options_.sysfsRoot, v->hostBdf);
  } else if (auto* b = std::get_if<BlockDevice>(&device)) {
    // The descriptor the client opened is its proof of access (no path is ever opened for it); it
    // must be a regular file or a block device, opened for what the guest may do with it.
    BlockDevice checked = *b;
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
      keep = std::make_shared<UniqueFd>(
          KATA_SYSCALL(::open(self.c_str(), O_RDONLY | O_CLOEXEC), "reopen block device " + checked.id + " read-only"));
    } else {
      // The client's descriptor lives only as long as its call's message: the job gets its own.
      keep = std::make_shared<UniqueFd>(KATA_SYSCALL(::fcntl(checked.fd, F_DUPFD_CLOEXEC, 3), "dup block device " + checked.id));
    }
    checked.fd = keep->get();
    plug = checked;
    what = "block device " + checked.id + (checked.readOnly ? " (read-only)" : "");
  } else {
    fail(ErrorKind::kNotSupported, "this device type cannot be hot-plugged through kata-vmmd yet");
  }
  auto job = [plug, keep](std::unique_ptr<QemuHypervisor>& vm) {
    vm->hotplug(plug);
    return vm->adoption();
  };
  return detach(onVm<QemuAdoption>(s, job).then([this, id, what](QemuAdoption a) {
    Sandbox* sb = lookup(id);
    if (!sb || sb->record.stopped) return;
    sb->record.hotplugged = hotplugEntries(a);
    try {
      save(*sb);
    } catch (const Error& e) {
      logFor(id).error("hot-plugged " + what + " but could not record it: " + e.what());
    }
    logFor(id).info("hot-plugged " + what);
  }));
}

kj::Promise<void> SandboxManager::unplug(const CallerId& caller, const std::string& id, const std::string& devId,
                                         uint32_t timeoutMs) {
  Sandbox& s = find(caller, id);
  requireRunning(s);
  Deadline deadline = deadlineIn(boundedTimeout(timeoutMs));
  VmRunner* runner = s.runner.get();
  auto job = [runner, id, devId, deadline](std::unique_ptr<QemuHypervisor>& vm) {
    // A NIC's plumbing in the pod's namespace goes with it: that is detachInterface's work.
    if (runner->network)
      for (const auto& nic : runner->network->nics)
        if (nic.deviceId == devId)
          fail(ErrorKind::kFailedPrecondition, "device " + devId + " of sandbox " + id + " is the NIC of pod interface " +
                                                   nic.podName + ": remove it with detachInterface(\"" + nic.podName + "\")");
    vm->unplug(devId, deadline);
    return vm->adoption();
  };
  return detach(onVm<QemuAdoption>(s, job).then([this, id, devId](QemuAdoption a) {
    Sandbox* sb = lookup(id);
    if (!sb || sb->record.stopped) return;
    sb->record.hotplugged = hotplugEntries(a);
    try {
      save(*sb);
    } catch (const Error& e) {
      logFor(id).error("unplugged device " + devId + " but could not record it: " + e.what());
    }
  }));
}
void SandboxManager::shareDirectory(const CallerId& caller, const std::string& id, int dirFd, const std::string& name,
                                    bool readOnly) {
  Sandbox& s = find(caller, id);
  validateShareName(name);
  requireRunning(s);
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

namespace {

// Removes dir's entries (dirFd) that live on file system `dev`, depth first; an entry on another file
// system (a mount left below the share root) stops the removal with an error instead.
void removeSameFilesystem(int dirFd, dev_t dev, const std::string& where, int depth) {
  if (depth > 256) fail(ErrorKind::kFailedPrecondition, where + " is nested deeper than 256 directories");
  UniqueFd self(KATA_SYSCALL(::openat(dirFd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC), where));
  DIR* d = ::fdopendir(self.get());
  if (!d) throwSysError(errno, "fdopendir " + where);
  (void)self.release();
  std::unique_ptr<DIR, int (*)(DIR*)> dir(d, ::closedir);
  while (struct dirent* e = ::readdir(dir.get())) {
    std::string name = e->d_name;
    if (name == "." || name == "..") continue;
    struct stat st {};
    KATA_SYSCALL(::fstatat(::dirfd(dir.get()), name.c_str(), &st, AT_SYMLINK_NOFOLLOW), where + "/" + name);
    if (st.st_dev != dev)
      fail(ErrorKind::kFailedPrecondition, where + "/" + name + " is another file system (still mounted?); unmount it");
    if (S_ISDIR(st.st_mode)) {
      UniqueFd sub(KATA_SYSCALL(::openat(::dirfd(dir.get()), name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC),
                                where + "/" + name));
      removeSameFilesystem(sub.get(), dev, where + "/" + name, depth + 1);
      KATA_SYSCALL(::unlinkat(::dirfd(dir.get()), name.c_str(), AT_REMOVEDIR), "rmdir " + where + "/" + name);
    } else {
      KATA_SYSCALL(::unlinkat(::dirfd(dir.get()), name.c_str(), 0), "unlink " + where + "/" + name);
    }
  }
}

}  // namespace

void SandboxManager::removeShareRoot(const Sandbox& s) {
  const std::string& root = s.record.shareDir;
  if (s.record.sharedFs == "virtio-fs") removeShareRootMount(root);
  if (::rmdir(root.c_str()) == 0 || errno == ENOENT) return;
  if (errno != ENOTEMPTY && errno != EEXIST) throwSysError(errno, "rmdir " + root);
  // Files the guest made over virtio-fs in the share root itself.
  UniqueFd fd(KATA_SYSCALL(::open(root.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC), root));
  struct stat st {};
  KATA_SYSCALL(::fstat(fd.get(), &st), root);
  removeSameFilesystem(fd.get(), st.st_dev, root, 0);
  KATA_SYSCALL(::rmdir(root.c_str()), "rmdir " + root);
  logFor(s.record.id).info("removed what the guest had created in its share root");
}

UniqueFd SandboxManager::agentChannel(const CallerId& caller, const std::string& id) {
  Sandbox& s = find(caller, id);
  requireRunning(s);
  return connectAgent(s.record.agentSocket, id);
}

UniqueFd SandboxManager::console(const CallerId& caller, const std::string& id) {
  Sandbox& s = find(caller, id);
  return UniqueFd(KATA_SYSCALL(::open(s.record.consoleLog.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW), s.record.consoleLog));
}

kj::Promise<void> SandboxManager::destroy(const CallerId& caller, const std::string& id, uint32_t timeoutMs) {
  Sandbox& s = find(caller, id);
  Deadline deadline = deadlineIn(boundedTimeout(timeoutMs));
  pid_t pid = s.record.pid;
  // Stopping (when it still runs) is the VM's job; an already stopped sandbox queues a no-op, so the
  // removal below still waits for calls queued before it.
  // Then, on the worker too: QEMU is gone, and with its descriptors the taps; the tc objects,
  // macvtaps and the namespace's pin are removed (netlink inside the pod's namespace).
  VmRunner* runner = s.runner.get();
  auto job = [this, runner, deadline, pid, id]() -> ExitStatus {
    ExitStatus st{true, -1, 0, {}};
    if (runner->vm) {
      st = runner->vm->stop(deadline);
      if (!st.exited)
        fail(ErrorKind::kTimeout, "the hypervisor of sandbox " + id + " (pid " + std::to_string(pid) +
                                      ") survived SIGKILL; try destroy again");
      runner->vm.reset();
    }
    teardownNetwork(id, runner->network);
    return st;
  };
  auto stopped = runner->worker.run<ExitStatus>(std::move(job));
  return detach(stopped.then(typedErrors([this, id](ExitStatus st) {
    Sandbox* sb = lookup(id);
    if (!sb) fail(ErrorKind::kNotFound, "sandbox " + id + " does not exist");
    if (!sb->record.stopped)
      markStopped(*sb, st.signal ? "stopped (killed by signal " + std::to_string(st.signal) + ")" : "stopped");
    sb->record.network.reset();  // torn down by the job
    removeShares(*sb);
    removeShareRoot(*sb);
    removeTree(AT_FDCWD, sb->record.runDir);
    registry_.remove(id);
    sandboxes_.erase(id);  // joins its (idle) worker
    logFor(id).info("destroyed");
  })));
}

// The loop's half of a network job (sandbox_network.cc): the record gets the worker's state, also
// when the job failed part-way.
kj::Promise<SandboxManager::NetworkChange> SandboxManager::recordNetworkChange(const std::string& id,
                                                                             kj::Promise<NetworkChange> job) {
  return detach(job.then(typedErrors([this, id](NetworkChange c) -> NetworkChange {
    if (Sandbox* sb = lookup(id)) {
      sb->record.network = c.network;
      if (!sb->record.stopped) sb->record.hotplugged = c.hotplugged;
      try {
        save(*sb);
      } catch (const Error& e) {
        logFor(id).error(std::string("changed the pod network but could not record it: ") + e.what());
      }
    }
    if (c.failure) throw Error(*c.failure);
    return c;
  })));
}

}  // namespace kata::vmmd
