#include "kata-vmmd/jail_launcher.h"

#include <fcntl.h>
#include <linux/close_range.h>
#include <poll.h>
#include <signal.h>
#include <linux/capability.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <set>

#include "common/error.h"
#include "security/validate.h"

namespace kata::vmmd {
namespace {

// One request or reply is one SOCK_SEQPACKET message: a small binary encoding (argv may hold any
// bytes a path may) plus the descriptors as SCM_RIGHTS.
constexpr uint32_t kRequestMagic = 0x4b564c31;  // "KVL1"
constexpr uint32_t kReplyMagic = 0x4b564c52;    // "KVLR"
constexpr size_t kMaxMessage = 1 << 20;
constexpr size_t kMaxString = 64 * 1024;
constexpr size_t kMaxItems = 4096;
constexpr size_t kMaxFds = 72;  // FdPlan::kMaxKeep passed fds, a netns, cgroup.procs of each hierarchy
constexpr int kReplyTimeoutMs = 30000;

class Writer {
 public:
  void u32(uint32_t v) { buf_.append(reinterpret_cast<const char*>(&v), sizeof v); }
  void u64(uint64_t v) { buf_.append(reinterpret_cast<const char*>(&v), sizeof v); }
  void str(const std::string& s) {
    u32(static_cast<uint32_t>(s.size()));
    buf_ += s;
  }
  void strs(const std::vector<std::string>& v) {
    u32(static_cast<uint32_t>(v.size()));
    for (const auto& s : v) str(s);
  }
  const std::string& bytes() const { return buf_; }

 private:
  std::string buf_;
};

class Reader {
 public:
  Reader(const char* data, size_t size) : p_(data), left_(size) {}
  uint32_t u32() { return take<uint32_t>(); }
  uint64_t u64() { return take<uint64_t>(); }
  std::string str() {
    uint32_t n = u32();
    if (n > kMaxString || n > left_) bad("string too long");
    std::string s(p_, n);
    p_ += n;
    left_ -= n;
    return s;
  }
  std::vector<std::string> strs() {
    uint32_t n = count();
    std::vector<std::string> v;
    for (uint32_t i = 0; i < n; ++i) v.push_back(str());
    return v;
  }
  uint32_t count() {
    uint32_t n = u32();
    if (n > kMaxItems) bad("too many items");
    return n;
  }
  void end() const {
    if (left_ != 0) bad("trailing bytes");
  }

 private:
  template <typename T>
  T take() {
    T v;
    if (left_ < sizeof v) bad("truncated");
    std::memcpy(&v, p_, sizeof v);
    p_ += sizeof v;
    left_ -= sizeof v;
    return v;
  }
  [[noreturn]] static void bad(const char* why) {
    fail(ErrorKind::kInvalidArgument, std::string("launcher protocol: malformed message (") + why + ")");
  }
  const char* p_;
  size_t left_;
};

void sendMessage(int sock, const std::string& bytes, const std::vector<int>& fds) {
  iovec iov{const_cast<char*>(bytes.data()), bytes.size()};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  std::vector<char> control;
  if (!fds.empty()) {
    control.resize(CMSG_SPACE(fds.size() * sizeof(int)));
    msg.msg_control = control.data();
    msg.msg_controllen = control.size();
    cmsghdr* cm = CMSG_FIRSTHDR(&msg);
    cm->cmsg_level = SOL_SOCKET;
    cm->cmsg_type = SCM_RIGHTS;
    cm->cmsg_len = CMSG_LEN(fds.size() * sizeof(int));
    std::memcpy(CMSG_DATA(cm), fds.data(), fds.size() * sizeof(int));
  }
  ssize_t n;
  do {
    n = ::sendmsg(sock, &msg, MSG_NOSIGNAL);
  } while (n < 0 && errno == EINTR);
  if (n < 0) throwSysError(errno, "send to the launcher channel");
  if (static_cast<size_t>(n) != bytes.size()) fail(ErrorKind::kInternal, "launcher channel: short send");
}

// 0 bytes: the other end closed. The descriptors arrive close-on-exec.
size_t receiveMessage(int sock, std::vector<char>& buf, std::vector<UniqueFd>& fds) {
  buf.resize(kMaxMessage);
  iovec iov{buf.data(), buf.size()};
  std::vector<char> control(CMSG_SPACE(kMaxFds * sizeof(int)));
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control.data();
  msg.msg_controllen = control.size();
  ssize_t n;
  do {
    n = ::recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
  } while (n < 0 && errno == EINTR);
  if (n < 0) throwSysError(errno, "receive on the launcher channel");
  for (cmsghdr* cm = CMSG_FIRSTHDR(&msg); cm; cm = CMSG_NXTHDR(&msg, cm)) {
    if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS) continue;
    size_t count = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (size_t i = 0; i < count; ++i) {
      int fd;
      std::memcpy(&fd, CMSG_DATA(cm) + i * sizeof(int), sizeof fd);
      fds.emplace_back(fd);
    }
  }
  if (msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC))
    fail(ErrorKind::kInvalidArgument, "launcher channel: message or descriptors truncated");
  buf.resize(static_cast<size_t>(n));
  return static_cast<size_t>(n);
}

