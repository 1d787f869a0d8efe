#include "agent/container_manager.h"

#include <dirent.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include <kj/debug.h>

#include <algorithm>
#include <cstring>
#include <set>

#include "agent/container/console.h"
#include "common/error.h"
#include "common/fs.h"

namespace kata::agent {

// ---- processes ------------------------------------------------------------------------------------

class ManagedProcess {
 public:
  std::string execId;
  pid_t pid = -1;
  bool terminal = false;
  UniqueFd ptyMaster;                                    // for resize; the pumps use their own dups
  // Terminal: resolves once the master arrived from the process (ptyMaster and stdinStream set) or
  // cannot arrive any more (ptyMaster stays empty).
  kj::Maybe<kj::ForkedPromise<void>> terminalArrived;
  kj::Maybe<kj::Own<kj::AsyncOutputStream>> stdinStream;  // null once closed
  kj::Promise<void> stdinTail = kj::READY_NOW;           // serializes writes
  std::optional<int> waitStatus;
  kj::Maybe<kj::ForkedPromise<void>> finished;           // exited and output delivered
};

class Container {
 public:
  std::string id;
  oci::Spec spec;
  std::string rootfs;
  ContainerStatus status = ContainerStatus::kCreated;
  bool ownPidNs = false;
  std::optional<ContainerCgroup> cgroup;
  UniqueFd controlWrite;                      // 'S' = start; closing it makes a created init exit
  kj::Own<kj::AsyncInputStream> initSync;     // the init's sync pipe, read at start()
  std::map<std::string, std::unique_ptr<ManagedProcess>> processes;  // "" = init
  ManagedProcess& init() { return *processes.at(""); }
  ~Container() {
    // Best effort: a cgroup whose processes are not reaped yet cannot go (failed create paths).
    if (cgroup) {
      try {
        cgroup->remove();
      } catch (...) {
      }
    }
  }
};

namespace {

constexpr size_t kSyncMessageMax = 4096;
constexpr size_t kPumpBuffer = 64 * 1024;

bool validIdChar(char c, bool first) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  return !first && (c == '_' || c == '.' || c == '-');
}

kj::Exception toKj(const std::exception& e) { return KJ_EXCEPTION(FAILED, kj::str(e.what())); }

template <typename T, typename Fn>
kj::Promise<T> evalGuarded(Fn&& fn) {
  try {
    return fn();
  } catch (const kj::Exception&) {
    throw;
  } catch (const std::exception& e) {
    return toKj(e);
  }
}

// ---- the child side (runs after clone/fork; reports errors on the sync pipe) ----

struct ChildStdio {
  int in = -1, out = -1, err = -1;  // pipes: dup2'ed onto 0, 1, 2
  // Terminal (when >= 0): the child opens the pty in the container and sends the master here.
  int terminalSocket = -1;
  std::optional<ConsoleSize> consoleSize;
};

void writeAll(int fd, const char* p, size_t n) {
  while (n > 0) {
    ssize_t w = ::write(fd, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return;
    }
    p += w;
    n -= static_cast<size_t>(w);
  }
}

[[noreturn]] void childFail(int syncFd, const std::string& what) {
  std::string msg = "E" + what.substr(0, kSyncMessageMax - 1);
  writeAll(syncFd, msg.data(), msg.size());
  ::_exit(127);
}

// In the container (the init after its root file system is in place, an exec'd process after it
// joined the mount namespace): the pty from the container's own devpts, as runc makes it. The
// master goes to the agent before anything can fail later; the slave is returned for attachStdio.
int openTerminal(const ChildStdio& s) {
  if (s.terminalSocket < 0) return -1;
  ContainerConsole console = openContainerConsole(s.consoleSize);
  sendFd(s.terminalSocket, console.master.get());
  // The child ends in exec or _exit, which run no destructors: the slave lives until the exec.
  return console.slave.release();
}

void attachStdio(const ChildStdio& s, int ptySlave) {
  if (ptySlave >= 0) {
    becomeSessionOnTerminal(ptySlave);
  } else {
    KATA_SYSCALL(::dup2(s.in, 0), "dup2 stdin");
    KATA_SYSCALL(::dup2(s.out, 1), "dup2 stdout");
    KATA_SYSCALL(::dup2(s.err, 2), "dup2 stderr");
  }
  // Nothing of the agent's may leak into the container: every other descriptor closes at exec.
  KATA_SYSCALL(::syscall(SYS_close_range, 3u, ~0u, CLOSE_RANGE_CLOEXEC), "close_range");
}

int readByte(int fd) {
  for (;;) {
    char c = 0;
    ssize_t n = ::read(fd, &c, 1);
    if (n == 1) return static_cast<unsigned char>(c);
    if (n < 0 && errno == EINTR) continue;
    return -1;
  }
}

// ---- the parent side ----

struct Pipe {
  UniqueFd read, write;
  static Pipe make() {
    int fds[2];
    KATA_SYSCALL(::pipe2(fds, O_CLOEXEC), "pipe2");
    return {UniqueFd(fds[0]), UniqueFd(fds[1])};
  }
};

void setWinsize(int fd, unsigned rows, unsigned cols) {
  struct winsize ws {};
  ws.ws_row = static_cast<unsigned short>(rows);
  ws.ws_col = static_cast<unsigned short>(cols);
  KATA_SYSCALL(::ioctl(fd, TIOCSWINSZ, &ws), "ioctl TIOCSWINSZ");
}

// Resolves once a terminal's master has arrived from the process (at once without a terminal).
kj::Promise<void> terminalArrival(ManagedProcess& p) {
  KJ_IF_MAYBE(t, p.terminalArrived) { return t->addBranch(); }
  return kj::READY_NOW;
}

// Reads everything until end of file (bounded): the sync pipe's answer.
// (A heap string: GCC 12 sees a false "maybe uninitialized" in kj::Promise<std::string>.)
using SyncMessage = kj::Own<std::string>;
kj::Promise<SyncMessage> readSync(kj::AsyncInputStream& in, SyncMessage acc = kj::heap<std::string>()) {
  auto buf = kj::heapArray<kj::byte>(1024);
  auto p = in.tryRead(buf.begin(), 1, buf.size());
  return p.then([&in, acc = kj::mv(acc), buf = kj::mv(buf)](size_t n) mutable -> kj::Promise<SyncMessage> {
    if (n == 0 || acc->size() >= kSyncMessageMax) return kj::mv(acc);
    acc->append(reinterpret_cast<const char*>(buf.begin()), n);
    return readSync(in, kj::mv(acc));
  });
}

// Copies `in` into `out` until end of file, one write in flight. A failed write (host gone) drops
// `out` and keeps draining, so the process never blocks on a full pipe.
kj::Promise<void> pump(kj::Own<kj::AsyncInputStream> in, kj::Maybe<ipc::agent::ByteStream::Client> out,
                       const ConsoleLog& log) {
  auto buf = kj::heapArray<kj::byte>(kPumpBuffer);
  // evalNow: a read error may be thrown synchronously by tryRead itself.
  auto read = kj::evalNow([&] { return in->tryRead(buf.begin(), 1, buf.size()); });
  return read
      .then(
          [](size_t n) { return n; },
          // A pty master reports EIO once the last slave is closed: that is its end of file.
          [](kj::Exception&&) -> size_t { return 0; })
      .then([in = kj::mv(in), out = kj::mv(out), buf = kj::mv(buf), &log](size_t n) mutable -> kj::Promise<void> {
        if (n == 0) {
          KJ_IF_MAYBE(o, out) {
            return o->endRequest().send().ignoreResult().catch_([](kj::Exception&&) {});
          }
          return kj::READY_NOW;
        }
        KJ_IF_MAYBE(o, out) {
          auto req = o->writeRequest();
          req.setData(kj::arrayPtr(buf.begin(), n));
          auto sent = req.send();
          // One continuation owns the streams (the two handlers of a then() are built in an
          // unspecified order, so they cannot both take them).
          return sent
              .then([]() { return true; },
                    [&log](kj::Exception&& e) {
                      log.warn("process output stream failed; discarding the rest",
                               {{"error", e.getDescription().cStr()}});
                      return false;
                    })
              .then([in = kj::mv(in), out = kj::mv(out), &log](bool ok) mutable {
                if (!ok) out = nullptr;
                return pump(kj::mv(in), kj::mv(out), log);
              });
        }
        return pump(kj::mv(in), kj::mv(out), log);
      });
}

struct NsEntry {
  const char* name;
  int flag;
};
// setns order: the user namespace first (it owns the others), the mount namespace last (joining it
// changes what paths mean).
constexpr NsEntry kNamespaces[] = {
    {"user", CLONE_NEWUSER}, {"ipc", CLONE_NEWIPC},       {"uts", CLONE_NEWUTS},
    {"cgroup", CLONE_NEWCGROUP}, {"pid", CLONE_NEWPID},   {"mnt", CLONE_NEWNS},
};

int cloneFlagFor(const std::string& type) {
  if (type == "mount") return CLONE_NEWNS;
  if (type == "pid") return CLONE_NEWPID;
  if (type == "uts") return CLONE_NEWUTS;
  if (type == "ipc") return CLONE_NEWIPC;
  if (type == "user") return CLONE_NEWUSER;
  if (type == "cgroup") return CLONE_NEWCGROUP;
  return 0;
}

ino_t nsInode(const std::string& procRoot, pid_t pid, const char* ns) {
  struct stat st {};
  std::string path = procRoot + "/" + std::to_string(pid) + "/ns/" + ns;
  if (::stat(path.c_str(), &st) != 0) return 0;
  return st.st_ino;
}

void writeIdMap(pid_t pid, const char* file, const std::vector<oci::IdMapping>& maps) {
  std::string text;
  for (const auto& m : maps)
    text += std::to_string(m.containerID) + " " + std::to_string(m.hostID) + " " + std::to_string(m.size) + "\n";
  std::string path = "/proc/" + std::to_string(pid) + "/" + file;
  UniqueFd fd(KATA_SYSCALL(::open(path.c_str(), O_WRONLY | O_CLOEXEC), path));
  KATA_SYSCALL(::write(fd.get(), text.data(), text.size()), "write " + path);
}

}  // namespace

