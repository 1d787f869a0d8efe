#include "kata-vmmd/vm_driver.h"

#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include "common/error.h"
#include "common/fs.h"
#include "ipc/peer_creds.h"
#include "kata-vmmd/qemu_config.h"

namespace kata::vmmd {
namespace {

// Where the passed descriptors land in QEMU (0-2 are its stdio).
constexpr int kQmpFd = 3;
constexpr int kAgentFd = 4;
constexpr int kKernelFd = 5;
constexpr int kInitrdFd = 6;

int pidfdOpen(pid_t pid) { return static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)); }

// Removes "-kernel X", "-initrd X" and "-append X" from argv: a VM without a guest kernel (firmware
// only, CPUs stopped) is what a client gets before it has an image; qemu_config insists on one.
void dropKernelArgs(std::vector<std::string>& argv) {
  for (size_t i = 0; i + 1 < argv.size();) {
    if (argv[i] == "-kernel" || argv[i] == "-initrd" || argv[i] == "-append")
      argv.erase(argv.begin() + static_cast<long>(i), argv.begin() + static_cast<long>(i) + 2);
    else
      ++i;
  }
}

struct SpawnPlan {
  std::vector<std::string> argv;
  std::vector<std::pair<int, int>> fds;  // (descriptor in the daemon, number in the child)
  int logFd = -1;
  int nullFd = -1;
  uid_t uid = 0;
  gid_t gid = 0;
};

// fork + exec with raw calls in the child. The daemon is single-threaded (one kj event loop), so
// fork is safe; the child still only uses async-signal-safe calls.
std::pair<pid_t, UniqueFd> spawn(const SpawnPlan& plan) {
  int errPipe[2];
  KATA_SYSCALL(::pipe2(errPipe, O_CLOEXEC), "error pipe");
  UniqueFd errRead(errPipe[0]), errWrite(errPipe[1]);
  std::vector<char*> argv;
  for (const auto& a : plan.argv) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  char* envp[] = {nullptr};
  bool switchIds = ::geteuid() == 0;

  pid_t pid = KATA_SYSCALL(::fork(), "fork for QEMU");
  if (pid == 0) {
    int step = 0;
    auto die = [&](int s) {
      int report[2] = {s, errno};
      (void)!::write(errWrite.get(), report, sizeof(report));
      ::_exit(127);
    };
    sigset_t all;
    sigemptyset(&all);
    if (::sigprocmask(SIG_SETMASK, &all, nullptr) != 0) die(step);
    for (int s = 1; s < NSIG; ++s) ::signal(s, SIG_DFL);
    step = 1;
    if (::setsid() < 0) die(step);
    step = 2;
    if (::dup2(plan.nullFd, 0) < 0 || ::dup2(plan.logFd, 1) < 0 || ::dup2(plan.logFd, 2) < 0) die(step);
    step = 3;
    int high[8];
    size_t n = std::min<size_t>(plan.fds.size(), 8);
    for (size_t i = 0; i < n; ++i)
      if ((high[i] = ::fcntl(plan.fds[i].first, F_DUPFD_CLOEXEC, 100)) < 0) die(step);
    for (size_t i = 0; i < n; ++i)
      if (::dup2(high[i], plan.fds[i].second) < 0) die(step);
    int top = 2;
    for (size_t i = 0; i < n; ++i) top = std::max(top, plan.fds[i].second);
    // Close everything else, the error pipe excepted (it is close-on-exec).
    for (int fd = top + 1; fd < 1024; ++fd)
      if (fd != errWrite.get()) ::close(fd);
    if (errWrite.get() >= 1024 && ::syscall(SYS_close_range, 1024u, ~0u, 0) != 0) die(step);
    step = 4;
    if (switchIds) {
      if (::syscall(SYS_setgroups, 0, nullptr) != 0) die(step);
      if (::syscall(SYS_setresgid, plan.gid, plan.gid, plan.gid) != 0) die(step);
      if (::syscall(SYS_setresuid, plan.uid, plan.uid, plan.uid) != 0) die(step);
    }
    step = 5;
    if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) die(step);
    step = 6;
    ::execve(argv[0], argv.data(), envp);
    die(step);
  }
  errWrite.reset();
  UniqueFd pidfd(pidfdOpen(pid));  // our unreaped child: the pid cannot be reused yet
  if (!pidfd) {
    int err = errno;
    ::kill(pid, SIGKILL);
    ::waitpid(pid, nullptr, 0);
    throwSysError(err, "pidfd_open for QEMU");
  }
  int report[2] = {0, 0};
  ssize_t got;
  do got = ::read(errRead.get(), report, sizeof(report));
  while (got < 0 && errno == EINTR);
  if (got > 0) {
    ::waitpid(pid, nullptr, 0);
    static const char* steps[] = {"reset signals", "setsid", "set up stdio", "pass descriptors",
                                  "switch to the VM's uid/gid", "set no_new_privs"};
    std::string what = report[0] == 6 ? "execute " + plan.argv[0] : steps[std::clamp(report[0], 0, 5)];
    throwSysError(report[1], "starting QEMU: " + what);
  }
  return {pid, std::move(pidfd)};
}

