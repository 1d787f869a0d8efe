#include "security/fds.h"

#include <fcntl.h>
#include <linux/close_range.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <string>

#include "common/error.h"

namespace kata::security {

FdPlan prepareFds(int stdinFd, int stdoutFd, const std::vector<int>& passFds, const std::vector<int>& plumbingFds) {
  FdPlan plan;
  if (stdinFd < 0 || stdoutFd < 0) fail(ErrorKind::kInvalidArgument, "launcher: stdin and log descriptors are required");
  plan.stdinFd = stdinFd;
  plan.stdoutFd = stdoutFd;
  std::vector<std::pair<int, bool>> all;
  for (int fd : passFds) {
    if (fd < 3) fail(ErrorKind::kInvalidArgument, "launcher: passed fd " + std::to_string(fd) + " collides with stdio");
    if (::fcntl(fd, F_GETFD) < 0) fail(ErrorKind::kInvalidArgument, "launcher: passed fd " + std::to_string(fd) + " is not open");
    all.emplace_back(fd, true);
  }
  for (int fd : plumbingFds) {
    if (fd < 0) continue;
    int flags = KATA_SYSCALL(::fcntl(fd, F_GETFD), "plumbing fd " + std::to_string(fd));
    if (!(flags & FD_CLOEXEC)) fail(ErrorKind::kInternal, "launcher: plumbing fd " + std::to_string(fd) + " lacks O_CLOEXEC");
    all.emplace_back(fd, false);
  }
  std::sort(all.begin(), all.end());
  for (size_t i = 1; i < all.size(); ++i)
    if (all[i].first == all[i - 1].first)
      fail(ErrorKind::kInvalidArgument, "launcher: fd " + std::to_string(all[i].first) + " is passed twice or is also used by the launcher");
  if (all.size() > FdPlan::kMaxKeep) fail(ErrorKind::kInvalidArgument, "launcher: too many file descriptors to pass");
  for (const auto& [fd, pass] : all) {
    if (fd < 3) continue;  // plumbing fds in 0-2 (a daemon started with stdio closed) are dup'ed away first
    plan.keep[plan.count] = fd;
    plan.pass[plan.count] = pass;
    ++plan.count;
  }
  return plan;
}

int applyFdStdio(const FdPlan& plan) noexcept {
  // Move the sources above every kept fd first: a source may itself sit in 0-2.
  int floor = plan.count ? plan.keep[plan.count - 1] + 1 : 3;
  int in = ::fcntl(plan.stdinFd, F_DUPFD_CLOEXEC, floor);
  if (in < 0) return errno;
  int out = ::fcntl(plan.stdoutFd, F_DUPFD_CLOEXEC, floor);
  if (out < 0) return errno;
  if (::dup2(in, 0) < 0 || ::dup2(out, 1) < 0 || ::dup2(out, 2) < 0) return errno;
  return 0;  // the high copies are closed by applyFdClose
}

int applyFdClose(const FdPlan& plan) noexcept {
  unsigned first = 3;
  for (size_t i = 0; i < plan.count; ++i) {
    unsigned k = static_cast<unsigned>(plan.keep[i]);
    if (k > first && ::syscall(SYS_close_range, first, k - 1, 0) < 0) return errno;
    first = k + 1;
  }
  if (::syscall(SYS_close_range, first, ~0U, 0) < 0) return errno;
  return 0;
}

int applyFdPass(const FdPlan& plan) noexcept {
  for (size_t i = 0; i < plan.count; ++i)
    if (plan.pass[i] && ::fcntl(plan.keep[i], F_SETFD, 0) < 0) return errno;
  return 0;
}

}  // namespace kata::security