void validateId(const std::string& id, const char* what) {
  if (id.empty()) fail(ErrorKind::kInvalidArgument, std::string(what) + " is empty");
  if (id.size() > kMaxIdBytes)
    fail(ErrorKind::kInvalidArgument,
         std::string(what) + " is longer than " + std::to_string(kMaxIdBytes) + " bytes");
  for (size_t i = 0; i < id.size(); ++i)
    if (!validIdChar(id[i], i == 0))
      fail(ErrorKind::kInvalidArgument,
           std::string(what) + " \"" + id + "\" is invalid: use [A-Za-z0-9][A-Za-z0-9_.-]*");
}

int shellExitCode(int waitStatus) {
  if (WIFEXITED(waitStatus)) return WEXITSTATUS(waitStatus);
  if (WIFSIGNALED(waitStatus)) return 128 + WTERMSIG(waitStatus);
  return 255;
}

ContainerManager::ContainerManager(kj::LowLevelAsyncIoProvider& io, kj::Timer& timer, Reaper& reaper,
                                   const LoadedModules& modules, std::unique_ptr<ProcessLauncher> launcher,
                                   const ConsoleLog& log, ManagerPaths paths)
    : io_(io),
      timer_(timer),
      reaper_(reaper),
      modules_(modules),
      launcher_(std::move(launcher)),
      log_(log),
      paths_(std::move(paths)) {}

ContainerManager::~ContainerManager() noexcept {}

Container& ContainerManager::find(const std::string& id) const {
  validateId(id, "container id");
  auto it = containers_.find(id);
  if (it == containers_.end()) fail(ErrorKind::kNotFound, "container \"" + id + "\" does not exist");
  return *it->second;
}

void ContainerManager::requireContainer(const std::string& id) const { (void)find(id); }

void ContainerManager::requireSandbox() const {
  if (!sandbox_) fail(ErrorKind::kFailedPrecondition, "no sandbox exists; call createSandbox first");
}

std::vector<std::string> ContainerManager::list() const {
  std::vector<std::string> ids;
  for (const auto& [id, c] : containers_) ids.push_back(id);
  return ids;
}

// ---- sandbox ----