std::string encodeRequest(const LaunchSpec& s, size_t cgroupProcs) {
  Writer w;
  w.u32(kRequestMagic);
  w.str(s.sandboxId);
  w.strs(s.argv);
  w.strs(s.env);
  w.u32(s.identity.uid);
  w.u32(s.identity.gid);
  w.u32(static_cast<uint32_t>(s.identity.supplementaryGroups.size()));
  for (gid_t g : s.identity.supplementaryGroups) w.u32(g);
  w.u32(s.identity.allowRoot ? 1 : 0);
  w.u32(static_cast<uint32_t>(s.passFds.size()));
  for (int fd : s.passFds) w.u32(static_cast<uint32_t>(fd));
  w.str(s.logPath);
  w.u32(s.netnsFd >= 0 ? 1 : 0);
  w.u32(static_cast<uint32_t>(cgroupProcs));
  w.u32(static_cast<uint32_t>(s.rlimits.size()));
  for (const auto& [res, lim] : s.rlimits) {
    w.u32(static_cast<uint32_t>(res));
    w.u64(lim.rlim_cur);
    w.u64(lim.rlim_max);
  }
  w.u32(s.userns ? 1 : 0);
  if (s.userns) {
    for (const auto* map : {&s.userns->uidMap, &s.userns->gidMap}) {
      w.u32(static_cast<uint32_t>(map->size()));
      for (const auto& m : *map) {
        w.u32(m.inside);
        w.u32(m.outside);
        w.u32(m.count);
      }
    }
    w.u32(static_cast<uint32_t>(s.userns->keep.size()));
    for (int cap : s.userns->keep) w.u32(static_cast<uint32_t>(cap));
  }
  return w.bytes();
}

struct Request {
  LaunchSpec spec;
  bool netns = false;
  uint32_t cgroupProcs = 0;
};

Request decodeRequest(const std::vector<char>& buf) {
  Reader r(buf.data(), buf.size());
  if (r.u32() != kRequestMagic) fail(ErrorKind::kInvalidArgument, "launcher protocol: not a launch request");
  Request q;
  q.spec.sandboxId = r.str();
  q.spec.argv = r.strs();
  q.spec.env = r.strs();
  q.spec.identity.uid = r.u32();
  q.spec.identity.gid = r.u32();
  for (uint32_t i = 0, n = r.count(); i < n; ++i) q.spec.identity.supplementaryGroups.push_back(r.u32());
  q.spec.identity.allowRoot = r.u32() != 0;
  for (uint32_t i = 0, n = r.count(); i < n; ++i) q.spec.passFds.push_back(static_cast<int>(r.u32()));
  q.spec.logPath = r.str();
  q.netns = r.u32() != 0;
  q.cgroupProcs = r.count();
  for (uint32_t i = 0, n = r.count(); i < n; ++i) {
    int res = static_cast<int>(r.u32());
    rlimit lim{};
    lim.rlim_cur = r.u64();
    lim.rlim_max = r.u64();
    q.spec.rlimits[res] = lim;
  }
  if (r.u32() != 0) {
    security::UserNamespaceSpec u;
    for (auto* map : {&u.uidMap, &u.gidMap})
      for (uint32_t i = 0, n = r.count(); i < n; ++i) {
        security::IdMapping m;
        m.inside = r.u32();
        m.outside = r.u32();
        m.count = r.u32();
        map->push_back(m);
      }
    for (uint32_t i = 0, n = r.count(); i < n; ++i) u.keep.insert(static_cast<int>(r.u32()));
    q.spec.userns = std::move(u);
  }
  r.end();
  return q;
}

