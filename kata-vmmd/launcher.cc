#include "kata-vmmd/launcher.h"

#include <fcntl.h>
#include <linux/sched.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>

#include "common/error.h"
#include "common/fs.h"
#include "security/caps.h"
#include "security/child_step.h"
#include "security/fds.h"
#include "security/no_new_privs.h"
#include "security/rlimits.h"
#include "security/userns.h"
#include "security/validate.h"

namespace kata::vmmd {
namespace {

enum ChildStep : int {
  kSignals = 1, kSetsid, kStdio, kCloseFds, kCgroup, kNetns, kRlimits, kBoundingSet, kIdentity,
  kCapClear, kNoNewPrivs, kPassFds, kExec, kUserns, kCapKeep,
};

const char* childStepName(int step) {
  switch (step) {
    case kSignals: return "resetting signals";
    case kSetsid: return "setsid";
    case kStdio: return "redirecting stdio to the log";
    case kCloseFds: return "closing inherited file descriptors";
    case kCgroup: return "joining the cgroup";
    case kNetns: return "joining the network namespace (setns)";
    case kRlimits: return "setting resource limits";
    case kBoundingSet: return "dropping the capability bounding set";
    case kIdentity: return "switching to the VM's uid/gid (setgroups/setresgid/setresuid)";
    case kCapClear: return "clearing capabilities";
    case kNoNewPrivs: return "setting no_new_privs";
    case kPassFds: return "passing file descriptors";
    case kExec: return "execve";
    case kUserns: return "creating its user namespace (unshare, uid_map/gid_map)";
    case kCapKeep: return "keeping its capabilities in its user namespace (capset)";
  }
  return "unknown step";
}

// Everything the child needs, prepared by the parent as plain data.
struct ChildPlan {
  security::FdPlan fds;
  security::RlimitPlan rlimits;
  security::CapPlan caps;
  security::IdentityPlan identity;
  security::UserNamespacePlan userns;
  int cgroupProcs[8] = {-1, -1, -1, -1, -1, -1, -1, -1};
  size_t cgroupCount = 0;
  int netnsFd = -1;
  int errorPipe = -1;
  const char* path = nullptr;
  char* const* argv = nullptr;
  char* const* envp = nullptr;
};

[[noreturn]] void childFail(const ChildPlan& plan, int step, int err) noexcept {
  security::ChildFailure f{step, err};
  (void)!::write(plan.errorPipe, &f, sizeof f);
  ::_exit(127);
}

// Formats a pid into buf without allocating; returns the length.
size_t formatPid(pid_t pid, char* buf) {
  char tmp[16];
  size_t n = 0;
  unsigned v = static_cast<unsigned>(pid);
  do {
    tmp[n++] = static_cast<char>('0' + v % 10);
    v /= 10;
  } while (v && n < sizeof tmp);
  for (size_t i = 0; i < n; ++i) buf[i] = tmp[n - 1 - i];
  return n;
}

[[noreturn]] void runChild(const ChildPlan& plan) noexcept {
  // C1: signals. The daemon may block signals (signalfd) or ignore SIGPIPE; QEMU expects defaults.
  sigset_t none;
  sigemptyset(&none);
  if (::syscall(SYS_rt_sigprocmask, SIG_SETMASK, &none, nullptr, _NSIG / 8) < 0) childFail(plan, kSignals, errno);
  for (int sig = 1; sig < _NSIG; ++sig) {
    if (sig == SIGKILL || sig == SIGSTOP) continue;
    struct sigaction sa {};
    sa.sa_handler = SIG_DFL;
    (void)::sigaction(sig, &sa, nullptr);  // EINVAL for the signals glibc reserves: nothing to reset
  }
  // C2
  if (::setsid() < 0) childFail(plan, kSetsid, errno);
  // C3, C4
  if (int e = security::applyFdStdio(plan.fds)) childFail(plan, kStdio, e);
  if (int e = security::applyFdClose(plan.fds)) childFail(plan, kCloseFds, e);
  // C5
  char pidText[16];
  size_t pidLen = formatPid(static_cast<pid_t>(::syscall(SYS_getpid)), pidText);
  for (size_t i = 0; i < plan.cgroupCount; ++i)
    if (::write(plan.cgroupProcs[i], pidText, pidLen) < 0) childFail(plan, kCgroup, errno);
  // C6
  if (plan.netnsFd >= 0 && ::setns(plan.netnsFd, CLONE_NEWNET) < 0) childFail(plan, kNetns, errno);
  // C7
  if (int e = security::applyRlimits(plan.rlimits)) childFail(plan, kRlimits, e);
  // C7b: a user namespace of its own (userns.h), after everything above that needs the host's
  // privileges; from here on its capabilities are the namespace's.
  if (int e = security::applyUnshareUser(plan.userns)) childFail(plan, kUserns, e);
  // C8-C11
  if (plan.userns.enabled) {
    if (int e = security::applyBoundingSetKeep(plan.userns)) childFail(plan, kBoundingSet, e);
  } else if (int e = security::applyBoundingSetDrop(plan.caps)) {
    childFail(plan, kBoundingSet, e);
  }
  if (int e = security::applyIdentity(plan.identity)) childFail(plan, kIdentity, e);
  if (plan.userns.enabled) {
    if (int e = security::applyCapKeep(plan.userns)) childFail(plan, kCapKeep, e);
  } else if (int e = security::applyCapClear()) {
    childFail(plan, kCapClear, e);
  }
  if (int e = security::applyNoNewPrivs()) childFail(plan, kNoNewPrivs, e);
  // C12
  if (int e = security::applyFdPass(plan.fds)) childFail(plan, kPassFds, e);
  ::execve(plan.path, plan.argv, plan.envp);
  childFail(plan, kExec, errno);
}

std::vector<char*> cStrings(const std::vector<std::string>& v) {
  std::vector<char*> out;
  for (const auto& s : v) out.push_back(const_cast<char*>(s.c_str()));
  out.push_back(nullptr);
  return out;
}

}  // namespace

const char* launchStepName(int step) { return childStepName(step); }

UniqueFd openLaunchLog(const std::string& path) {
  return UniqueFd(KATA_SYSCALL(::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600), path));
}