kj::Promise<void> ContainerManager::waitModules() {
  if (!modules_.loading()) return kj::READY_NOW;
  return timer_.afterDelay(20 * kj::MILLISECONDS).then([this] { return waitModules(); });
}

kj::Promise<void> ContainerManager::createSandbox(SandboxSettings s) {
  return evalGuarded<void>([&]() -> kj::Promise<void> {
    if (sandbox_) fail(ErrorKind::kAlreadyExists, "sandbox \"" + sandbox_->id + "\" already exists; destroy it first");
    validateSandboxSettings(s);
    // The 9p and virtiofs drivers are among the late modules; the shares cannot mount before they are there.
    return waitModules().then([this, s = std::move(s)]() mutable {
      if (sandbox_) fail(ErrorKind::kAlreadyExists, "sandbox \"" + sandbox_->id + "\" already exists");
      if (!s.hostname.empty()) KATA_SYSCALL(::sethostname(s.hostname.data(), s.hostname.size()), "sethostname");
      if (!s.dns.empty()) {
        std::string text;
        for (const auto& d : s.dns) text += "nameserver " + d + "\n";
        auto slash = paths_.resolvConf.rfind('/');
        std::string dir = paths_.resolvConf.substr(0, slash);
        makeDirs(dir, 0755);
        UniqueFd dfd = openDir(dir);
        writeFileAtomic(dfd.get(), paths_.resolvConf.substr(slash + 1), text, 0644);
      }
      makeDirs(paths_.sharedDir, 0755);
      std::vector<std::string> mounted;
      try {
        for (const auto& tag : s.shares) {
          std::string target = paths_.sharedDir + "/" + tag;
          makeDirs(target, 0755);
          if (s.sharedFs == SandboxSettings::SharedFs::kVirtioFs)
            // virtiofsd on the host decides the caching (-o cache=auto); the tag is the device's.
            KATA_SYSCALL(::mount(tag.c_str(), target.c_str(), "virtiofs", MS_NOSUID | MS_NODEV, nullptr),
                         "mount virtiofs tag " + tag + " on " + target +
                             " (does QEMU have -device vhost-user-fs-pci,tag=" + tag + ", and is its virtiofsd up?)");
          else
            KATA_SYSCALL(::mount(tag.c_str(), target.c_str(), "9p", MS_NOSUID | MS_NODEV,
                                 "trans=virtio,version=9p2000.L,cache=none,msize=262144"),
                         "mount 9p tag " + tag + " on " + target +
                             " (does QEMU have -device virtio-9p-pci,mount_tag=" + tag + "?)");
          mounted.push_back(tag);
        }
      } catch (...) {
        for (const auto& tag : mounted) (void)::umount2((paths_.sharedDir + "/" + tag).c_str(), MNT_DETACH);
        throw;
      }
      mountedShares_ = std::move(mounted);
      log_.info("sandbox created", {{"sandbox", s.id},
                                    {"shares", std::to_string(mountedShares_.size())},
                                    {"fs", s.sharedFs == SandboxSettings::SharedFs::kVirtioFs ? "virtiofs" : "9p"}});
      sandbox_ = std::move(s);
    });
  });
}

kj::Promise<void> ContainerManager::destroySandbox() {
  return evalGuarded<void>([&]() -> kj::Promise<void> {
    if (!sandbox_) fail(ErrorKind::kNotFound, "no sandbox exists; call createSandbox first");
    auto ids = list();
    auto removals = kj::heapArrayBuilder<kj::Promise<void>>(ids.size());
    for (const auto& id : ids) removals.add(remove(id, true));
    return kj::joinPromises(removals.finish()).then([this] {
      for (const auto& tag : mountedShares_) {
        std::string target = paths_.sharedDir + "/" + tag;
        if (::umount2(target.c_str(), MNT_DETACH) != 0)
          log_.warn("unmounting a share failed", {{"path", target}, {"error", std::strerror(errno)}});
      }
      mountedShares_.clear();
      log_.info("sandbox destroyed", {{"sandbox", sandbox_->id}});
      sandbox_.reset();
    });
  });
}

// ---- spawning ----

