#include "runtime/sandbox/spawn.h"

#include <fcntl.h>
#include <linux/close_range.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>

#include "common/error.h"
#include "common/fd.h"

namespace kata::sandbox {
namespace {

// What the child reports through the status pipe: the helper's pid, or the errno of a failed step.
struct ChildReport {
  int step;  // 0: ok (pid set), 1: dup2, 2: setsid, 3: exec, 4: fork
  int err;
  pid_t pid;
};

[[noreturn]] void childFail(int statusFd, int step) {
  ChildReport r{step, errno, 0};
  (void)!::write(statusFd, &r, sizeof r);
  ::_exit(127);
}

// In the child, after fork: async-signal-safe calls only.
[[noreturn]] void execHelper(const SpawnOptions& o, char* const* argv, int statusFd) {
  sigset_t none;
  sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
  for (int s = 1; s < NSIG; ++s) ::signal(s, SIG_DFL);
  if (o.newSession && ::setsid() < 0) childFail(statusFd, 2);
  if (!o.inheritStdio) {
    int null = ::open("/dev/null", O_RDWR | O_CLOEXEC);
    if (null < 0) childFail(statusFd, 1);
    for (int i = 0; i < 3; ++i)
      if (::dup2(null, i) < 0) childFail(statusFd, 1);
  }
  // Move the wanted descriptors out of the way first (a source may sit on another's target).
  int moved[64];
  size_t n = o.fds.size() < 64 ? o.fds.size() : 64;
  for (size_t i = 0; i < n; ++i) {
    moved[i] = ::fcntl(o.fds[i].second, F_DUPFD_CLOEXEC, 100);
    if (moved[i] < 0) childFail(statusFd, 1);
  }
  for (size_t i = 0; i < n; ++i)
    if (::dup2(moved[i], o.fds[i].first) < 0) childFail(statusFd, 1);  // dup2 clears FD_CLOEXEC
  // Everything else goes: the close-on-exec flag on all descriptors above the wanted ones.
  int keepMax = 2;
  for (size_t i = 0; i < n; ++i) keepMax = o.fds[i].first > keepMax ? o.fds[i].first : keepMax;
  for (int fd = 3; fd <= keepMax; ++fd) {
    bool keep = false;
    for (size_t i = 0; i < n; ++i) keep = keep || o.fds[i].first == fd;
    if (!keep && fd != statusFd) (void)::close(fd);
  }
  if (::syscall(SYS_close_range, keepMax + 1, ~0U, CLOSE_RANGE_CLOEXEC) != 0) {
    for (int fd = keepMax + 1; fd < 4096; ++fd)
      if (fd != statusFd) (void)::fcntl(fd, F_SETFD, FD_CLOEXEC);
  }
  ::execv(argv[0], argv);
  childFail(statusFd, 3);
}

}  // namespace

pid_t spawnHelper(const SpawnOptions& o) {
  if (o.argv.empty()) fail(ErrorKind::kInvalidArgument, "spawnHelper: empty argv");
  if (o.fds.size() > 64) fail(ErrorKind::kInvalidArgument, "spawnHelper: too many descriptors");
  for (const auto& [child, parent] : o.fds) {
    if (child < 3) fail(ErrorKind::kInvalidArgument, "spawnHelper: descriptor " + std::to_string(child) + " is stdio");
    (void)parent;
  }
  std::vector<std::string> args = o.argv;
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);

  int p[2];
  KATA_SYSCALL(::pipe2(p, O_CLOEXEC), "pipe2");
  UniqueFd statusRead(p[0]), statusWrite(p[1]);
  pid_t child = KATA_SYSCALL(::fork(), "fork " + o.argv[0]);
  if (child == 0) {
    statusRead.release();
    if (!o.detach) execHelper(o, argv.data(), p[1]);
    pid_t grandchild = ::fork();
    if (grandchild < 0) childFail(p[1], 4);
    if (grandchild == 0) execHelper(o, argv.data(), p[1]);
    ChildReport r{0, 0, grandchild};
    (void)!::write(p[1], &r, sizeof r);
    ::_exit(0);
  }
  statusWrite.reset();
  pid_t helper = child;
  ChildReport r{};
  bool gotPid = false;
  // Detached: first the intermediate's report of the grandchild's pid, then (from the grandchild)
  // an exec failure or end of file at exec. Not detached: only the latter.
  for (;;) {
    ssize_t got = ::read(statusRead.get(), &r, sizeof r);
    if (got < 0 && errno == EINTR) continue;
    if (got == 0) break;
    if (got != static_cast<ssize_t>(sizeof r)) break;
    if (r.step == 0) {
      helper = r.pid;
      gotPid = true;
      continue;
    }
    (void)::waitpid(child, nullptr, 0);
    static const char* steps[] = {"", "setting up descriptors", "setsid", "exec", "fork"};
    throw Error(ErrorKind::kSystem,
                "starting " + o.argv[0] + ": " + steps[r.step < 5 ? r.step : 0] + " failed: " + std::strerror(r.err),
                r.err);
  }
  if (o.detach) {
    int st = 0;
    while (::waitpid(child, &st, 0) < 0 && errno == EINTR) {
    }
    if (!gotPid) fail(ErrorKind::kSystem, "starting " + o.argv[0] + ": the helper's pid was not reported");
  }
  return helper;
}

std::string selfExe() {
  char buf[4096];
  ssize_t n = KATA_SYSCALL(::readlink("/proc/self/exe", buf, sizeof buf - 1), "readlink /proc/self/exe");
  return std::string(buf, static_cast<size_t>(n));
}

}  // namespace kata::sandbox
