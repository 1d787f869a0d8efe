// The per-sandbox monitor: the one process that holds a sandbox's agent channel, so that short-lived
// CLI calls and per-container shims reach the agent without reconnecting to the VM's virtio-serial
// port (which has no session boundary: see docs/guest.md). It serves the agent's bootstrap
// capability, forwarded as is, to every local client of its socket whose uid is its own (or root),
// and ends when the agent's connection ends (the VM stopped or was destroyed) or on SIGTERM.
#pragma once

#include <functional>
#include <string>

#include "common/fd.h"
#include "common/log.h"
#include "runtime/sandbox/event_loop.h"

namespace kata::sandbox {

struct MonitorResult {
  std::string reason;  // why it ended
  bool agentLost = false;
};

// Serves until the end; `ready` is called once the socket serves and the agent has answered a ping
// (so whoever started the monitor can rely on it). listenFd: a listening unix socket. The process
// must have called kj::UnixEventPort::captureSignal(SIGTERM) before creating the loop.
MonitorResult runMonitor(EventLoop& loop, UniqueFd agentChannel, UniqueFd listenFd, const Logger& log,
                         std::chrono::milliseconds agentTimeout, const std::function<void()>& ready);

}  // namespace kata::sandbox