std::unique_ptr<ManagedProcess> ContainerManager::startProcess(Container& c, const std::string& execId,
                                                               const oci::Process& proc, StdioStreams stdio,
                                                               bool init, UniqueFd& syncReadOut) {
  auto mp = std::make_unique<ManagedProcess>();
  mp->execId = execId;
  mp->terminal = proc.terminal;

  // Descriptors the child gets, and the parent's ends. A terminal is opened by the child itself,
  // inside the container, and its master comes back over a socket pair (openTerminal above).
  UniqueFd childIn, childOut, childErr, childTerminal, parentIn, parentOut, parentErr, parentTerminal;
  std::optional<ConsoleSize> consoleSize;
  if (proc.terminal) {
    if (proc.consoleSize) {
      auto rows = proc.consoleSize->height, cols = proc.consoleSize->width;
      if (rows > 0xffff || cols > 0xffff) fail(ErrorKind::kInvalidArgument, "process.consoleSize is larger than 65535");
      consoleSize = ConsoleSize{static_cast<unsigned>(rows), static_cast<unsigned>(cols)};
    }
    int sp[2];
    KATA_SYSCALL(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp), "socketpair for the pty master");
    parentTerminal = UniqueFd(sp[0]);
    childTerminal = UniqueFd(sp[1]);
  } else {
    Pipe in = Pipe::make(), out = Pipe::make(), err = Pipe::make();
    childIn = std::move(in.read);
    parentIn = std::move(in.write);
    childOut = std::move(out.write);
    parentOut = std::move(out.read);
    childErr = std::move(err.write);
    parentErr = std::move(err.read);
  }
  ChildStdio cs{childIn.get(), childOut.get(), childErr.get(), childTerminal.get(), consoleSize};

  Pipe sync = Pipe::make();     // child -> agent: 'R' ready, 'E'<message>; end of file at exec
  Pipe control = Pipe::make();  // agent -> child: 'M' maps written, 'S' start

  oci::Process procCopy = proc;  // the child's view (the parent's may go away first)
  ProcessSetup setup;
  setup.process = &procCopy;
  setup.spec = &c.spec;
  setup.newUts = init && c.spec.findNamespace("uts") != nullptr;
  setup.applySysctl = false;  // the init's rootfs set-up wrote them, before /proc/sys went read-only

  pid_t pid = -1;
  kj::Maybe<kj::Promise<void>> exited;
  if (init) {
    int flags = 0;
    bool userNs = false, cgroupNs = false;
    if (c.spec.linux && c.spec.linux->namespaces)
      for (const auto& ns : *c.spec.linux->namespaces) {
        flags |= cloneFlagFor(ns.type);
        if (ns.type == "user") userNs = true;
      }
    // The cgroup namespace is unshared by the child once the agent has put it in its cgroup, so the
    // namespace's root is the container's cgroup (runc's order).
    if (flags & CLONE_NEWCGROUP) {
      cgroupNs = true;
      flags &= ~CLONE_NEWCGROUP;
    }
    // A raw clone: glibc's clone() wants a separate stack, fork() takes no namespace flags.
    pid = static_cast<pid_t>(KATA_SYSCALL(::syscall(SYS_clone, static_cast<unsigned long>(flags | SIGCHLD),
                                                    nullptr, nullptr, nullptr, nullptr),
                                          "clone the init of container " + c.id));
    if (pid == 0) {
      int syncFd = sync.write.get();
      try {
        sync.read.reset();
        control.write.reset();
        if (readByte(control.read.get()) != 'M') ::_exit(1);  // the agent gave up on us
        if (userNs) {
          KATA_SYSCALL(::setresgid(0, 0, 0), "setresgid 0 in the new user namespace");
          KATA_SYSCALL(::setresuid(0, 0, 0), "setresuid 0 in the new user namespace");
        }
        if (cgroupNs) KATA_SYSCALL(::unshare(CLONE_NEWCGROUP), "unshare the cgroup namespace");
        launcher_->prepareRootfs(c.spec, c.rootfs, c.cgroup ? c.cgroup->path() : std::string());
        // The terminal exists from create on (as with runc, the engine gets the master before start).
        int ptySlave = openTerminal(cs);
        writeAll(syncFd, "R", 1);
        // The start barrier: 'S' lets the process exec; end of file means the container was removed.
        if (readByte(control.read.get()) != 'S') ::_exit(1);
        attachStdio(cs, ptySlave);
        launcher_->exec(setup);
      } catch (const std::exception& e) {
        childFail(syncFd, e.what());
      } catch (...) {
        childFail(syncFd, "unknown error in the container's init process");
      }
    }
    mp->pid = pid;
    exited = reaper_.onExit(pid).then([p = mp.get()](int st) { p->waitStatus = st; });
    try {
      if (c.cgroup) c.cgroup->addProcess(pid);
      if (userNs) {
        if (c.spec.linux->uidMappings) writeIdMap(pid, "uid_map", *c.spec.linux->uidMappings);
        if (c.spec.linux->gidMappings) writeIdMap(pid, "gid_map", *c.spec.linux->gidMappings);
      }
      KATA_SYSCALL(::write(control.write.get(), "M", 1), "write to the init's control pipe");
    } catch (...) {
      ::kill(pid, SIGKILL);
      throw;
    }
    c.controlWrite = std::move(control.write);
  } else {
    // Namespaces of the running init to join (only those that differ from the agent's own).
    std::vector<std::pair<UniqueFd, int>> nsFds;
    pid_t initPid = c.init().pid;
    for (const auto& ns : kNamespaces) {
      ino_t theirs = nsInode(paths_.procRoot, initPid, ns.name);
      if (theirs == 0) fail(ErrorKind::kFailedPrecondition, "container \"" + c.id + "\" is not running");
      if (theirs == nsInode(paths_.procRoot, ::getpid(), ns.name)) continue;
      std::string path = paths_.procRoot + "/" + std::to_string(initPid) + "/ns/" + ns.name;
      nsFds.emplace_back(UniqueFd(KATA_SYSCALL(::open(path.c_str(), O_RDONLY | O_CLOEXEC), path)), ns.flag);
    }
    Pipe pidPipe = Pipe::make();
    pid_t mid = KATA_SYSCALL(::fork(), "fork for exec in container " + c.id);
    if (mid == 0) {
      int syncFd = sync.write.get();
      try {
        // The cgroup first (from the agent's view of the hierarchy); the process inherits it.
        if (c.cgroup) c.cgroup->addProcess(::getpid());
        // (No structured binding: clang 14 cannot capture one in KATA_SYSCALL's lambda.)
        bool joinedUserNs = false;
        for (auto& entry : nsFds) {
          KATA_SYSCALL(::setns(entry.first.get(), entry.second), "setns");
          joinedUserNs |= entry.second == CLONE_NEWUSER;
        }
        // As the init: uid/gid 0 of the container's user namespace, so what the process makes before
        // its user change (its pty in the container's devpts) belongs to a uid mapped there, and
        // the stdio can be given to process.user (the agent's own uid is unmapped in it).
        if (joinedUserNs) {
          KATA_SYSCALL(::setresgid(0, 0, 0), "setresgid 0 in the container's user namespace");
          KATA_SYSCALL(::setresuid(0, 0, 0), "setresuid 0 in the container's user namespace");
        }
        pid_t child = KATA_SYSCALL(::fork(), "fork into the container's pid namespace");
        if (child != 0) {
          writeAll(pidPipe.write.get(), reinterpret_cast<const char*>(&child), sizeof child);
          ::_exit(0);
        }
        attachStdio(cs, openTerminal(cs));
        launcher_->exec(setup);
      } catch (const std::exception& e) {
        childFail(syncFd, e.what());
      } catch (...) {
        childFail(syncFd, "unknown error in the exec'd process");
      }
    }
    pidPipe.write.reset();
    int st = 0;
    KATA_SYSCALL(::waitpid(mid, &st, 0), "waitpid the exec helper");
    pid_t child = -1;
    ssize_t n = ::read(pidPipe.read.get(), &child, sizeof child);
    if (n != static_cast<ssize_t>(sizeof child) || child <= 0) {
      sync.write.reset();
      char msg[kSyncMessageMax] = {};
      ssize_t m = ::read(sync.read.get(), msg, sizeof msg - 1);
      std::string why = m > 1 ? std::string(msg + 1, static_cast<size_t>(m - 1)) : "the exec helper died";
      fail(ErrorKind::kSystem, "exec in container \"" + c.id + "\": " + why);
    }
    // The helper has exited: `child` is now the agent's (PID 1's) child. Registered before the event
    // loop runs again, so its exit cannot be reaped unseen.
    pid = child;
    mp->pid = pid;
    exited = reaper_.onExit(pid).then([p = mp.get()](int s) { p->waitStatus = s; });
  }
  sync.write.reset();
  childIn.reset();
  childOut.reset();
  childErr.reset();
  childTerminal.reset();  // so the socket reports end of file if the child dies before sending

  // Output pumps, joined with the exit so wait() answers after the output was delivered.
  auto pumps = kj::heapArrayBuilder<kj::Promise<void>>(3);
  KJ_IF_MAYBE(e, exited) { pumps.add(kj::mv(*e)); }
  if (parentTerminal) {
    ManagedProcess* p = mp.get();  // the promises below are owned by *p
    auto socket = io_.wrapUnixSocketFd(parentTerminal.release(), kj::LowLevelAsyncIoProvider::TAKE_OWNERSHIP);
    auto& s = *socket;
    auto arrived = s.tryReceiveFd()
                       .attach(kj::mv(socket))
                       .then(
                           [this, p](kj::Maybe<kj::AutoCloseFd> fd) {
                             KJ_IF_MAYBE(f, fd) {
                               UniqueFd master(f->release());
                               KATA_SYSCALL(::fcntl(master.get(), F_SETFD, FD_CLOEXEC), "pty master close-on-exec");
                               int in = KATA_SYSCALL(::fcntl(master.get(), F_DUPFD_CLOEXEC, 3), "dup pty master");
                               p->stdinStream = io_.wrapOutputFd(in, kj::LowLevelAsyncIoProvider::TAKE_OWNERSHIP);
                               p->ptyMaster = std::move(master);
                             }
                           },
                           [this, p](kj::Exception&& e) {
                             log_.warn("no pty master came from the process",
                                       {{"exec_id", p->execId}, {"error", e.getDescription().cStr()}});
                           })
                       .fork();
    pumps.add(arrived.addBranch().then([this, p, out = kj::mv(stdio.stdout)]() mutable -> kj::Promise<void> {
      if (!p->ptyMaster) {
        KJ_IF_MAYBE(o, out) { return o->endRequest().send().ignoreResult().catch_([](kj::Exception&&) {}); }
        return kj::READY_NOW;
      }
      int fd = KATA_SYSCALL(::fcntl(p->ptyMaster.get(), F_DUPFD_CLOEXEC, 3), "dup pty master");
      return pump(io_.wrapInputFd(fd, kj::LowLevelAsyncIoProvider::TAKE_OWNERSHIP), kj::mv(out), log_);
    }));
    p->terminalArrived = kj::mv(arrived);
  } else {
    pumps.add(pump(io_.wrapInputFd(parentOut.release(), kj::LowLevelAsyncIoProvider::TAKE_OWNERSHIP),
                   kj::mv(stdio.stdout), log_));
  }
  if (parentErr)
    pumps.add(pump(io_.wrapInputFd(parentErr.release(), kj::LowLevelAsyncIoProvider::TAKE_OWNERSHIP),
                   kj::mv(stdio.stderr), log_));
  mp->finished = kj::joinPromises(pumps.finish()).fork();
  if (parentIn) mp->stdinStream = io_.wrapOutputFd(parentIn.release(), kj::LowLevelAsyncIoProvider::TAKE_OWNERSHIP);
  syncReadOut = std::move(sync.read);
  return mp;
}

