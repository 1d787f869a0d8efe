// The contract every security mechanism follows so a multi-threaded daemon can apply it between
// clone and exec: prepare() runs in the parent (may allocate, validate, throw); apply() runs in the
// child, makes only raw system calls (async-signal-safe, no allocation, no locks, no glibc wrappers
// that talk to other threads, e.g. setuid's all-threads broadcast), and returns 0 or an errno.
#pragma once

namespace kata::security {

// Which step of a child-side pipeline failed, with errno; written as-is through a pipe to the parent.
struct ChildFailure {
  int step = 0;
  int err = 0;
};

}  // namespace kata::security