std::string encodeReply(const JailedChild& c) {
  Writer w;
  w.u32(kReplyMagic);
  w.u32(0);
  w.u32(static_cast<uint32_t>(c.pid));
  w.u32(static_cast<uint32_t>(c.failedStep));
  w.u32(static_cast<uint32_t>(c.failedErrno));
  w.u32(c.reportLost ? 1 : 0);
  return w.bytes();
}

std::string encodeError(const Error& e) {
  Writer w;
  w.u32(kReplyMagic);
  w.u32(1);
  w.u32(static_cast<uint32_t>(e.kind()));
  w.str(std::string(e.what()).substr(0, 4096));
  return w.bytes();
}

// Moves fd above floor (close-on-exec), closing the old number.
UniqueFd moveAbove(UniqueFd fd, int floor) {
  UniqueFd moved(KATA_SYSCALL(::fcntl(fd.get(), F_DUPFD_CLOEXEC, floor), "launcher: move fd"));
  return moved;
}

// One request, in the launcher process: checked again (a compromised daemon must not turn the
// launcher into a general "run anything as anyone" service), the fds put at the numbers the argv
// names, then P3-P5 with the child as the daemon's.
JailedChild serveOne(const JailLauncherOptions& options, UniqueFd& channel, const std::vector<char>& buf,
                     std::vector<UniqueFd>& received, std::vector<UniqueFd>& placed) {
  Request q = decodeRequest(buf);
  LaunchSpec& spec = q.spec;
  security::validateSandboxId(spec.sandboxId);
  if (spec.argv.empty()) fail(ErrorKind::kInvalidArgument, "launcher: empty argv");
  if (std::find(options.programs.begin(), options.programs.end(), spec.argv[0]) == options.programs.end())
    fail(ErrorKind::kPermissionDenied, "launcher: " + security::quoteForMessage(spec.argv[0]) +
                                           " is not a program this kata-vmmd launches (its policy's qemu_binary "
                                           "or virtiofsd)");
  if (spec.userns) {
    // Ids are the namespace's then (virtiofsd runs as its uid 0), and what its maps reach on the
    // host is what the daemon asked for. Only the programs the daemon named for it, and only
    // capabilities a file server needs.
    if (std::find(options.userNamespacePrograms.begin(), options.userNamespacePrograms.end(), spec.argv[0]) ==
        options.userNamespacePrograms.end())
      fail(ErrorKind::kPermissionDenied, "launcher: " + security::quoteForMessage(spec.argv[0]) +
                                             " may not run in a user namespace of its own (only the policy's virtiofsd)");
    for (int cap : spec.userns->keep)
      if (!userNamespaceCapabilities().count(cap))
        fail(ErrorKind::kPermissionDenied, "launcher: refusing to keep " + security::capabilityName(cap) +
                                               " in a user namespace (allowed: " +
                                               security::capabilitySetText(userNamespaceCapabilities()) + ")");
  } else if (spec.identity.allowRoot || spec.identity.uid == 0 || spec.identity.gid == 0) {
    fail(ErrorKind::kPermissionDenied, "launcher: refusing to launch as uid/gid 0");
  }
  security::validateExecutable(spec.argv[0]);
  security::validateAbsolutePath(spec.logPath, "log path");
  size_t want = spec.passFds.size() + 1 + (q.netns ? 1 : 0) + q.cgroupProcs;
  if (received.size() != want)
    fail(ErrorKind::kInvalidArgument, "launcher: " + std::to_string(received.size()) + " descriptors for a request that names " +
                                          std::to_string(want));
  std::set<int> targets;
  for (int fd : spec.passFds) {
    if (fd < 3 || fd > 1 << 20) fail(ErrorKind::kInvalidArgument, "launcher: passed fd number " + std::to_string(fd));
    if (!targets.insert(fd).second) fail(ErrorKind::kInvalidArgument, "launcher: fd " + std::to_string(fd) + " passed twice");
  }
  // Nothing of ours may sit on a number the program expects its fds at: move it above them first.
  int floor = targets.empty() ? 3 : *targets.rbegin() + 1;
  if (targets.count(channel.get())) channel = moveAbove(std::move(channel), floor);
  for (auto& fd : received)
    if (targets.count(fd.get())) fd = moveAbove(std::move(fd), floor);
  for (size_t i = 0; i < spec.passFds.size(); ++i) {
    placed.emplace_back(KATA_SYSCALL(::dup3(received[i].get(), spec.passFds[i], O_CLOEXEC), "launcher: place fd"));
    received[i].reset();
  }
  size_t next = spec.passFds.size();
  int logFd = received[next++].get();  // the daemon opened it: it may write where we may not
  spec.netnsFd = q.netns ? received[next++].get() : -1;
  std::vector<int> procs;
  for (uint32_t i = 0; i < q.cgroupProcs; ++i) procs.push_back(received[next++].get());
  return startJailedHere(spec, procs, /*cloneParent=*/true, logFd);
}