kj::Promise<void> ContainerManager::createContainer(ContainerRequest request, StdioStreams stdio) {
  return evalGuarded<void>([&]() -> kj::Promise<void> {
    const std::string id = request.id;
    validateId(id, "container id");
    requireSandbox();
    if (containers_.count(id)) fail(ErrorKind::kAlreadyExists, "container with given ID already exists");
    if (containers_.size() >= kMaxContainers)
      fail(ErrorKind::kInvalidArgument, "too many containers (limit " + std::to_string(kMaxContainers) + ")");
    const std::string& rootfsShare = request.rootfsShare;
    const std::string& rootfsPath = request.rootfsPath;
    validateId(rootfsShare, "rootfs share");
    if (std::find(mountedShares_.begin(), mountedShares_.end(), rootfsShare) == mountedShares_.end())
      fail(ErrorKind::kNotFound, "rootfs share \"" + rootfsShare + "\" is not mounted; list it in createSandbox");
    std::string shareDir = paths_.sharedDir + "/" + rootfsShare;
    {
      // Beneath the share, no "..", no symlinks: a hostile host cannot point the container elsewhere.
      UniqueFd share = openDir(shareDir);
      (void)openBeneath(share.get(), rootfsPath.empty() ? "." : rootfsPath, O_PATH | O_DIRECTORY | O_CLOEXEC);
    }
    if (!request.spec.process) fail(ErrorKind::kInvalidArgument, "container \"" + id + "\": the OCI spec has no process");
    auto c = std::make_unique<Container>();
    c->id = id;
    c->spec = std::move(request.spec);
    c->rootfs = rootfsPath.empty() ? shareDir : shareDir + "/" + rootfsPath;
    c->ownPidNs = request.ownPidNs;
    c->cgroup = ContainerCgroup::create(paths_.cgroupRoot, paths_.cgroupParent + "/" + id,
                                        c->spec.linux ? c->spec.linux->resources : std::nullopt);
    UniqueFd syncRead;
    auto init = startProcess(*c, "", *c->spec.process, std::move(stdio), true, syncRead);
    c->processes.emplace("", std::move(init));
    auto syncStream = io_.wrapInputFd(syncRead.release(), kj::LowLevelAsyncIoProvider::TAKE_OWNERSHIP);
    auto first = kj::heapArray<kj::byte>(1);
    auto readFirst = syncStream->tryRead(first.begin(), 1, 1);
    Container& ref = *c;
    containers_.emplace(id, std::move(c));
    return readFirst.then([this, id, &ref, syncStream = kj::mv(syncStream),
                           first = kj::mv(first)](size_t n) mutable -> kj::Promise<void> {
      if (n == 1 && first[0] == 'R') {
        ref.initSync = kj::mv(syncStream);
        // A terminal's master was sent before 'R'; answer once it is relayed, so resizeTty and stdin
        // work as soon as the host has the Process.
        return terminalArrival(ref.init()).then([this, id]() -> kj::Promise<void> {
          ManagedProcess& initProcess = process(id, "");
          if (initProcess.terminal && !initProcess.ptyMaster) {
            return discardFailed(id, "").then([id]() -> kj::Promise<void> {
              return KJ_EXCEPTION(FAILED, kj::str("container \"", id,
                                                  "\": set-up of the init process failed: its terminal did not reach "
                                                  "the agent (see the guest console)"));
            });
          }
          log_.info("container created", {{"container", id}, {"pid", std::to_string(initProcess.pid)}});
          return kj::READY_NOW;
        });
      }
      auto& s = *syncStream;
      auto acc = kj::heap<std::string>();
      if (n == 1) acc->push_back(static_cast<char>(first[0]));
      return readSync(s, kj::mv(acc)).then([this, id, syncStream = kj::mv(syncStream)](SyncMessage m) -> kj::Promise<void> {
        std::string why = m->size() < 2 ? std::string("it died before reporting") : m->substr(1);
        return discardFailed(id, "").then([id, why]() -> kj::Promise<void> {
          return KJ_EXCEPTION(FAILED, kj::str("container \"", id, "\": set-up of the init process failed: ", why));
        });
      });
    });
  });
}