JailedChild startJailedHere(const LaunchSpec& spec, const std::vector<int>& cgroupProcs, bool cloneParent, int givenLog) {
  ChildPlan plan;
  plan.identity = security::prepareIdentity(spec.identity);
  plan.rlimits = security::prepareRlimits(spec.rlimits);
  plan.caps = security::prepareCapDrop();
  plan.netnsFd = spec.netnsFd;
  if (cgroupProcs.size() > std::size(plan.cgroupProcs)) fail(ErrorKind::kInternal, "launcher: too many cgroup hierarchies");
  for (int fd : cgroupProcs) plan.cgroupProcs[plan.cgroupCount++] = fd;

  // P3: log, stdin, the error pipe, every child step as data.
  UniqueFd ownLog = givenLog < 0 ? openLaunchLog(spec.logPath) : UniqueFd();
  int logFd = givenLog < 0 ? ownLog.get() : givenLog;
  UniqueFd devNull(KATA_SYSCALL(::open("/dev/null", O_RDONLY | O_CLOEXEC), "/dev/null"));
  int pipeFds[2];
  KATA_SYSCALL(::pipe2(pipeFds, O_CLOEXEC), "launcher error pipe");
  UniqueFd errRead(pipeFds[0]), errWrite(pipeFds[1]);
  plan.errorPipe = errWrite.get();
  std::optional<security::UserNamespaceSetup> userns;
  if (spec.userns) {
    userns.emplace(security::prepareUserNamespace(*spec.userns, plan.caps.lastCap));
    plan.userns = userns->plan;
  }
  std::vector<int> plumbing = {logFd, devNull.get(), errWrite.get(), spec.netnsFd};
  if (userns) plumbing.insert(plumbing.end(), {userns->readyWrite.get(), userns->goRead.get()});
  plumbing.insert(plumbing.end(), cgroupProcs.begin(), cgroupProcs.end());
  if (spec.netnsFd >= 0 && !(::fcntl(spec.netnsFd, F_GETFD) & FD_CLOEXEC))
    fail(ErrorKind::kInvalidArgument, "launcher: the netns fd must be O_CLOEXEC");
  plan.fds = security::prepareFds(devNull.get(), logFd, spec.passFds, plumbing);
  std::vector<char*> argv = cStrings(spec.argv);
  std::vector<char*> envp = cStrings(spec.env);
  plan.path = spec.argv[0].c_str();
  plan.argv = argv.data();
  plan.envp = envp.data();

  // P4: clone3 with a pidfd. Raw clone3 runs no atfork handlers: the child must stay in runChild.
  // CLONE_PARENT (the launcher process): the child is our parent's, the daemon's, so the daemon
  // reaps it by pidfd; its exit signal is then ours (SIGCHLD), whatever exit_signal says.
  uint64_t flags = CLONE_PIDFD | (cloneParent ? CLONE_PARENT : 0);
  int pidfd = -1;
  struct clone_args args {};
  args.flags = flags;
  args.pidfd = reinterpret_cast<__u64>(&pidfd);
  args.exit_signal = cloneParent ? 0 : SIGCHLD;
  long pid = ::syscall(SYS_clone3, &args, sizeof args);
  if (pid < 0 && errno == ENOSYS) {
    // Under a seccomp filter like the daemon's, clone3 answers ENOSYS (its flags are in memory,
    // which a filter cannot read); clone takes the same flags in a register. The pidfd lands in
    // parent_tid.
    pid = KATA_SYSCALL(::syscall(SYS_clone, flags | (cloneParent ? 0 : SIGCHLD), nullptr, &pidfd, nullptr, nullptr),
                       "clone for sandbox " + spec.sandboxId);
  } else if (pid < 0) {
    throwSysError(errno, "clone3 for sandbox " + spec.sandboxId);
  }
  if (pid == 0) runChild(plan);
  JailedChild child;
  child.pid = static_cast<pid_t>(pid);
  child.pidfd = UniqueFd(pidfd);

  errWrite.reset();
  // P4b: the child's id maps, written from outside its namespace (only a process privileged in the
  // parent namespace may map ids other than its own). If they cannot be, the child reads EOF and
  // fails; the reason is ours.
  int mapErrno = 0;
  if (userns) {
    try {
      (void)security::writeIdMaps(child.pid, *userns);  // false: the child failed first and reports it
    } catch (const Error& e) {
      mapErrno = e.sysErrno() ? e.sysErrno() : (e.kind() == ErrorKind::kTimeout ? ETIMEDOUT : EPROTO);
    }
    userns->goWrite.reset();
  }

  // P5: the child's verdict. EOF: execve succeeded (the pipe is O_CLOEXEC).
  security::ChildFailure failure{};
  ssize_t n;
  do {
    n = ::read(errRead.get(), &failure, sizeof failure);
  } while (n < 0 && errno == EINTR);
  if (n == static_cast<ssize_t>(sizeof failure)) {
    child.failedStep = failure.step;
    child.failedErrno = failure.err;
  } else if (n != 0) {
    child.reportLost = true;
  }
  if (mapErrno) {
    child.failedStep = kUserns;
    child.failedErrno = mapErrno;
    child.reportLost = false;
  }
  return child;
}

