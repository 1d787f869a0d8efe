#include "tests/support/agent_client.h"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <thread>

#include "common/error.h"
#include "common/fd.h"

namespace kata::test {
namespace {

kj::Own<kj::AsyncIoStream> connectUnix(kj::AsyncIoContext& io, const std::string& path,
                                       std::chrono::milliseconds timeout) {
  struct sockaddr_un addr {};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof addr.sun_path) fail(ErrorKind::kInvalidArgument, "socket path too long: " + path);
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    UniqueFd fd(KATA_SYSCALL(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0), "socket"));
    if (::connect(fd.get(), reinterpret_cast<struct sockaddr*>(&addr), sizeof addr) == 0)
      return io.lowLevelProvider->wrapSocketFd(fd.release(), kj::LowLevelAsyncIoProvider::TAKE_OWNERSHIP |
                                                                 kj::LowLevelAsyncIoProvider::ALREADY_CLOEXEC);
    int err = errno;
    if ((err != ENOENT && err != ECONNREFUSED) || std::chrono::steady_clock::now() >= deadline)
      throwSysError(err, "connect " + path);
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

kj::Own<kj::AsyncIoStream> wrapConnected(kj::AsyncIoContext& io, UniqueFd fd) {
  if (!fd.valid()) fail(ErrorKind::kInvalidArgument, "agent connection: no socket descriptor was given");
  return io.lowLevelProvider->wrapSocketFd(fd.release(), kj::LowLevelAsyncIoProvider::TAKE_OWNERSHIP);
}

}  // namespace

AgentConnection::AgentConnection(kj::AsyncIoContext& io, const std::string& path, std::chrono::milliseconds timeout)
    : stream_(connectUnix(io, path, timeout)),
      client_(*stream_),
      agent_(client_.bootstrap().castAs<ipc::agent::Agent>()) {}

AgentConnection::AgentConnection(kj::AsyncIoContext& io, UniqueFd connected)
    : stream_(wrapConnected(io, std::move(connected))),
      client_(*stream_),
      agent_(client_.bootstrap().castAs<ipc::agent::Agent>()) {}

void AgentConnection::writeRaw(const void* data, size_t size) {
  // Below the RPC layer on purpose; the test only uses it on a connection it then drops.
  int fd = -1;
  KJ_IF_MAYBE(f, stream_->getFd()) { fd = *f; }
  if (fd < 0) fail(ErrorKind::kInternal, "agent connection has no file descriptor");
  auto* p = static_cast<const char*>(data);
  while (size > 0) {
    ssize_t n = KATA_SYSCALL(::write(fd, p, size), "write to agent socket");
    p += n;
    size -= static_cast<size_t>(n);
  }
}

std::unique_ptr<AgentConnection> connectAgentWithRetry(kj::AsyncIoContext& io, const std::string& path,
                                                       std::chrono::milliseconds attempt,
                                                       std::chrono::milliseconds overall) {
  auto deadline = std::chrono::steady_clock::now() + overall;
  for (;;) {
    auto conn = std::make_unique<AgentConnection>(io, path, overall);
    try {
      io.provider->getTimer()
          .timeoutAfter(attempt.count() * kj::MILLISECONDS, conn->agent().pingRequest().send())
          .wait(io.waitScope);
      return conn;
    } catch (const kj::Exception& e) {
      if (std::chrono::steady_clock::now() >= deadline)
        fail(ErrorKind::kTimeout, std::string("kata-agent did not answer on ") + path + ": " +
                                      e.getDescription().cStr());
    }
    conn.reset();
    std::this_thread::sleep_for(kReconnectQuietPeriod);
  }
}

}  // namespace kata::test