kj::Promise<void> ContainerManager::start(const std::string& id) {
  return evalGuarded<void>([&]() -> kj::Promise<void> {
    Container& c = find(id);
    if (c.status != ContainerStatus::kCreated || !c.initSync)
      fail(ErrorKind::kFailedPrecondition, "container \"" + id + "\" is not in the created state");
    KATA_SYSCALL(::write(c.controlWrite.get(), "S", 1), "write to the init's control pipe");
    c.controlWrite.reset();
    c.status = ContainerStatus::kRunning;
    auto sync = kj::mv(c.initSync);
    auto& s = *sync;
    return readSync(s).then([id, sync = kj::mv(sync)](SyncMessage m) -> kj::Promise<void> {
      const std::string& msg = *m;
      if (msg.empty()) return kj::READY_NOW;
      return KJ_EXCEPTION(FAILED, kj::str("container \"", id, "\": starting the init process failed: ",
                                          msg.substr(1)));
    });
  });
}

kj::Promise<void> ContainerManager::exec(const std::string& id, ExecRequest request, StdioStreams stdio) {
  return evalGuarded<void>([&]() -> kj::Promise<void> {
    Container& c = find(id);
    const std::string execId = request.execId;
    validateId(execId, "exec id");
    if (status(id) != ContainerStatus::kRunning)
      fail(ErrorKind::kFailedPrecondition, "container \"" + id + "\" is not running");
    if (c.processes.count(execId)) fail(ErrorKind::kAlreadyExists, "exec id \"" + execId + "\" already exists");
    if (c.processes.size() >= kMaxProcessesPerContainer)
      fail(ErrorKind::kInvalidArgument, "too many processes in container \"" + id + "\"");
    if (!request.wrapped.process) fail(ErrorKind::kInvalidArgument, "exec \"" + execId + "\": no process");
    UniqueFd syncRead;
    auto p = startProcess(c, execId, *request.wrapped.process, std::move(stdio), false, syncRead);
    pid_t pid = p->pid;
    c.processes.emplace(execId, std::move(p));
    auto sync = io_.wrapInputFd(syncRead.release(), kj::LowLevelAsyncIoProvider::TAKE_OWNERSHIP);
    auto& s = *sync;
    return readSync(s).then([this, id, execId, pid, sync = kj::mv(sync)](SyncMessage m) -> kj::Promise<void> {
      const std::string& msg = *m;
      if (msg.empty()) {
        // Exec'd: the master was sent before the exec, so it is on its way or here.
        return terminalArrival(process(id, execId)).then([this, id, execId, pid]() -> kj::Promise<void> {
          ManagedProcess& started = process(id, execId);
          if (started.terminal && !started.ptyMaster) {
            return discardFailed(id, execId).then([id, execId]() -> kj::Promise<void> {
              return KJ_EXCEPTION(FAILED, kj::str("container \"", id, "\": exec \"", execId,
                                                  "\" failed: its terminal did not reach the agent (see the guest console)"));
            });
          }
          log_.info("process started", {{"container", id}, {"exec_id", execId}, {"pid", std::to_string(pid)}});
          return kj::READY_NOW;
        });
      }
      std::string why = msg.substr(1);
      return discardFailed(id, execId).then([id, execId, why]() -> kj::Promise<void> {
        return KJ_EXCEPTION(FAILED, kj::str("container \"", id, "\": exec \"", execId, "\" failed: ", why));
      });
    });
  });
}

kj::Promise<void> ContainerManager::discardFailed(const std::string& id, const std::string& execId) {
  kj::Promise<void> gone = kj::READY_NOW;
  auto c = containers_.find(id);
  if (c != containers_.end()) {
    auto p = c->second->processes.find(execId);
    if (p != c->second->processes.end()) {
      // It is on its way out after reporting (or died); the kill only hurries a stuck one.
      if (!p->second->waitStatus) (void)::kill(p->second->pid, SIGKILL);
      KJ_IF_MAYBE(f, p->second->finished) { gone = f->addBranch(); }
    }
  }
  return timer_.timeoutAfter(10 * kj::SECONDS, kj::mv(gone))
      .catch_([this, id, execId](kj::Exception&& e) {
        log_.warn("a failed process was not reaped in time", {{"container", id}, {"exec_id", execId},
                                                              {"error", e.getDescription().cStr()}});
      })
      .then([this, id, execId]() {
        auto it = containers_.find(id);
        if (it == containers_.end()) return;
        if (execId.empty())
          containers_.erase(it);
        else
          it->second->processes.erase(execId);
      });
}

ContainerStatus ContainerManager::status(const std::string& id) {
  Container& c = find(id);
  if (c.init().waitStatus) c.status = ContainerStatus::kStopped;
  return c.status;
}

pid_t ContainerManager::initPid(const std::string& id) { return find(id).init().pid; }