LaunchedProcess launchJailed(const LaunchSpec& spec, const Logger& log, LaunchBackend* backend) {
  // P1: validation (the launcher process checks again what it is asked to start).
  security::validateSandboxId(spec.sandboxId);
  if (spec.argv.empty()) fail(ErrorKind::kInvalidArgument, "launcher: empty argv");
  security::validateExecutable(spec.argv[0]);
  security::validateAbsolutePath(spec.logPath, "log path");
  for (const auto& e : spec.env)
    if (e.find('=') == std::string::npos || e.front() == '=')
      fail(ErrorKind::kInvalidArgument, "launcher: environment entry \"" + e + "\" is not NAME=value");
  (void)security::prepareIdentity(spec.identity);  // refuses root unless allowed, before a cgroup exists
  if (spec.userns) {
    security::validateIdMap(spec.userns->uidMap, "user namespace uid map of " + spec.argv[0]);
    security::validateIdMap(spec.userns->gidMap, "user namespace gid map of " + spec.argv[0]);
  }

  // P2: cgroup (created and owned here, in the daemon; the launcher gets only cgroup.procs fds).
  std::optional<security::Cgroup> cgroup;
  std::vector<UniqueFd> procsFds;
  if (spec.cgroup && spec.joinCgroup) fail(ErrorKind::kInternal, "launcher: both a cgroup to create and one to join");
  if (spec.cgroup) {
    cgroup = security::Cgroup::create(spec.cgroup->layout, spec.cgroup->parent, spec.sandboxId, spec.cgroup->limits);
  }
  auto undoCgroup = [&]() noexcept {
    if (!cgroup) return;
    try {
      cgroup->remove();
    } catch (...) {  // the launch error is the one to report
    }
  };
  try {
    if (cgroup) procsFds = cgroup->openProcsFiles();
    else if (spec.joinCgroup) procsFds = spec.joinCgroup->openProcsFiles();
    std::vector<int> procs;
    for (const auto& fd : procsFds) procs.push_back(fd.get());
    JailedChild child = backend ? backend->start(spec, openLaunchLog(spec.logPath).get(), procsFds)
                                : startJailedHere(spec, procs, false);
    // Our unreaped child either way: its pid cannot have been reused, so this is its start time
    // (exec keeps it).
    uint64_t startTime = 0;
    try {
      startTime = processStartTime("/proc", child.pid).value_or(0);
    } catch (const Error&) {  // 0: not adoptable later, reported by the caller
    }
    // From here the process owns the cgroup: if the launch failed it is reaped and the cgroup removed.
    LaunchedProcess proc(child.pid, std::move(child.pidfd), std::move(cgroup), startTime);
    cgroup.reset();
    if (child.failedStep || child.reportLost) {
      proc.wait(deadlineIn(std::chrono::seconds(5)));
      try {
        proc.cleanup();
      } catch (...) {  // the launch error is the one to report
      }
      std::string what = child.reportLost ? "the child died without a report"
                                          : std::string(childStepName(child.failedStep)) + ": " +
                                                std::strerror(child.failedErrno);
      fail(child.failedErrno == EPERM || child.failedErrno == EACCES ? ErrorKind::kPermissionDenied : ErrorKind::kSystem,
           "launching " + spec.argv[0] + " for sandbox " + spec.sandboxId + " failed while " + what);
    }
    log.info("launched " + spec.argv[0] + " for sandbox " + spec.sandboxId + " as pid " + std::to_string(child.pid) +
             " uid " + std::to_string(spec.identity.uid) +
             (proc.cgroup() ? " in cgroup " + proc.cgroup()->relativePath() : "") +
             (backend ? " (through the launcher process)" : ""));
    return proc;
  } catch (...) {
    undoCgroup();
    throw;
  }
}

