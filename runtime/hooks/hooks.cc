#include "runtime/hooks/hooks.h"

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstring>
#include <sstream>

#include "common/error.h"
#include "common/fd.h"

namespace kata::hooks {

namespace {

// Pipe ends numbered >= 3, so that dup2 onto 0..2 in the child always copies (and clears
// FD_CLOEXEC), even when our own stdin/stdout/stderr are closed.
struct Pipe {
  UniqueFd read;
  UniqueFd write;
};

UniqueFd aboveStdio(int fd) {
  UniqueFd owned(fd);
  if (fd > 2) return owned;
  return UniqueFd(KATA_SYSCALL(::fcntl(fd, F_DUPFD_CLOEXEC, 3), "dup pipe"));
}

Pipe makePipe() {
  int fds[2];
  KATA_SYSCALL(::pipe2(fds, O_CLOEXEC), "hook pipe");
  Pipe p{UniqueFd(fds[0]), UniqueFd(fds[1])};
  p.read = aboveStdio(p.read.release());
  p.write = aboveStdio(p.write.release());
  return p;
}

void setNonBlocking(int fd) {
  int flags = KATA_SYSCALL(::fcntl(fd, F_GETFL), "F_GETFL");
  KATA_SYSCALL(::fcntl(fd, F_SETFL, flags | O_NONBLOCK), "F_SETFL O_NONBLOCK");
}

// Blocks SIGPIPE in this thread while we feed a hook's stdin (a write to a pipe whose reader is gone
// raises SIGPIPE in the writing thread), then discards a SIGPIPE we caused before unblocking.
class SigpipeBlock {
 public:
  SigpipeBlock() {
    sigemptyset(&set_);
    sigaddset(&set_, SIGPIPE);
    sigset_t pending;
    sigpending(&pending);
    wasPending_ = sigismember(&pending, SIGPIPE) == 1;
    pthread_sigmask(SIG_BLOCK, &set_, &old_);
  }
  ~SigpipeBlock() {
    if (!wasPending_) {
      struct timespec zero {};
      while (sigtimedwait(&set_, nullptr, &zero) == SIGPIPE) {
      }
    }
    pthread_sigmask(SIG_SETMASK, &old_, nullptr);
  }
  SigpipeBlock(const SigpipeBlock&) = delete;
  SigpipeBlock& operator=(const SigpipeBlock&) = delete;

 private:
  sigset_t set_;
  sigset_t old_;
  bool wasPending_ = false;
};

// Owns the forked hook until it is reaped: on any early exit it is killed with its process group.
class Child {
 public:
  explicit Child(pid_t pid) : pid_(pid) {}
  ~Child() {
    if (pid_ > 0) {
      killGroup();
      (void)reap();
    }
  }
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;
  pid_t pid() const { return pid_; }
  void killGroup() {
    (void)::kill(-pid_, SIGKILL);
    (void)::kill(pid_, SIGKILL);
  }
  int reap() {
    int status = 0;
    while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
    pid_ = -1;
    return status;
  }

 private:
  pid_t pid_;
};

struct Capture {
  std::string data;
  bool truncated = false;
  size_t limit;
  void add(const char* buf, size_t n) {
    size_t room = data.size() < limit ? limit - data.size() : 0;
    if (n > room) truncated = true;
    data.append(buf, std::min(n, room));
  }
  std::string quoted() const {
    std::string s = data;
    while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.pop_back();
    return "\"" + s + (truncated ? "...(truncated)" : "") + "\"";
  }
};

// Reads what is available; false at EOF (or a read error, which ends capture the same way).
bool drain(int fd, Capture& cap) {
  char buf[4096];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n > 0) {
      cap.add(buf, static_cast<size_t>(n));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return true;
    return false;
  }
}

std::string formatSeconds(std::chrono::milliseconds ms) {
  if (ms.count() % 1000 == 0) return std::to_string(ms.count() / 1000);
  std::ostringstream os;
  os << static_cast<double>(ms.count()) / 1000.0;
  return os.str();
}

std::string describeStatus(int status) {
  if (WIFEXITED(status)) return "exit status " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) {
    int sig = WTERMSIG(status);
    const char* abbrev = sigabbrev_np(sig);
    return "killed by signal " + std::to_string(sig) + (abbrev ? std::string(" (SIG") + abbrev + ")" : "");
  }
  return "wait status " + std::to_string(status);
}