ExitStatus decode(const siginfo_t& info) {
  ExitStatus st;
  st.exited = true;
  if (info.si_code == CLD_EXITED) st.code = info.si_status;
  else st.signal = info.si_status;
  return st;
}

}  // namespace

QemuVm::QemuVm(VmConfig config, VmLaunchOptions options, Logger log)
    : config_(std::move(config)), options_(std::move(options)), log_(std::move(log)), arch_(hostArch()) {}

std::unique_ptr<QemuVm> QemuVm::adopt(const std::string& sandboxId, pid_t pid, UniqueFd pidfd,
                                      const std::string& qmpSocket, unsigned hotplugSlots,
                                      std::map<std::string, unsigned> ports, Logger log) {
  std::unique_ptr<QemuVm> vm(new QemuVm(std::move(log)));
  vm->config_.id = sandboxId;
  vm->arch_ = hostArch();
  vm->pid_ = pid;
  vm->pidfd_ = std::move(pidfd);
  vm->child_ = false;
  vm->qmpPath_ = qmpSocket;
  vm->slots_ = hotplugSlots;
  vm->ports_ = std::move(ports);
  vm->qmp_.emplace(QmpClient::connect(qmpSocket, deadlineIn(std::chrono::seconds(5))));
  return vm;
}

QemuVm::~QemuVm() {
  if (released_ || !pidfd_ || exit_) return;
  // A VM that nobody owns any more (a failed create): never leave it running.
  (void)::syscall(SYS_pidfd_send_signal, pidfd_.get(), SIGKILL, nullptr, 0);
  if (child_) {
    siginfo_t info{};
    (void)::waitid(static_cast<idtype_t>(P_PIDFD), static_cast<id_t>(pidfd_.get()), &info, WEXITED);
  }
}

