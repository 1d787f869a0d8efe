// What stands in for a container's process on the host while it runs (the per-container shim, and
// kata-ctl itself for `run` and `exec` in the foreground): waits for the guest process to exit while
// forwarding to it the signals this process receives, and keeping its terminal's size in step.
#pragma once

#include <string>

#include "runtime/sandbox/sandbox.h"

namespace kata::ctl {

// The signals forwarded to the container's process. kj delivers a signal only if it was captured
// before the event loop was made: call this first thing in a process that relays.
void captureForwardedSignals();

struct RelayTarget {
  std::string containerId;
  std::string execId;  // "" for the init process
  int ttyFd = -1;      // the host terminal whose size the guest pty follows (SIGWINCH); -1: none
};

// Returns the exit status once the process has exited and its output has been delivered.
sandbox::ExitStatus relayUntilExit(sandbox::Sandbox& sandbox, const RelayTarget& target, const Logger& log);

}  // namespace kata::ctl