std::vector<char*> cStrings(std::vector<std::string>& strings) {
  std::vector<char*> out;
  out.reserve(strings.size() + 1);
  for (auto& s : strings) out.push_back(s.data());
  out.push_back(nullptr);
  return out;
}

}  // namespace

void runHook(std::string_view phase, size_t index, const oci::Hook& hook, const std::string& stateJson,
             const HookOptions& options) {
  const std::string label = std::string(phase) + " hook #" + std::to_string(index) + " (" + hook.path + ")";
  auto invalid = [&](const std::string& why) { fail(ErrorKind::kInvalidArgument, label + ": " + why); };
  if (hook.path.empty() || hook.path.front() != '/') invalid("path must be absolute");
  if (hook.timeout && *hook.timeout <= 0) invalid("timeout must be a positive number of seconds");
  std::vector<std::string> args = hook.args.empty() ? std::vector<std::string>{hook.path} : hook.args;
  std::vector<std::string> env = hook.env;
  for (const auto* list : {&args, &env})
    for (const auto& s : *list)
      if (s.find('\0') != std::string::npos) invalid("arguments and environment may not contain NUL bytes");
  if (hook.path.find('\0') != std::string::npos) invalid("path contains a NUL byte");
  std::optional<std::chrono::milliseconds> timeout = options.defaultTimeout;
  if (hook.timeout) timeout = std::chrono::seconds(*hook.timeout);

  // Everything the child touches between fork and exec is prepared here: it may only make
  // async-signal-safe calls.
  std::vector<char*> argv = cStrings(args);
  std::vector<char*> envp = cStrings(env);
  const char* path = hook.path.c_str();
  const char* cwd = options.workingDir.empty() ? nullptr : options.workingDir.c_str();

  Pipe in = makePipe(), out = makePipe(), err = makePipe(), execErr = makePipe();
  SigpipeBlock sigpipe;

  pid_t pid = KATA_SYSCALL(::fork(), "fork for " + label);
  if (pid == 0) {
    (void)::setpgid(0, 0);
    if (::dup2(in.read.get(), 0) < 0 || ::dup2(out.write.get(), 1) < 0 || ::dup2(err.write.get(), 2) < 0) {
      int e = errno;
      (void)!::write(execErr.write.get(), &e, sizeof e);
      ::_exit(127);
    }
    struct sigaction dfl {};
    dfl.sa_handler = SIG_DFL;
    for (int sig = 1; sig < NSIG; ++sig) (void)::sigaction(sig, &dfl, nullptr);
    sigset_t none;
    sigemptyset(&none);
    (void)::sigprocmask(SIG_SETMASK, &none, nullptr);
    // Descriptors someone opened without O_CLOEXEC must not reach the hook.
    (void)::syscall(SYS_close_range, 3U, ~0U, 4U /* CLOSE_RANGE_CLOEXEC */);
    if (cwd != nullptr && ::chdir(cwd) != 0) {
      int e = errno;
      (void)!::write(execErr.write.get(), &e, sizeof e);
      ::_exit(127);
    }
    ::execve(path, argv.data(), envp.data());
    int e = errno;
    (void)!::write(execErr.write.get(), &e, sizeof e);
    ::_exit(127);
  }
  Child child(pid);
  (void)::setpgid(pid, pid);  // also here, so a kill of the group cannot race the child's own setpgid
  in.read.reset();
  out.write.reset();
  err.write.reset();
  execErr.write.reset();

  // exec closes the error pipe (FD_CLOEXEC); before that the child reports why it could not exec.
  int execErrno = 0;
  ssize_t got = 0;
  do {
    got = ::read(execErr.read.get(), &execErrno, sizeof execErrno);
  } while (got < 0 && errno == EINTR);
  if (got == static_cast<ssize_t>(sizeof execErrno)) {
    child.reap();
    fail(ErrorKind::kInvalidArgument, label + ": cannot execute: " + std::strerror(execErrno));
  }

  UniqueFd pidfd(static_cast<int>(KATA_SYSCALL(::syscall(SYS_pidfd_open, pid, 0), "pidfd_open for " + label)));
  setNonBlocking(in.write.get());
  setNonBlocking(out.read.get());
  setNonBlocking(err.read.get());
  Capture outCap{{}, false, options.maxCapture}, errCap{{}, false, options.maxCapture};
  size_t written = 0;
  if (stateJson.empty()) in.write.reset();
  const auto deadline = std::chrono::steady_clock::now() + timeout.value_or(std::chrono::milliseconds(0));

  for (;;) {
    struct pollfd fds[4];
    int n = 0;
    fds[n++] = {pidfd.get(), POLLIN, 0};
    int inIdx = -1, outIdx = -1, errIdx = -1;
    if (in.write) {
      inIdx = n;
      fds[n++] = {in.write.get(), POLLOUT, 0};
    }
    if (out.read) {
      outIdx = n;
      fds[n++] = {out.read.get(), POLLIN, 0};
    }
    if (err.read) {
      errIdx = n;
      fds[n++] = {err.read.get(), POLLIN, 0};
    }
    int waitMs = -1;
    if (timeout) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      waitMs = static_cast<int>(std::max<long long>(0, left.count() + 1));
    }
    int ready = ::poll(fds, static_cast<nfds_t>(n), waitMs);
    if (ready < 0) {
      if (errno == EINTR) continue;
      throwSysError(errno, "poll on " + label);
    }
    if (ready == 0 && timeout && std::chrono::steady_clock::now() >= deadline) {
      child.killGroup();
      child.reap();
      fail(ErrorKind::kTimeout, label + " timed out after " + formatSeconds(*timeout) + " s and was killed");
    }
    if (inIdx >= 0 && fds[inIdx].revents != 0) {
      ssize_t w = ::write(in.write.get(), stateJson.data() + written, stateJson.size() - written);
      if (w > 0) {
        written += static_cast<size_t>(w);
        if (written == stateJson.size()) in.write.reset();  // EOF for the hook
      } else if (w < 0 && errno != EAGAIN && errno != EINTR) {
        in.write.reset();  // EPIPE: the hook does not read its stdin, which is its right
      }
    }
    if (outIdx >= 0 && fds[outIdx].revents != 0 && !drain(out.read.get(), outCap)) out.read.reset();
    if (errIdx >= 0 && fds[errIdx].revents != 0 && !drain(err.read.get(), errCap)) err.read.reset();
    if (fds[0].revents != 0) break;  // the hook exited
  }
  // Whatever the hook wrote before exiting is in the pipes; its own children may keep them open,
  // so take what is there and do not wait for EOF.
  if (out.read) drain(out.read.get(), outCap);
  if (err.read) drain(err.read.get(), errCap);
  int status = child.reap();
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return;
  std::string msg = label + " failed: " + describeStatus(status) + "; stderr: " + errCap.quoted();
  if (!outCap.data.empty()) msg += "; stdout: " + outCap.quoted();
  fail(ErrorKind::kFailedPrecondition, msg);
}

void runHooks(std::string_view phase, const std::vector<oci::Hook>& hooks, const std::string& stateJson,
              const HookOptions& options) {
  for (size_t i = 0; i < hooks.size(); ++i) runHook(phase, i, hooks[i], stateJson, options);
}

}  // namespace kata::hooks
