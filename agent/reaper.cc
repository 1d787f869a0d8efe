#include "agent/reaper.h"

#include <sys/wait.h>

#include <cstring>
#include <string>

#include "common/error.h"

namespace kata::agent {

void Reaper::captureSigchld() { kj::UnixEventPort::captureSignal(SIGCHLD); }

Reaper::Reaper(kj::UnixEventPort& port, const ConsoleLog& log)
    : port_(port), log_(log), task_(loop().eagerlyEvaluate([this](kj::Exception&& e) {
        log_.error("child reaper stopped; orphans will stay zombies", {{"error", e.getDescription().cStr()}});
      })) {
  // Children that exited before the reaper existed raised a SIGCHLD that is still pending, but reap
  // now anyway: the signal may have been consumed by someone else.
  reapAll();
}

kj::Promise<int> Reaper::onExit(pid_t pid) {
  auto paf = kj::newPromiseAndFulfiller<int>();
  waiters_.upsert(pid, kj::mv(paf.fulfiller), [](auto& existing, auto&& replacement) {
    // A second waiter replaces the first, whose promise then breaks ("fulfiller destroyed").
    existing = kj::mv(replacement);
  });
  return kj::mv(paf.promise);
}

void Reaper::reapAll() {
  for (;;) {
    int status = 0;
    pid_t pid = ::waitpid(-1, &status, WNOHANG);
    if (pid == 0) return;  // children remain, none exited
    if (pid < 0) {
      if (errno == EINTR) continue;
      if (errno != ECHILD)
        log_.error("waitpid failed", {{"error", std::string("waitpid: ") + std::strerror(errno)}});
      return;
    }
    KJ_IF_MAYBE(waiter, waiters_.find(pid)) {
      (*waiter)->fulfill(kj::cp(status));
      waiters_.erase(pid);
    } else {
      ++orphansReaped_;
    }
  }
}

kj::Promise<void> Reaper::loop() {
  return port_.onSignal(SIGCHLD).then([this](siginfo_t) {
    reapAll();
    return loop();
  });
}

}  // namespace kata::agent