[[noreturn]] void runLauncher(UniqueFd channel, const JailLauncherOptions& options, pid_t daemon) {
  // Dies with the daemon (kill -9 included): nothing may launch for a daemon that is gone.
  if (::prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) != 0 || ::getppid() != daemon) ::_exit(1);
  (void)::prctl(PR_SET_NAME, "vmmd-launcher", 0, 0, 0);
  sigset_t none;
  sigemptyset(&none);
  (void)::sigprocmask(SIG_SETMASK, &none, nullptr);
  // Only the channel and stdio (stderr for a last word if the channel breaks).
  int c = channel.get();
  if (c > 3) (void)::syscall(SYS_close_range, 3, c - 1, 0);
  (void)::syscall(SYS_close_range, c + 1, ~0U, 0);
  try {
    security::CapabilitySet keep = options.capabilities;
    security::ProcessCapabilities now = security::currentCapabilities();
    for (int cap : options.optionalCapabilities)
      if (now.permitted.count(cap) && now.bounding.count(cap)) keep.insert(cap);
    security::keepOnlyCapabilities(keep);
    // Nothing it runs may gain privileges through exec (each child sets it again before execve).
    if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) throwSysError(errno, "launcher: PR_SET_NO_NEW_PRIVS");
    Writer ready;
    ready.u32(kReplyMagic);
    ready.u32(0);
    ready.str(security::capabilitySetText(keep));
    sendMessage(channel.get(), ready.bytes(), {});
  } catch (const Error& e) {
    try {
      sendMessage(channel.get(), encodeError(e), {});
    } catch (...) {
    }
    ::_exit(1);
  }
  std::vector<char> buf;
  for (;;) {
    std::vector<UniqueFd> received, placed;
    std::string reply;
    UniqueFd pidfd;
    try {
      if (receiveMessage(channel.get(), buf, received) == 0) ::_exit(0);  // the daemon closed its end
      JailedChild child = serveOne(options, channel, buf, received, placed);
      reply = encodeReply(child);
      pidfd = std::move(child.pidfd);
    } catch (const Error& e) {
      reply = encodeError(e);
    } catch (const std::exception& e) {
      reply = encodeError(Error(ErrorKind::kInternal, std::string("launcher: ") + e.what()));
    }
    try {
      std::vector<int> fds;
      if (pidfd) fds.push_back(pidfd.get());
      sendMessage(channel.get(), reply, fds);
    } catch (...) {
      ::_exit(1);  // the daemon is gone
    }
  }
}

// Waits for one reply from the launcher; the descriptors in it come back in fds.
std::vector<char> awaitReply(int sock, std::vector<UniqueFd>& fds, pid_t launcher) {
  struct pollfd p {sock, POLLIN, 0};
  int n;
  do {
    n = ::poll(&p, 1, kReplyTimeoutMs);
  } while (n < 0 && errno == EINTR);
  if (n < 0) throwSysError(errno, "poll on the launcher channel");
  if (n == 0)
    fail(ErrorKind::kTimeout, "kata-vmmd's launcher process (pid " + std::to_string(launcher) +
                                  ") did not answer within 30 s; restart kata-vmmd (VMs keep running)");
  std::vector<char> buf;
  if (receiveMessage(sock, buf, fds) == 0)
    fail(ErrorKind::kFailedPrecondition, "kata-vmmd's launcher process (pid " + std::to_string(launcher) +
                                             ") is gone; restart kata-vmmd (VMs keep running, the new daemon "
                                             "re-adopts them)");
  return buf;
}

