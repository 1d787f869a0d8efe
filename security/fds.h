// File descriptors of a launched child: stdin from /dev/null, stdout and stderr to a log, the
// descriptors passed on purpose kept at their numbers, every other inherited descriptor closed.
#pragma once

#include <cstddef>
#include <vector>

namespace kata::security {

struct FdPlan {
  static constexpr size_t kMaxKeep = 64;
  int stdinFd = -1;   // dup2'ed to 0
  int stdoutFd = -1;  // dup2'ed to 1 and 2
  int keep[kMaxKeep] = {};   // sorted, unique, all >= 3; includes the plumbing below
  bool pass[kMaxKeep] = {};  // true: survives exec (FD_CLOEXEC cleared); false: plumbing, closed at exec
  size_t count = 0;
};

// passFds: what the program gets (>= 3, open, not one of the plumbing fds). plumbingFds: what the child
// itself needs until exec (stdio sources, cgroup files, error pipe); they must be O_CLOEXEC.
FdPlan prepareFds(int stdinFd, int stdoutFd, const std::vector<int>& passFds, const std::vector<int>& plumbingFds);

// Child side. Step 1: stdio. Step 2: close_range over every gap between kept fds. Step 3: clear
// FD_CLOEXEC on the passed fds.
int applyFdStdio(const FdPlan& plan) noexcept;
int applyFdClose(const FdPlan& plan) noexcept;
int applyFdPass(const FdPlan& plan) noexcept;

}  // namespace kata::security