std::vector<pid_t> ContainerManager::ps(const std::string& id) {
  Container& c = find(id);
  std::vector<pid_t> pids;
  if (status(id) == ContainerStatus::kStopped) return pids;
  if (c.cgroup) {
    pids = c.cgroup->processes();
  } else if (c.ownPidNs) {
    // Every process whose pid namespace is the init's: the container's processes, whoever forked them.
    ino_t ns = nsInode(paths_.procRoot, c.init().pid, "pid");
    UniqueFd dir = openDir(paths_.procRoot);
    DIR* d = ::fdopendir(::dup(dir.get()));
    if (d == nullptr) throwSysError(errno, "opendir " + paths_.procRoot);
    while (struct dirent* e = ::readdir(d)) {
      char* end = nullptr;
      long pid = std::strtol(e->d_name, &end, 10);
      if (end == e->d_name || *end != '\0' || pid <= 0) continue;
      if (ns != 0 && nsInode(paths_.procRoot, static_cast<pid_t>(pid), "pid") == ns)
        pids.push_back(static_cast<pid_t>(pid));
    }
    ::closedir(d);
  } else {
    for (const auto& [execId, p] : c.processes)
      if (!p->waitStatus) pids.push_back(p->pid);
  }
  std::sort(pids.begin(), pids.end());
  return pids;
}

std::vector<ProcessEntry> ContainerManager::processList(const std::string& id) {
  std::vector<pid_t> pids = ps(id);
  return ProcTable(paths_.procRoot).list(pids, ClockSnapshot::now());
}

void ContainerManager::killAll(Container& c, int sig) {
  for (pid_t pid : ps(c.id)) (void)::kill(pid, sig);
}

void ContainerManager::signal(const std::string& id, int sig, bool all) {
  Container& c = find(id);
  if (sig <= 0 || sig >= NSIG) fail(ErrorKind::kInvalidArgument, "signal " + std::to_string(sig) + " is not valid");
  if (status(id) == ContainerStatus::kStopped) fail(ErrorKind::kFailedPrecondition, "container not running");
  if (all) {
    killAll(c, sig);
    return;
  }
  KATA_SYSCALL(::kill(c.init().pid, sig), "kill init of container " + id);
}

kj::Promise<void> ContainerManager::remove(const std::string& id, bool force) {
  return evalGuarded<void>([&]() -> kj::Promise<void> {
    Container& c = find(id);
    ContainerStatus st = status(id);
    if (st != ContainerStatus::kStopped) {
      if (!force)
        fail(ErrorKind::kFailedPrecondition,
             "container \"" + id + "\" is " + (st == ContainerStatus::kCreated ? "created" : "running") +
                 "; stop it first or remove it with force");
      killAll(c, SIGKILL);
      (void)::kill(c.init().pid, SIGKILL);
      c.controlWrite.reset();
    }
    // Wait for every process to be reaped (their outputs drained), then forget the container.
    auto waits = kj::heapArrayBuilder<kj::Promise<void>>(c.processes.size());
    for (auto& [execId, p] : c.processes) {
      if (!p->waitStatus) (void)::kill(p->pid, SIGKILL);
      KJ_IF_MAYBE(f, p->finished) { waits.add(f->addBranch()); }
      else waits.add(kj::READY_NOW);
    }
    return timer_.timeoutAfter(10 * kj::SECONDS, kj::joinPromises(waits.finish()))
        .then([this, id]() {
          auto it = containers_.find(id);
          if (it != containers_.end() && it->second->cgroup) {
            try {
              it->second->cgroup->remove();
            } catch (const std::exception& e) {
              log_.warn("removing a container's cgroup failed", {{"container", id}, {"error", e.what()}});
            }
            it->second->cgroup.reset();
          }
          containers_.erase(id);
          log_.info("container removed", {{"container", id}});
        });
  });
}

namespace {
ContainerCgroup& cgroupOf(Container& c) {
  if (!c.cgroup) fail(ErrorKind::kFailedPrecondition, "container \"" + c.id + "\" has no cgroup");
  return *c.cgroup;
}
}  // namespace

CgroupStats ContainerManager::stats(const std::string& id) { return cgroupOf(find(id)).stats(); }

void ContainerManager::pause(const std::string& id) {
  Container& c = find(id);
  if (status(id) != ContainerStatus::kRunning) fail(ErrorKind::kFailedPrecondition, "container not running");
  cgroupOf(c).freeze();
  c.status = ContainerStatus::kPaused;
}

void ContainerManager::resume(const std::string& id) {
  Container& c = find(id);
  if (status(id) != ContainerStatus::kPaused) fail(ErrorKind::kFailedPrecondition, "container not paused");
  cgroupOf(c).thaw();
  c.status = ContainerStatus::kRunning;
}

void ContainerManager::update(const std::string& id, const oci::Resources& resources) {
  cgroupOf(find(id)).update(resources);
}

kj::Promise<uint64_t> ContainerManager::nextOomEvent(const std::string& id, uint64_t seen) {
  return evalGuarded<uint64_t>([&]() -> kj::Promise<uint64_t> {
    Container& c = find(id);
    uint64_t count = cgroupOf(c).oomKillCount();
    if (count > seen || status(id) == ContainerStatus::kStopped) return count;
    // memory.events changes are rare; a 100 ms poll keeps this simple and cheap.
    return timer_.afterDelay(100 * kj::MILLISECONDS).then([this, id, seen] { return nextOomEvent(id, seen); });
  });
}

ManagedProcess& ContainerManager::process(const std::string& id, const std::string& execId) {
  Container& c = find(id);
  auto it = c.processes.find(execId);
  if (it == c.processes.end())
    fail(ErrorKind::kNotFound, "process \"" + execId + "\" does not exist in container \"" + id + "\"");
  return *it->second;
}

pid_t ContainerManager::processPid(const std::string& id, const std::string& execId) {
  return process(id, execId).pid;
}

kj::Promise<int> ContainerManager::waitProcess(const std::string& id, const std::string& execId) {
  return evalGuarded<int>([&]() -> kj::Promise<int> {
    ManagedProcess& p = process(id, execId);
    kj::Promise<void> done = kj::READY_NOW;
    KJ_IF_MAYBE(f, p.finished) { done = f->addBranch(); }
    return done.then([this, id, execId]() {
      ManagedProcess& q = process(id, execId);
      if (!q.waitStatus) fail(ErrorKind::kInternal, "process finished without an exit status");
      return *q.waitStatus;
    });
  });
}