std::optional<uint64_t> processStartTime(const std::string& procRoot, pid_t pid) {
  if (pid <= 0) return std::nullopt;
  auto stat = readFileIfExists(AT_FDCWD, procRoot + "/" + std::to_string(pid) + "/stat", 4096);
  if (!stat) return std::nullopt;
  // The command name (field 2) is in parentheses and may itself contain ") "; the fields after the
  // last ')' are fixed: state is field 3, starttime field 22.
  auto close = stat->rfind(')');
  if (close == std::string::npos || close + 2 >= stat->size())
    fail(ErrorKind::kInternal, "malformed " + procRoot + "/" + std::to_string(pid) + "/stat");
  size_t pos = close + 2;
  for (int fieldNo = 3; fieldNo < 22; ++fieldNo) {
    pos = stat->find(' ', pos);
    if (pos == std::string::npos) fail(ErrorKind::kInternal, "short " + procRoot + "/" + std::to_string(pid) + "/stat");
    ++pos;
  }
  // A zombie has exited: its VM is gone even though the pid still exists.
  if ((*stat)[close + 2] == 'Z') return std::nullopt;
  try {
    return std::stoull(stat->substr(pos, stat->find(' ', pos) - pos));
  } catch (const std::exception&) {
    fail(ErrorKind::kInternal, "malformed start time in " + procRoot + "/" + std::to_string(pid) + "/stat");
  }
}

