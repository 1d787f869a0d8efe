// PID 1 inherits every orphan in the guest and must reap it, or zombies pile up. The reaper runs in
// the agent's event loop: on each SIGCHLD it collects every exited child (waitpid(-1, WNOHANG)) and
// hands the status of the ones somebody waits for (container processes, later) to their promise.
#pragma once

#include <sys/types.h>

#include <kj/async-unix.h>
#include <kj/async.h>
#include <kj/map.h>

#include "agent/console_log.h"

namespace kata::agent {

class Reaper {
 public:
  // Call once, before any thread exists and before kj::setupAsyncIo(): blocks SIGCHLD so that it is
  // delivered only through the event port.
  static void captureSigchld();

  Reaper(kj::UnixEventPort& port, const ConsoleLog& log);
  KJ_DISALLOW_COPY(Reaper);

  // A promise for the wait status of child `pid`. Register right after fork/clone, before returning
  // to the event loop, so the exit cannot be reaped unseen. One waiter per pid.
  kj::Promise<int> onExit(pid_t pid);

  // Reaps every child that has exited; called on SIGCHLD, and public for tests.
  void reapAll();

  uint64_t orphansReaped() const { return orphansReaped_; }

 private:
  kj::Promise<void> loop();

  kj::UnixEventPort& port_;
  const ConsoleLog& log_;
  kj::HashMap<pid_t, kj::Own<kj::PromiseFulfiller<int>>> waiters_;
  uint64_t orphansReaped_ = 0;
  kj::Promise<void> task_;
};

}  // namespace kata::agent