void ContainerManager::signalProcess(const std::string& id, const std::string& execId, int sig) {
  ManagedProcess& p = process(id, execId);
  if (sig <= 0 || sig >= NSIG) fail(ErrorKind::kInvalidArgument, "signal " + std::to_string(sig) + " is not valid");
  if (p.waitStatus) fail(ErrorKind::kFailedPrecondition, "process \"" + execId + "\" has exited");
  KATA_SYSCALL(::kill(p.pid, sig), "kill " + std::to_string(p.pid));
}

void ContainerManager::resizeTty(const std::string& id, const std::string& execId, unsigned rows, unsigned cols) {
  ManagedProcess& p = process(id, execId);
  if (!p.terminal || !p.ptyMaster) fail(ErrorKind::kFailedPrecondition, "process \"" + execId + "\" has no terminal");
  setWinsize(p.ptyMaster.get(), rows, cols);
}

kj::Promise<void> ContainerManager::writeStdin(const std::string& id, const std::string& execId,
                                               kj::Array<kj::byte> data) {
  return evalGuarded<void>([&]() -> kj::Promise<void> {
    ManagedProcess& p = process(id, execId);
    if (data.size() > kMaxStreamWriteBytes) fail(ErrorKind::kInvalidArgument, "stdin write larger than 1 MiB");
    if (p.stdinStream == nullptr) fail(ErrorKind::kFailedPrecondition, "stdin of process \"" + execId + "\" is closed");
    auto tail = p.stdinTail.then([this, id, execId, data = kj::mv(data)]() mutable -> kj::Promise<void> {
      ManagedProcess& q = process(id, execId);
      KJ_IF_MAYBE(s, q.stdinStream) {
        auto& stream = **s;
        return stream.write(data.begin(), data.size()).attach(kj::mv(data));
      }
      return KJ_EXCEPTION(FAILED, "stdin was closed");
    });
    auto forked = tail.fork();
    p.stdinTail = forked.addBranch().catch_([](kj::Exception&&) {}).eagerlyEvaluate(nullptr);
    return forked.addBranch();
  });
}

void ContainerManager::closeStdin(const std::string& id, const std::string& execId) {
  ManagedProcess& p = process(id, execId);
  if (p.terminal) {
    // The pty stays (it carries the output): end of input is the terminal's EOF character.
    KJ_IF_MAYBE(s, p.stdinStream) {
      auto& stream = **s;
      p.stdinTail = p.stdinTail.then([&stream]() { return stream.write("\x04", 1); })
                        .catch_([](kj::Exception&&) {})
                        .eagerlyEvaluate(nullptr);
    }
    return;
  }
  p.stdinTail = p.stdinTail.then([this, id, execId]() {
                              try {
                                process(id, execId).stdinStream = nullptr;
                              } catch (...) {
                              }
                            })
                    .catch_([](kj::Exception&&) {})
                    .eagerlyEvaluate(nullptr);  // nobody waits for it: it must run by itself
}

// ---- devices ----

namespace {

// How often waitBlockDevice looks: a hot-plug takes hundreds of milliseconds under TCG, and a scan
// of /sys/block is a handful of reads.
constexpr auto kBlockPollInterval = 20 * kj::MILLISECONDS;

// The disk whose serial attribute is `serial` (virtio_blk's serial_show prints the 20 serial bytes
// the device reports, without a newline), or "" when there is none yet.
std::string findDiskBySerial(const std::string& sysRoot, const std::string& serial) {
  std::string blockDir = sysRoot + "/block";
  DIR* d = ::opendir(blockDir.c_str());
  if (d == nullptr) {
    if (errno == ENOENT) return "";
    throwSysError(errno, "opendir " + blockDir);
  }
  std::string found;
  while (struct dirent* e = ::readdir(d)) {
    if (e->d_name[0] == '.') continue;
    auto text = readFileIfExists(AT_FDCWD, blockDir + "/" + e->d_name + "/serial", 256);
    if (!text) continue;
    std::string value = *text;
    while (!value.empty() && (value.back() == '\n' || value.back() == '\0')) value.pop_back();
    if (value == serial) {
      found = e->d_name;
      break;
    }
  }
  ::closedir(d);
  return found;
}

}  // namespace

kj::Promise<kj::String> ContainerManager::waitBlockDevice(const std::string& serial, uint32_t timeoutMs) {
  return evalGuarded<kj::String>([&]() -> kj::Promise<kj::String> {
    if (timeoutMs > kMaxBlockWaitMs)
      fail(ErrorKind::kInvalidArgument, "waitBlockDevice: timeout of " + std::to_string(timeoutMs) +
                                            " ms exceeds the limit of " + std::to_string(kMaxBlockWaitMs) + " ms");
    return pollBlockDevice(serial, timer_.now() + timeoutMs * kj::MILLISECONDS, timeoutMs);
  });
}

kj::Promise<kj::String> ContainerManager::pollBlockDevice(const std::string& serial, kj::TimePoint deadline,
                                                          uint32_t timeoutMs) {
  return evalGuarded<kj::String>([&]() -> kj::Promise<kj::String> {
    std::string name = findDiskBySerial(paths_.sysRoot, serial);
    // devtmpfs creates the node right after the disk registers; the host wants a path it can use.
    if (!name.empty() && pathExists(paths_.devRoot + "/" + name)) {
      log_.info("block device found", {{"serial", serial}, {"device", "/dev/" + name}});
      return kj::str("/dev/", name.c_str());
    }
    if (timer_.now() >= deadline)
      fail(ErrorKind::kTimeout, "no virtio-blk disk with serial \"" + serial + "\" appeared within " +
                                    std::to_string(timeoutMs) + " ms (" +
                                    (name.empty() ? std::string("none in ") + paths_.sysRoot + "/block has it"
                                                  : "disk " + name + " has it, but " + paths_.devRoot + "/" + name +
                                                        " is missing") +
                                    "); was it hot-plugged with serial=" + serial + "?");
    return timer_.afterDelay(kBlockPollInterval).then([this, serial, deadline, timeoutMs] {
      return pollBlockDevice(serial, deadline, timeoutMs);
    });
  });
}

}  // namespace kata::agent