std::optional<LaunchedProcess> LaunchedProcess::adopt(pid_t pid, uint64_t startTime,
                                                      std::optional<security::Cgroup> cgroup,
                                                      const std::string& procRoot) {
  auto before = processStartTime(procRoot, pid);
  if (!before || *before != startTime) return std::nullopt;
  int fd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
  if (fd < 0) {
    if (errno == ESRCH) return std::nullopt;
    throwSysError(errno, "pidfd_open " + std::to_string(pid));
  }
  UniqueFd pidfd(fd);
  auto after = processStartTime(procRoot, pid);
  if (!after || *after != startTime) return std::nullopt;
  LaunchedProcess proc(pid, std::move(pidfd), std::move(cgroup), startTime);
  proc.child_ = false;
  return proc;
}

LaunchedProcess::~LaunchedProcess() {
  if (released_ || pid_ <= 0 || !pidfd_) return;
  if (!exit_.exited) {
    (void)::syscall(SYS_pidfd_send_signal, pidfd_.get(), SIGKILL, nullptr, 0);
    try {
      wait(deadlineIn(std::chrono::seconds(5)));
    } catch (...) {  // a destructor reports nothing; the process got SIGKILL
    }
  }
  if (exit_.exited && cgroup_) {
    try {
      cleanup();
    } catch (...) {  // left for the operator; the launch error (if any) is the one reported
    }
  }
}

ExitStatus LaunchedProcess::wait(Deadline deadline) {
  if (exit_.exited) return exit_;
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    struct pollfd p {pidfd_.get(), POLLIN, 0};
    int n = ::poll(&p, 1, left.count() > 0 ? static_cast<int>(std::min<long>(left.count(), 60000)) : 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throwSysError(errno, "poll on pidfd of " + std::to_string(pid_));
    if (n == 0) {
      if (std::chrono::steady_clock::now() >= deadline) return exit_;
      continue;
    }
    if (!child_) {  // its parent (init) reaps it; the status is not ours to know
      exit_.exited = true;
      return exit_;
    }
    siginfo_t info{};
    KATA_SYSCALL(::waitid(P_PIDFD, static_cast<id_t>(pidfd_.get()), &info, WEXITED), "waitid " + std::to_string(pid_));
    exit_.exited = true;
    if (info.si_code == CLD_EXITED) exit_.code = info.si_status;
    else exit_.signal = info.si_status;
    return exit_;
  }
}

void LaunchedProcess::signal(int sig) {
  if (exit_.exited) fail(ErrorKind::kFailedPrecondition, "process " + std::to_string(pid_) + " has exited");
  KATA_SYSCALL(::syscall(SYS_pidfd_send_signal, pidfd_.get(), sig, nullptr, 0), "pidfd_send_signal " + std::to_string(pid_));
}

void LaunchedProcess::cleanup() {
  if (!exit_.exited) fail(ErrorKind::kFailedPrecondition, "process " + std::to_string(pid_) + " is still running");
  if (!cgroup_) return;
  // The kernel drops an exited task from its cgroup before the pidfd reports the exit, but an
  // adopted process's exit is seen on the pidfd, not by reaping it: allow it a moment.
  for (int attempt = 0;; ++attempt) {
    try {
      cgroup_->remove();
      break;
    } catch (const Error& e) {
      if (e.kind() != ErrorKind::kFailedPrecondition || attempt >= 50) throw;
      ::usleep(20000);
    }
  }
  cgroup_.reset();
}

void LaunchedProcess::release() { released_ = true; }

}  // namespace kata::vmmd
