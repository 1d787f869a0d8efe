// The daemon's hardening against its real work. Each test forks a child (hardening is irreversible,
// and the test process must stay unhardened); the child forks the launcher process first, as
// kata-vmmd's main does, then calls hardenDaemon (or keepOnlyCapabilities) and does what kata-vmmd
// does: the KVM probe, a jailed QEMU launch through QemuHypervisor and the launcher, QMP
// status/pause/resume, hot-plug, stats, the stop escalation and cgroup removal, and the RPC side's
// kj event loop (unix listener, accept, read/write, timers), fd passing, SO_PEERCRED, threads.
// The child exits 0 only if all of it worked. Negative tests: calls outside the list are killed
// (enforce), fail with EPERM (errno) or pass (log). Capability tests: each kept capability is shown
// necessary by the operation that fails without it, and sufficient with the rest of the set.
#include "kata-vmmd/hardening.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <kj/async-io.h>
#include <linux/capability.h>
#include <linux/if_tun.h>
#include <linux/io_uring.h>
#include <linux/sched.h>
#include <net/if.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <functional>
#include <iostream>
#include <linux/securebits.h>
#include <thread>

#include "common/error.h"
#include "common/fs.h"
#include "kata-vmmd/jail_launcher.h"
#include "kata-vmmd/launcher.h"
#include "netdev/netns.h"
#include "netdev/rtnl.h"
#include "netdev/tap.h"
#include "tests/support/net_fixture.h"
#include "kata-vmmd/qemu_hypervisor.h"

