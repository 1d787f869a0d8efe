#include "agent/channel.h"

#include <poll.h>
#include <unistd.h>

#include <string>

#include "agent/rpc_session.h"

namespace kata::agent {
namespace {

// Poll period while no host client is connected. Short enough that a connecting host barely waits.
constexpr auto kHostPollInterval = 10 * kj::MILLISECONDS;
// Pause after a session that ended with an error while the host stays connected (e.g. garbage on the
// wire), so a confused peer cannot make the agent spin.
constexpr auto kErrorBackoff = 200 * kj::MILLISECONDS;

}  // namespace

ChannelServer::ChannelServer(kj::LowLevelAsyncIoProvider& io, kj::Timer& timer, int portFd,
                             BootstrapFactory makeBootstrap, const ConsoleLog& log)
    : io_(io), timer_(timer), fd_(portFd), makeBootstrap_(kj::mv(makeBootstrap)), log_(log) {}

bool ChannelServer::hostConnected() {
  struct pollfd p = {fd_, POLLIN, 0};
  int n = ::poll(&p, 1, 0);
  if (n < 0) return false;
  return (p.revents & (POLLHUP | POLLERR | POLLNVAL)) == 0;
}

void ChannelServer::drainStale() {
  char buf[4096];
  for (;;) {
    ssize_t n = ::read(fd_, buf, sizeof buf);
    if (n > 0) continue;
    if (n < 0 && errno == EINTR) continue;
    return;  // 0: nothing left (host gone); EAGAIN: nothing buffered
  }
}

kj::Promise<void> ChannelServer::waitForHost() {
  if (hostConnected()) return kj::READY_NOW;
  drainStale();
  return timer_.afterDelay(kHostPollInterval).then([this] { return waitForHost(); });
}

kj::Promise<void> ChannelServer::serveOne() {
  auto stream = io_.wrapSocketFd(fd_, kj::LowLevelAsyncIoProvider::ALREADY_CLOEXEC |
                                          kj::LowLevelAsyncIoProvider::ALREADY_NONBLOCK);
  auto session = kj::heap<RpcSession>(kj::mv(stream), makeBootstrap_());
  ++sessions_;
  log_.info("host connected to the agent channel", {{"session", std::to_string(sessions_)}});
  auto done = session->network.onDisconnect();
  return done.attach(kj::mv(session));
}

kj::Promise<void> ChannelServer::run() {
  return waitForHost()
      .then([this] { return serveOne(); })
      .then([this]() { log_.info("agent channel session ended"); },
            [this](kj::Exception&& e) {
              log_.warn("agent channel session failed", {{"error", e.getDescription().cStr()}});
            })
      .then([this]() -> kj::Promise<void> {
        // A host that hung up shows POLLHUP and we wait for the next one. A session that ended while
        // the host is still there ended on an error (e.g. bytes that are not Cap'n Proto): back off
        // before serving again, so a confused peer cannot make PID 1 spin.
        if (hostConnected()) return timer_.afterDelay(kErrorBackoff);
        return kj::READY_NOW;
      })
      .then([this] { return run(); });
}
}  // namespace kata::agent