void QemuVm::launch() {
  if (pidfd_) fail(ErrorKind::kFailedPrecondition, "VM " + config_.id + " was launched already");
  Accel accel = config_.accel;
  if (accel == Accel::kAuto) fail(ErrorKind::kInternal, "resolve the accelerator before launching " + config_.id);

  UniqueFd qmpListen = ipc::listenUnix(options_.qmpSocketPath, 0600, static_cast<gid_t>(-1));
  UniqueFd agentListen = ipc::listenUnix(options_.agentSocketPath, 0600, static_cast<gid_t>(-1));
  QemuConfig qc;
  qc.binary = options_.qemuBinary;
  qc.name = config_.id;
  qc.accel = accel;
  qc.vcpus = config_.vcpus;
  qc.maxVcpus = config_.maxVcpus;
  qc.memory = config_.memory;
  qc.kernel = config_.kernel;
  bool haveKernel = options_.kernelFd >= 0;
  qc.kernel.kernel = haveKernel ? "/proc/self/fd/" + std::to_string(kKernelFd) : "/none";
  qc.kernel.initrd = options_.initrdFd >= 0 ? "/proc/self/fd/" + std::to_string(kInitrdFd) : "";
  qc.qmp.listenFd = kQmpFd;
  qc.consoleLogPath = config_.consoleLogPath;
  qc.hotplugRootPorts = config_.hotplugSlots;
  qc.devices = config_.devices;
  qc.devices.push_back(SerialPortDevice{"agent", "agent.0", "", kAgentFd});
  if (!options_.shareDir.empty())
    qc.devices.push_back(FsShareDevice{"share", options_.shareDir, "kataShared", FsShareDevice::SecurityModel::kNone, false});
  qc.startPaused = options_.startPaused || !haveKernel;
  std::vector<std::string> argv = buildQemuArgs(qc, *arch_);
  if (!haveKernel) dropKernelArgs(argv);
  for (const auto& a : argv) commandLine_ += (commandLine_.empty() ? "" : " ") + a;

  UniqueFd logFd(KATA_SYSCALL(::open(options_.qemuLogPath.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0600),
                              options_.qemuLogPath));
  UniqueFd nullFd(KATA_SYSCALL(::open("/dev/null", O_RDONLY | O_CLOEXEC), "/dev/null"));
  SpawnPlan plan{argv, {{qmpListen.get(), kQmpFd}, {agentListen.get(), kAgentFd}}, logFd.get(), nullFd.get(),
                 options_.uid, options_.gid};
  if (haveKernel) plan.fds.push_back({options_.kernelFd, kKernelFd});
  if (options_.initrdFd >= 0) plan.fds.push_back({options_.initrdFd, kInitrdFd});
  log_.info("launching " + commandLine_);
  auto [pid, pidfd] = spawn(plan);
  pid_ = pid;
  pidfd_ = std::move(pidfd);
  child_ = true;
  slots_ = config_.hotplugSlots;
  qmpPath_ = options_.qmpSocketPath;
  try {
    qmp_.emplace(QmpClient::connect(qmpPath_, deadlineIn(std::chrono::seconds(10))));
  } catch (const Error& e) {
    auto st = waitForExit(deadlineIn(std::chrono::milliseconds(200)));
    // The run dir goes away with the failed create: quote the end of QEMU's own words.
    std::string tail = readFileIfExists(AT_FDCWD, options_.qemuLogPath, 1 << 20).value_or("");
    if (tail.size() > 1024) tail = tail.substr(tail.size() - 1024);
    while (!tail.empty() && tail.back() == '\n') tail.pop_back();
    fail(ErrorKind::kSystem, "QEMU for " + config_.id + (st.exited ? " exited at start-up" : " did not answer on QMP") +
                                 ": " + e.what() + (tail.empty() ? "" : "; QEMU said: " + tail));
  }
}

QmpClient& QemuVm::qmp() {
  if (exited()) fail(ErrorKind::kFailedPrecondition, "sandbox " + config_.id + " is not running");
  if (!qmp_) qmp_.emplace(QmpClient::connect(qmpPath_, deadlineIn(std::chrono::seconds(5))));
  return *qmp_;
}

bool QemuVm::exited() {
  if (exit_) return true;
  if (!pidfd_) return false;
  waitForExit(std::chrono::steady_clock::now());
  return exit_.has_value();
}

ExitStatus QemuVm::waitForExit(Deadline deadline) {
  if (exit_) return *exit_;
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    pollfd p{pidfd_.get(), POLLIN, 0};
    int rc = ::poll(&p, 1, static_cast<int>(std::max<int64_t>(0, left.count())));
    if (rc < 0 && errno == EINTR) continue;
    if (rc < 0) throwSysError(errno, "poll pidfd of " + config_.id);
    if (rc == 0) return ExitStatus{};
    break;
  }
  ExitStatus st;
  st.exited = true;
  if (child_) {
    siginfo_t info{};
    KATA_SYSCALL(::waitid(static_cast<idtype_t>(P_PIDFD), static_cast<id_t>(pidfd_.get()), &info, WEXITED),
                 "reap QEMU of " + config_.id);
    st = decode(info);
  }
  exit_ = st;
  qmp_.reset();
  return st;
}