namespace kata::vmmd {
namespace {

using namespace std::chrono_literals;

struct ChildExit {
  bool exited = false;
  int code = -1;
  int signal = 0;
};

std::ostream& operator<<(std::ostream& os, const ChildExit& e) {
  return e.exited ? os << "exit " << e.code : os << "signal " << e.signal << " (" << strsignal(e.signal) << ")";
}

// Runs fn in a forked child; the child's exit code is fn's result, 3 if it threw.
ChildExit runInChild(const std::function<int()>& fn) {
  std::cout.flush();
  std::cerr.flush();
  pid_t pid = ::fork();
  if (pid < 0) throwSysError(errno, "fork");
  if (pid == 0) {
    int rc = 3;
    try {
      rc = fn();
    } catch (const std::exception& e) {
      std::cerr << "child: " << e.what() << std::endl;
    }
    std::cerr.flush();
    ::_exit(rc);
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  ChildExit out;
  out.exited = WIFEXITED(status);
  out.code = out.exited ? WEXITSTATUS(status) : -1;
  out.signal = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
  return out;
}

#define CHILD_CHECK(cond)                                                            \
  do {                                                                               \
    if (!(cond)) {                                                                   \
      std::cerr << "child check failed at line " << __LINE__ << ": " #cond << std::endl; \
      return 1;                                                                      \
    }                                                                                \
  } while (0)

Logger testLog() { return Logger(LogOptions{"", LogFormat::kText, LogLevel::kWarn, "vmmd"}); }

std::string statusField(const std::string& procStatus, const std::string& key) {
  auto pos = procStatus.find("\n" + key + ":");
  if (pos == std::string::npos) return "";
  auto start = procStatus.find_first_not_of(" \t", pos + key.size() + 2);
  return procStatus.substr(start, procStatus.find('\n', start) - start);
}

uint64_t capMask(const security::CapabilitySet& caps) {
  uint64_t m = 0;
  for (int c : caps) m |= 1ULL << c;
  return m;
}

struct TempDir {
  std::string path;
  explicit TempDir(uid_t owner = 0) {
    char tmpl[] = "/tmp/kata-harden-XXXXXX";
    if (!::mkdtemp(tmpl)) throwSysError(errno, "mkdtemp");
    path = tmpl;
    if (owner != 0) KATA_SYSCALL(::chown(path.c_str(), owner, owner), path);
  }
  ~TempDir() {
    try {
      removeTree(AT_FDCWD, path);
    } catch (...) {
    }
  }
};

// The launcher process as kata-vmmd starts it: before hardening, with its own capability set.
std::unique_ptr<JailLauncher> spawnLauncher(security::CapabilitySet caps = launcherRequiredCapabilities(),
                                            security::CapabilitySet optional = launcherCapabilities()) {
  JailLauncherOptions o;
  o.programs = {"/usr/bin/qemu-system-x86_64", "/usr/bin/sleep"};
  o.userNamespacePrograms = {"/usr/bin/sleep"};
  o.capabilities = std::move(caps);
  o.optionalCapabilities = std::move(optional);
  return JailLauncher::spawn(o, testLog());
}

// The QEMU part of the daemon's work: accel auto (the KVM probe forks and runs KVM ioctls), jailed
// launch into a cgroup, QMP, hot-plug, stats, stop, cgroup removal. Returns 0 when all worked.
int qemuLifecycle(const std::string& runDir, const std::string& cgroupParent, LaunchBackend* launcher) {
  VmConfig vm;
  vm.id = "harden-test";
  vm.accel = Accel::kAuto;
  vm.vcpus = 1;
  vm.memory.sizeMiB = 128;
  vm.kernel.kernel = runDir + "/vmlinuz";
  vm.hotplugSlots = 1;
  vm.runDir = runDir;
  QemuDriverOptions opts;
  opts.identity = {65534, 65534, {}, false};
  opts.startPaused = true;
  opts.cgroup = CgroupSpec{security::CgroupLayout::detect("/sys/fs/cgroup", {"pids"}), cgroupParent, {}};
  opts.launcher = launcher;
  QemuHypervisor qh(vm, opts, hostArch(), testLog());
  qh.launch();
  // QEMU runs under its own -sandbox filter only: the launcher that started it has none, so the
  // daemon's filter is not inherited. It is still the daemon's child (CLONE_PARENT).
  std::string qemuStatus = readFile("/proc/" + std::to_string(qh.pid()) + "/status", 1 << 16);
  std::cerr << "child: QEMU Seccomp_filters: " << statusField(qemuStatus, "Seccomp_filters")
            << ", CapEff: " << statusField(qemuStatus, "CapEff") << std::endl;
  CHILD_CHECK(statusField(qemuStatus, "Seccomp") == "2");
  CHILD_CHECK(statusField(qemuStatus, "Seccomp_filters") == "1");
  CHILD_CHECK(statusField(qemuStatus, "PPid") == std::to_string(::getpid()));
  CHILD_CHECK(statusField(qemuStatus, "CapEff") == "0000000000000000");
  CHILD_CHECK(statusField(qemuStatus, "CapBnd") == "0000000000000000");
  CHILD_CHECK(qh.status().state == VmState::kNotStarted);  // -S: CPUs never ran ("prelaunch")
  qh.resume();
  CHILD_CHECK(qh.status().state == VmState::kRunning);
  qh.pause();
  CHILD_CHECK(qh.status().state == VmState::kPaused);
  qh.hotplug(GenericDevice{"rng1", "virtio-rng-pci", {}});
  // query-pci sees a device behind a root port only once firmware numbered the bridge (never, with
  // -S); the QOM tree shows the device as QEMU holds it.
  auto type = qh.qmp().execute("qom-get", {{"path", "/machine/peripheral/rng1"}, {"property", "type"}});
  CHILD_CHECK(type == "virtio-rng-pci");
  VmStats st = qh.stats();
  CHILD_CHECK(st.vcpus == 1u);
  ExitStatus ex = qh.stop(deadlineIn(5s));
  CHILD_CHECK(ex.exited && ex.code == 0);
  CHILD_CHECK(qh.status().state == VmState::kExited);
  CHILD_CHECK(!pathExists("/sys/fs/cgroup/unified/" + cgroupParent + "/harden-test"));
  CHILD_CHECK(!pathExists(runDir + "/qmp.sock"));
  return 0;
}

// The RPC side's event loop: a unix listener, a client, accept, a round trip, a timer.
int kjEventLoop(const std::string& dir) {
  auto io = kj::setupAsyncIo();
  auto& network = io.provider->getNetwork();
  std::string path = dir + "/rpc.sock";
  auto listener = network.parseAddress(("unix:" + path).c_str()).wait(io.waitScope)->listen();
  auto acceptPromise = listener->accept();
  auto client = network.parseAddress(("unix:" + path).c_str()).wait(io.waitScope)->connect().wait(io.waitScope);
  auto server = acceptPromise.wait(io.waitScope);
  client->write("ping", 4).wait(io.waitScope);
  char buf[4] = {};
  server->read(buf, 4).wait(io.waitScope);
  CHILD_CHECK(std::memcmp(buf, "ping", 4) == 0);
  server->write("pong", 4).wait(io.waitScope);
  client->read(buf, 4).wait(io.waitScope);
  CHILD_CHECK(std::memcmp(buf, "pong", 4) == 0);
  io.provider->getTimer().afterDelay(10 * kj::MILLISECONDS).wait(io.waitScope);
  client->shutdownWrite();
  return 0;
}

// What a pod network takes (sandbox_network.cc), in a namespace the test made before hardening: the
// client's descriptor checked (NS_GET_NSTYPE) and its owner read (NS_GET_USERNS), the namespace
// pinned (open_tree + move_mount) and unpinned (umount2), a netlink socket opened inside it on a
// netdev thread (setns CLONE_NEWNET), a tap created there and handed to QEMU's uid (TUNSETIFF,
// TUNSETOWNER, TUNSETGROUP) and its link read back over netlink.
int podNetworkPlumbing(const std::string& dir, const std::string& podPath) {
  UniqueFd clientFd(::open(podPath.c_str(), O_RDONLY | O_CLOEXEC));
  CHILD_CHECK(clientFd.valid());
  netdev::Netns ns = netdev::Netns::fromFd(clientFd.get(), "the test's pod namespace");
  netdev::NetnsOwnership owner = netdev::netnsOwnership(ns);
  CHILD_CHECK(owner.ownedByOurUserns && !owner.isOurNetns);
  std::string pin = dir + "/netns-pin";
  netdev::pinNetns(ns, pin);
  CHILD_CHECK(netdev::Netns::open(pin) == ns);
  netdev::unpinNetns(pin);
  CHILD_CHECK(!pathExists(pin));
  netdev::TapOptions t;
  t.name = "tap9_kata";
  t.queues = 2;
  t.owner = 65534;
  t.group = 65534;
  std::vector<UniqueFd> queues = netdev::createTap(ns, t);
  CHILD_CHECK(queues.size() == 2);
  netdev::Rtnl rtnl = netdev::Rtnl::openIn(ns);
  CHILD_CHECK(rtnl.linkByName("tap9_kata").has_value());
  return 0;
}

// Raw socket work the RPC server does: SO_PEERCRED of a client, fds received with SCM_RIGHTS,
// a netlink socket (taps), and a thread started after the filter (clone3 → ENOSYS → clone).
int socketsAndThreads() {
  int sv[2];
  CHILD_CHECK(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
  UniqueFd a(sv[0]), b(sv[1]);
  ucred cred{};
  socklen_t len = sizeof cred;
  CHILD_CHECK(::getsockopt(a.get(), SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0 && cred.pid == ::getpid());
  UniqueFd passed(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  char byte = 'x';
  iovec iov{&byte, 1};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof control;
  cmsghdr* c = CMSG_FIRSTHDR(&msg);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof(int));
  int fd = passed.get();
  std::memcpy(CMSG_DATA(c), &fd, sizeof fd);
  CHILD_CHECK(::sendmsg(a.get(), &msg, 0) == 1);
  std::memset(control, 0, sizeof control);
  CHILD_CHECK(::recvmsg(b.get(), &msg, MSG_CMSG_CLOEXEC) == 1);
  int got = -1;
  std::memcpy(&got, CMSG_DATA(CMSG_FIRSTHDR(&msg)), sizeof got);
  UniqueFd received(got);
  CHILD_CHECK(received.get() >= 0);
  UniqueFd nl(::socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, 0));
  CHILD_CHECK(nl.get() >= 0);
  int value = 0;
  std::thread t([&] { value = 42; });
  t.join();
  CHILD_CHECK(value == 42);
  return 0;
}

bool testProcessHas(int cap) {
  security::ProcessCapabilities now = security::currentCapabilities();
  return now.permitted.count(cap) && now.bounding.count(cap);
}

// What hardenDaemon keeps here: the required set, plus the optional ones this process has.
security::CapabilitySet expectedDaemonCaps() {
  security::CapabilitySet caps = vmmdRequiredCapabilities();
  for (int c : vmmdCapabilities())
    if (testProcessHas(c)) caps.insert(c);
  return caps;
}

// And what the launcher keeps.
security::CapabilitySet expectedLauncherCaps() {
  security::CapabilitySet caps = launcherRequiredCapabilities();
  for (int c : launcherCapabilities())
    if (testProcessHas(c)) caps.insert(c);
  return caps;
}

void requireRoot() {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root (capabilities, uid switch, cgroups)";
}

TEST(VmmdHardening, RealWorkUnderTheFilter) {
  requireRoot();
  if (::geteuid() != 0) return;
  TempDir dir(65534);
  {
    UniqueFd k(::open((dir.path + "/vmlinuz").c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644));
    ASSERT_EQ(::ftruncate(k.get(), 8192), 0);
  }
  TempDir rpcDir;
  std::string parent = "kata-harden-" + std::to_string(::getpid());
  test::NamedNetns pod(test::uniqueName("khp"));
  ChildExit e = runInChild([&]() -> int {
    auto launcher = spawnLauncher();
    // (Reading our own capability sets takes prctl calls the hardened daemon no longer makes.)
    char launcherWant[17], want[17];
    std::snprintf(launcherWant, sizeof launcherWant, "%016llx", static_cast<unsigned long long>(capMask(expectedLauncherCaps())));
    std::snprintf(want, sizeof want, "%016llx", static_cast<unsigned long long>(capMask(expectedDaemonCaps())));
    hardenDaemon(HardeningOptions{}, testLog());
    // The launcher: its own capabilities, no seccomp filter, nothing else of the daemon's.
    std::string helper = readFile("/proc/" + std::to_string(launcher->pid()) + "/status", 1 << 16);
    CHILD_CHECK(statusField(helper, "Seccomp") == "0");
    CHILD_CHECK(statusField(helper, "NoNewPrivs") == "1");
    CHILD_CHECK(statusField(helper, "CapEff") == launcherWant);
    CHILD_CHECK(statusField(helper, "CapBnd") == launcherWant);
    std::string self = readFile("/proc/self/status", 1 << 16);
    CHILD_CHECK(statusField(self, "Seccomp") == "2");
    CHILD_CHECK(statusField(self, "NoNewPrivs") == "1");
    CHILD_CHECK(statusField(self, "CapEff") == want);
    CHILD_CHECK(statusField(self, "CapPrm") == want);
    CHILD_CHECK(statusField(self, "CapBnd") == want);
    CHILD_CHECK(statusField(self, "CapInh") == "0000000000000000");
    CHILD_CHECK(statusField(self, "CapAmb") == "0000000000000000");
    int bits = ::prctl(PR_GET_SECUREBITS, 0, 0, 0, 0);
    CHILD_CHECK((bits & SECBIT_NOROOT) && (bits & SECBIT_NOROOT_LOCKED) && (bits & SECBIT_KEEP_CAPS_LOCKED));
    if (int rc = qemuLifecycle(dir.path, parent, launcher.get())) return rc;
    if (int rc = kjEventLoop(rpcDir.path)) return rc;
    if (int rc = socketsAndThreads()) return rc;
    if (int rc = podNetworkPlumbing(rpcDir.path, pod.path())) return rc;
    return 0;
  });
  EXPECT_TRUE(e.exited && e.code == 0) << "the daemon's work failed under the filter: " << e;
  (void)::rmdir(("/sys/fs/cgroup/unified/" + parent).c_str());
  (void)::rmdir(("/sys/fs/cgroup/pids/" + parent).c_str());
}

struct Denied {
  const char* what;
  std::function<long()> call;
};

std::vector<Denied> deniedCalls() {
  return {
      {"ptrace", [] { return ::ptrace(PTRACE_TRACEME, 0, nullptr, nullptr); }},
      {"mount (the old API)", [] { return static_cast<long>(::mount("none", "/mnt", "tmpfs", 0, nullptr)); }},
      {"kexec_load", [] { return ::syscall(SYS_kexec_load, 0, 0, nullptr, 0); }},
      {"socket(AF_INET)", [] { return static_cast<long>(::socket(AF_INET, SOCK_STREAM, 0)); }},
      {"clone(CLONE_NEWUSER)",
       [] { return ::syscall(SYS_clone, CLONE_NEWUSER | SIGCHLD, nullptr, nullptr, nullptr, nullptr); }},
      {"ioctl(TIOCSTI)",
       [] {
         char c = 'x';
         return static_cast<long>(::ioctl(0, TIOCSTI, &c));
       }},
      {"prctl(PR_SET_SECUREBITS)", [] { return static_cast<long>(::prctl(PR_SET_SECUREBITS, 0, 0, 0, 0)); }},
      {"personality", [] { return static_cast<long>(::personality(0xffffffff)); }},
      // What only the launcher does now: the daemon itself can no longer exec or change identity.
      {"execve",
       [] {
         char* argv[] = {const_cast<char*>("/bin/true"), nullptr};
         return static_cast<long>(::execve("/bin/true", argv, nullptr));
       }},
      {"setresuid", [] { return ::syscall(SYS_setresuid, 65534, 65534, 65534); }},
      // netdev's threads may join network namespaces; no other kind.
      {"setns(CLONE_NEWNS)", [] { return static_cast<long>(::setns(0, CLONE_NEWNS)); }},
      {"setns(CLONE_NEWUSER)", [] { return static_cast<long>(::setns(0, CLONE_NEWUSER)); }},
  };
}

TEST(VmmdHardening, EnforceKillsCallsOutsideTheList) {
  requireRoot();
  if (::geteuid() != 0) return;
  for (const auto& d : deniedCalls()) {
    ChildExit e = runInChild([&]() -> int {
      hardenDaemon(HardeningOptions{}, testLog());
      (void)d.call();
      return 0;
    });
    EXPECT_TRUE(!e.exited && e.signal == SIGSYS) << d.what << " was not killed: " << e;
  }
}

TEST(VmmdHardening, Clone3AndIoUringAnswerEnosys) {
  requireRoot();
  if (::geteuid() != 0) return;
  ChildExit e = runInChild([]() -> int {
    hardenDaemon(HardeningOptions{}, testLog());
    clone_args args{};
    args.exit_signal = SIGCHLD;
    CHILD_CHECK(::syscall(SYS_clone3, &args, sizeof args) == -1 && errno == ENOSYS);
    io_uring_params* params = nullptr;
    CHILD_CHECK(::syscall(SYS_io_uring_setup, 1, params) == -1 && errno == ENOSYS);
    return 0;
  });
  EXPECT_TRUE(e.exited && e.code == 0) << e;
}

TEST(VmmdHardening, ErrnoModeFailsWithEpermAndLogModeAllows) {
  requireRoot();
  if (::geteuid() != 0) return;
  ChildExit errnoMode = runInChild([]() -> int {
    HardeningOptions o;
    o.seccompMode = security::SeccompMode::kErrno;
    hardenDaemon(o, testLog());
    CHILD_CHECK(::ptrace(PTRACE_TRACEME, 0, nullptr, nullptr) == -1 && errno == EPERM);
    CHILD_CHECK(::personality(0xffffffff) == -1 && errno == EPERM);
    return 0;
  });
  EXPECT_TRUE(errnoMode.exited && errnoMode.code == 0) << errnoMode;
  ChildExit logMode = runInChild([]() -> int {
    HardeningOptions o;
    o.seccompMode = security::SeccompMode::kLog;
    hardenDaemon(o, testLog());
    CHILD_CHECK(::personality(0xffffffff) >= 0);
    return 0;
  });
  EXPECT_TRUE(logMode.exited && logMode.code == 0) << logMode;
}

TEST(VmmdHardening, RefusesToRunWithThreads) {
  requireRoot();
  if (::geteuid() != 0) return;
  ChildExit e = runInChild([]() -> int {
    std::atomic<bool> stop{false};
    std::thread t([&] {
      while (!stop) std::this_thread::sleep_for(1ms);
    });
    int rc = 1;
    try {
      hardenDaemon(HardeningOptions{}, testLog());
    } catch (const Error& err) {
      rc = err.kind() == ErrorKind::kFailedPrecondition &&
                   std::string(err.what()).find("threads running") != std::string::npos
               ? 0
               : 2;
    }
    stop = true;
    t.join();
    CHILD_CHECK(::prctl(PR_GET_SECCOMP, 0, 0, 0, 0) == 0);
    return rc;
  });
  EXPECT_TRUE(e.exited && e.code == 0) << e;
}

// --- each kept capability, necessary and sufficient -------------------------------------------------

// 0: the operation worked; 10: it was refused for lack of privilege; anything else: another failure.
constexpr int kRefused = 10;

int refusedIf(const Error& e, const char* expect) {
  std::cerr << "child: " << e.what() << std::endl;
  bool denied = e.kind() == ErrorKind::kPermissionDenied || e.sysErrno() == EPERM || e.sysErrno() == EACCES;
  return denied && std::string(e.what()).find(expect) != std::string::npos ? kRefused : 4;
}

int launchSleep(const LaunchSpec& base, const char* expectStep, bool killIt, LaunchBackend* launcher) {
  try {
    LaunchedProcess p = launchJailed(base, testLog(), launcher);
    if (killIt) {
      try {
        p.signal(SIGKILL);
      } catch (const Error& e) {
        int rc = refusedIf(e, "pidfd_send_signal");
        p.wait(deadlineIn(5s));
        return rc;
      }
    }
    p.wait(deadlineIn(5s));
    return 0;
  } catch (const Error& e) {
    return refusedIf(e, expectStep);
  }
}

LaunchSpec sleepSpec(const std::string& dir, const char* seconds) {
  LaunchSpec s;
  s.sandboxId = "capcheck";
  s.argv = {"/usr/bin/sleep", seconds};
  s.identity = {65534, 65534, {}, false};
  s.logPath = dir + "/sleep.log";
  return s;
}

// An operation that needs the capability, run where it is needed: in the daemon (launcher false)
// or in the launcher process (launcher true: the launch's child steps run there).
struct CapCase {
  int cap;
  bool launcher;
  std::function<int(const std::string& dir, LaunchBackend* launcher)> op;
};

std::vector<CapCase> capCases() {
  return {
      // The launcher's: the child steps between clone and execve.
      {CAP_SETUID, true,
       [](const std::string& d, LaunchBackend* l) { return launchSleep(sleepSpec(d, "0"), "switching to the VM's uid", false, l); }},
      {CAP_SETGID, true,
       [](const std::string& d, LaunchBackend* l) { return launchSleep(sleepSpec(d, "0"), "switching to the VM's uid", false, l); }},
      {CAP_SETPCAP, true,
       [](const std::string& d, LaunchBackend* l) { return launchSleep(sleepSpec(d, "0"), "bounding set", false, l); }},
      {CAP_SYS_ADMIN, true,
       [](const std::string& d, LaunchBackend* l) {
         LaunchSpec s = sleepSpec(d, "0");
         UniqueFd ns(::open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC));
         s.netnsFd = ns.get();
         return launchSleep(s, "network namespace", false, l);
       }},
      {CAP_SETFCAP, true,
       [](const std::string& d, LaunchBackend* l) {
         // What virtiofsd of a root's sandbox gets: a user namespace mapping host uid 0.
         LaunchSpec s = sleepSpec(d, "0");
         s.identity = {0, 0, {}, true};
         s.userns = security::UserNamespaceSpec{{security::identityMapping()}, {security::identityMapping()}, {}};
         return launchSleep(s, "user namespace", false, l);
       }},
      {CAP_SYS_RESOURCE, true,
       [](const std::string& d, LaunchBackend* l) {
         LaunchSpec s = sleepSpec(d, "0");
         rlimit now{};
         ::getrlimit(RLIMIT_MEMLOCK, &now);
         rlimit more{now.rlim_max + (64 << 20), now.rlim_max + (64 << 20)};
         if (now.rlim_max == RLIM_INFINITY) return 5;
         s.rlimits[RLIMIT_MEMLOCK] = more;
         return launchSleep(s, "resource limits", false, l);
       }},
      // The daemon's own.
      {CAP_SYS_ADMIN, false,
       [](const std::string& d, LaunchBackend*) {
         // What shareDirectory does: a detached clone of a directory, attached below another.
         std::string src = d + "/share-src-" + std::to_string(::getpid()), dst = d + "/share-dst-" + std::to_string(::getpid());
         if (::mkdir(src.c_str(), 0755) != 0 || ::mkdir(dst.c_str(), 0755) != 0) return 4;
         UniqueFd srcFd(::open(src.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
         int tree = static_cast<int>(::syscall(SYS_open_tree, srcFd.get(), "", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_EMPTY_PATH));
         if (tree < 0) return errno == EPERM ? kRefused : 4;
         UniqueFd treeFd(tree);
         if (::syscall(SYS_move_mount, treeFd.get(), "", AT_FDCWD, dst.c_str(), MOVE_MOUNT_F_EMPTY_PATH) != 0) return 4;
         return ::umount2(dst.c_str(), MNT_DETACH) == 0 ? 0 : 4;
       }},
      {CAP_SYS_ADMIN, false,
       [](const std::string& d, LaunchBackend*) {
         // What a pod network starts with: the namespace pinned (a bind mount of its nsfs
         // descriptor) and a netlink socket opened inside it on a netdev thread (setns).
         std::string pin = d + "/netns-pin-" + std::to_string(::getpid());
         try {
           netdev::Netns ns = netdev::Netns::current();
           (void)netdev::Rtnl::openIn(ns);
           netdev::pinNetns(ns, pin);
           netdev::unpinNetns(pin);
           return 0;
         } catch (const Error& e) {
           (void)::unlink(pin.c_str());
           return refusedIf(e, "setns");
         }
       }},
      {CAP_KILL, false,
       [](const std::string& d, LaunchBackend* l) { return launchSleep(sleepSpec(d, "3"), "", true, l); }},
      {CAP_CHOWN, false,
       [](const std::string& d, LaunchBackend*) {
         UniqueFd f(::open((d + "/console.log").c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600));
         if (::fchown(f.get(), 65534, 65534) == 0) return 0;
         return errno == EPERM ? kRefused : 4;
       }},
      {CAP_DAC_OVERRIDE, false,
       [](const std::string& d, LaunchBackend* l) {
         // The run directory is owned by the VM's uid, mode 0700, as the driver test uses it.
         const std::string& run = d;
         VmConfig vm;
         vm.id = "capcheck";
         vm.accel = Accel::kTcg;
         vm.memory.sizeMiB = 64;
         vm.kernel.kernel = d + "/vmlinuz";
         vm.runDir = run;
         QemuDriverOptions opts;
         opts.identity = {65534, 65534, {}, false};
         opts.startPaused = true;
         opts.launcher = l;
         try {
           QemuHypervisor qh(vm, opts, hostArch(), testLog());
           qh.launch();
           qh.stop(deadlineIn(5s));
           return 0;
         } catch (const Error& e) {
           return refusedIf(e, "qmp.sock");
         }
       }},
      {CAP_NET_ADMIN, false,
       [](const std::string&, LaunchBackend*) {
         // netdev's tap creation, as attachNetwork does it (the tap goes away with the descriptors).
         netdev::TapOptions t;
         t.name = "kh" + std::to_string(::getpid() % 1000000) + "_kata";
         try {
           auto fds = netdev::createTap(netdev::Netns::current(), t);
           return fds.size() == 1 ? 0 : 4;
         } catch (const Error& e) {
           return refusedIf(e, "TUNSETIFF");
         }
       }},
  };
}

TEST(VmmdCapabilities, EachKeptCapabilityIsNeededAndTheSetSuffices) {
  requireRoot();
  if (::geteuid() != 0) return;
  auto cases = capCases();
  // Every capability of both documented sets has a case here.
  security::CapabilitySet daemonCovered, launcherCovered;
  for (const auto& c : cases) (c.launcher ? launcherCovered : daemonCovered).insert(c.cap);
  EXPECT_EQ(daemonCovered, vmmdCapabilities());
  EXPECT_EQ(launcherCovered, launcherCapabilities());
  for (const auto& c : cases) {
    std::string name = security::capabilityName(c.cap) + (c.launcher ? " (launcher)" : " (daemon)");
    if (!testProcessHas(c.cap)) {
      std::cout << "not checked: this test process lacks " << name << " (a container host withholding it)\n";
      continue;
    }
    const security::CapabilitySet daemonCaps = expectedDaemonCaps(), launcherCaps = expectedLauncherCaps();
    TempDir dir(65534);
    {
      UniqueFd k(::open((dir.path + "/vmlinuz").c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644));
      ASSERT_EQ(::ftruncate(k.get(), 8192), 0);
    }
    ChildExit with = runInChild([&]() -> int {
      auto launcher = spawnLauncher(launcherCaps, {});
      security::keepOnlyCapabilities(daemonCaps);
      return c.op(dir.path, launcher.get());
    });
    EXPECT_TRUE(with.exited && with.code == 0) << name << ": the operation failed with the two processes' sets: " << with;
    ChildExit without = runInChild([&]() -> int {
      security::CapabilitySet lessLauncher = launcherCaps, lessDaemon = daemonCaps;
      (c.launcher ? lessLauncher : lessDaemon).erase(c.cap);
      auto launcher = spawnLauncher(lessLauncher, {});
      security::keepOnlyCapabilities(lessDaemon);
      return c.op(dir.path, launcher.get());
    });
    EXPECT_TRUE(without.exited && without.code == kRefused)
        << name << ": the operation was not refused without it: " << without;
  }
}

}  // namespace
}  // namespace kata::vmmd
