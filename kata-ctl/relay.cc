#include "kata-ctl/relay.h"

#include <signal.h>

#include <kj/async-unix.h>

#include "kata-ctl/terminal.h"

namespace kata::ctl {
namespace {

// Every signal a process would get from a terminal, an engine's `kill` of the pid file's pid, or a
// supervisor. SIGCHLD, SIGPIPE and the synchronous ones stay ours; SIGWINCH resizes instead.
constexpr int kForwarded[] = {SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGUSR1, SIGUSR2, SIGALRM, SIGCONT, SIGTSTP,
                              SIGTTIN, SIGTTOU, SIGVTALRM, SIGPROF, SIGPWR, SIGXCPU, SIGXFSZ};

kj::Promise<void> forwardSignals(sandbox::Sandbox& sb, const RelayTarget& t, const Logger& log, int sig) {
  auto& port = sb.loop().eventPort();
  return port.onSignal(sig).then([&sb, &t, &log, sig](siginfo_t) {
    try {
      sb.signalProcessAsync(t.containerId, t.execId, sig);
    } catch (const Error& e) {
      log.warn("forwarding signal " + std::to_string(sig) + " failed: " + e.what());
    }
    return forwardSignals(sb, t, log, sig);
  });
}

void resize(sandbox::Sandbox& sb, const RelayTarget& t, const Logger& log) {
  auto ws = windowSize(t.ttyFd);
  if (!ws) return;
  try {
    sb.winsizeProcessAsync(t.containerId, t.execId, ws->ws_row, ws->ws_col);
  } catch (const Error& e) {
    log.debug(std::string("resizing the guest terminal failed: ") + e.what());
  }
}

kj::Promise<void> followWindow(sandbox::Sandbox& sb, const RelayTarget& t, const Logger& log) {
  return sb.loop().eventPort().onSignal(SIGWINCH).then([&sb, &t, &log](siginfo_t) {
    resize(sb, t, log);
    return followWindow(sb, t, log);
  });
}

}  // namespace

void captureForwardedSignals() {
  // kj wakes its event loop with SIGUSR1 by default; containers use SIGUSR1, so kj gets a realtime
  // signal nobody forwards instead.
  kj::UnixEventPort::setReservedSignal(SIGRTMAX);
  // A relay whose consumer went away (`kata-ctl exec ... | head -1`) discards the rest of the
  // output (stdio_relay.h) instead of dying of SIGPIPE.
  ::signal(SIGPIPE, SIG_IGN);
  for (int sig : kForwarded) kj::UnixEventPort::captureSignal(sig);
  kj::UnixEventPort::captureSignal(SIGWINCH);
}

sandbox::ExitStatus relayUntilExit(sandbox::Sandbox& sb, const RelayTarget& t, const Logger& log) {
  kj::Vector<kj::Promise<void>> watches;
  for (int sig : kForwarded) watches.add(forwardSignals(sb, t, log, sig).eagerlyEvaluate([&log](kj::Exception&& e) {
    log.warn(std::string("signal forwarding stopped: ") + e.getDescription().cStr());
  }));
  if (t.ttyFd >= 0) {
    resize(sb, t, log);
    watches.add(followWindow(sb, t, log).eagerlyEvaluate(nullptr));
  }
  return sb.waitProcess(t.containerId, t.execId);
}

}  // namespace kata::ctl