ExitStatus QemuVm::stop(Deadline deadline) {
  if (exited()) return *exit_;
  auto now = std::chrono::steady_clock::now();
  auto graceful = now + (deadline - now) / 2;
  // A guest can only power off when it runs; a VM that never started its CPUs is asked to quit.
  bool guestRuns = false;
  try {
    guestRuns = qmp().queryStatus().running;
    if (guestRuns) qmp().systemPowerdown();
  } catch (const Error& e) {
    log_.warn("powerdown of " + config_.id + " failed: " + e.what());
  }
  if (guestRuns) {
    auto st = waitForExit(graceful);
    if (st.exited) return st;
  }
  try {
    if (qmp_) qmp_->quit();
  } catch (const Error& e) {
    log_.warn("quit of " + config_.id + " failed: " + e.what());
  }
  auto st = waitForExit(deadline);
  if (st.exited) return st;
  log_.warn("QEMU of " + config_.id + " did not exit in time: killing it");
  KATA_SYSCALL(static_cast<int>(::syscall(SYS_pidfd_send_signal, pidfd_.get(), SIGKILL, nullptr, 0)), "kill QEMU");
  st = waitForExit(deadlineIn(std::chrono::seconds(10)));
  if (!st.exited) fail(ErrorKind::kTimeout, "QEMU of " + config_.id + " survived SIGKILL for 10 s");
  return st;
}

void QemuVm::pause() { qmp().stop(); }
void QemuVm::resume() { qmp().cont(); }

VmStatus QemuVm::status() {
  VmStatus s;
  if (exited()) {
    s.state = VmState::kExited;
    return s;
  }
  s.pid = pid_;
  QmpStatus q = qmp().queryStatus();
  s.detail = q.status;
  if (q.running) s.state = VmState::kRunning;
  else if (q.status == "prelaunch") s.state = VmState::kNotStarted;
  else if (q.status == "shutdown") s.state = VmState::kShutdown;
  else s.state = VmState::kPaused;
  return s;
}

VmStats QemuVm::stats() {
  VmStats s;
  QmpMemorySummary m = qmp().queryMemorySizeSummary();
  s.memoryBaseBytes = m.baseMemory;
  s.memoryPluggedBytes = m.pluggedMemory.value_or(0);
  s.balloonActualBytes = qmp().queryBalloon();
  auto cpus = qmp().execute("query-cpus-fast");
  s.vcpus = cpus.is_array() ? static_cast<unsigned>(cpus.size()) : 0;
  return s;
}

void QemuVm::hotplug(const Device& device) {
  const std::string& id = deviceId(device);
  validateDeviceId(id);
  if (ports_.count(id)) fail(ErrorKind::kAlreadyExists, "device " + id + " is already plugged into " + config_.id);
  std::optional<unsigned> port;
  for (unsigned i = 0; i < slots_ && !port; ++i) {
    bool used = false;
    for (const auto& [_, p] : ports_) used = used || p == i;
    if (!used) port = i;
  }
  if (!port)
    fail(ErrorKind::kFailedPrecondition, "sandbox " + config_.id + " has no free hot-plug slot (it was created with " +
                                             std::to_string(slots_) + "): unplug a device first");
  HotplugPlan plan = planHotplug(device, rootPortId(*port), *arch_);
  QmpClient& q = qmp();
  for (const auto& [name, fd] : plan.fds) q.getfd(name, fd);
  for (const auto& [command, args] : plan.backends) q.execute(command, args);
  q.deviceAdd(plan.deviceAdd);
  ports_[id] = *port;
}

void QemuVm::unplug(const std::string& id, Deadline deadline) {
  if (!ports_.count(id)) fail(ErrorKind::kNotFound, "device " + id + " is not hot-plugged into " + config_.id);
  qmp().deviceDelAndWait(id, deadline);
  ports_.erase(id);
}

}  // namespace kata::vmmd