// Throws the launcher's error if the reply is one; else returns a reader past the status.
Reader replyReader(const std::vector<char>& buf) {
  Reader r(buf.data(), buf.size());
  if (r.u32() != kReplyMagic) fail(ErrorKind::kInternal, "launcher protocol: not a reply");
  if (r.u32() != 0) {
    auto kind = static_cast<ErrorKind>(r.u32());
    std::string message = r.str();
    if (kind > ErrorKind::kInternal) kind = ErrorKind::kInternal;
    fail(kind, message);
  }
  return r;
}

}  // namespace

const security::CapabilitySet& userNamespaceCapabilities() {
  static const security::CapabilitySet caps = {CAP_CHOWN,  CAP_DAC_OVERRIDE, CAP_FOWNER,   CAP_FSETID,
                                               CAP_SETUID, CAP_SETGID,       CAP_SETPCAP,  CAP_SYS_ADMIN};
  return caps;
}

std::unique_ptr<JailLauncher> JailLauncher::spawn(const JailLauncherOptions& options, const Logger& log) {
  for (const auto& p : options.programs) security::validateAbsolutePath(p, "launcher program");
  for (const auto& p : options.userNamespacePrograms)
    if (std::find(options.programs.begin(), options.programs.end(), p) == options.programs.end())
      fail(ErrorKind::kInvalidArgument, "launcher: user namespace program " + p + " is not one of its programs");
  int sv[2];
  KATA_SYSCALL(::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), "launcher channel");
  UniqueFd mine(sv[0]), theirs(sv[1]);
  pid_t daemon = ::getpid();
  pid_t pid = ::fork();
  if (pid < 0) throwSysError(errno, "fork the launcher process");
  if (pid == 0) {
    mine.reset();
    runLauncher(std::move(theirs), options, daemon);
  }
  theirs.reset();
  std::unique_ptr<JailLauncher> launcher(new JailLauncher(pid, std::move(mine)));
  std::vector<UniqueFd> none;
  try {
    std::vector<char> buf = awaitReply(launcher->channel_.get(), none, pid);
    Reader r = replyReader(buf);
    log.info("launcher process " + std::to_string(pid) + " started with capabilities " + r.str() +
             " and no seccomp filter");
  } catch (const Error& e) {
    fail(e.kind(), std::string("the launcher process could not start: ") + e.what());
  }
  return launcher;
}

JailLauncher::~JailLauncher() {
  channel_.reset();  // EOF: the launcher exits
  if (pid_ > 0) {
    int status;
    while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
  }
}

JailedChild JailLauncher::start(const LaunchSpec& spec, int logFd, const std::vector<UniqueFd>& cgroupProcs) {
  std::vector<int> fds = spec.passFds;
  fds.push_back(logFd);
  if (spec.netnsFd >= 0) fds.push_back(spec.netnsFd);
  for (const auto& fd : cgroupProcs) fds.push_back(fd.get());
  if (fds.size() > kMaxFds) fail(ErrorKind::kInvalidArgument, "launcher: too many file descriptors to pass");
  std::lock_guard<std::mutex> lock(mu_);
  try {
    sendMessage(channel_.get(), encodeRequest(spec, cgroupProcs.size()), fds);
  } catch (const Error& e) {
    if (e.sysErrno() == EPIPE || e.sysErrno() == ECONNRESET)
      fail(ErrorKind::kFailedPrecondition, "kata-vmmd's launcher process (pid " + std::to_string(pid_) +
                                               ") is gone; restart kata-vmmd (VMs keep running)");
    throw;
  }
  std::vector<UniqueFd> got;
  std::vector<char> buf = awaitReply(channel_.get(), got, pid_);
  Reader r = replyReader(buf);
  JailedChild child;
  child.pid = static_cast<pid_t>(r.u32());
  child.failedStep = static_cast<int>(r.u32());
  child.failedErrno = static_cast<int>(r.u32());
  child.reportLost = r.u32() != 0;
  r.end();
  if (got.size() != 1 || child.pid <= 0)
    fail(ErrorKind::kInternal, "launcher protocol: a launch reply without the child's pidfd");
  child.pidfd = std::move(got.front());
  return child;
}

}  // namespace kata::vmmd
