// Serves the Agent interface to every connection accepted on a listening stream socket: AF_VSOCK in
// a guest whose VM has a vhost-vsock device (kata.agent_vsock_port=N on the kernel command line,
// default 1024, 0: off), alongside the virtio-serial channel (agent/channel.h). Unlike the serial
// port, a socket has real connection boundaries, so sessions run side by side (bounded in number)
// and a reconnecting host needs no quiet period.
#pragma once

#include <capnp/capability.h>
#include <kj/async-io.h>
#include <kj/function.h>
#include <kj/timer.h>

#include <cstdint>
#include <optional>
#include <string>

#include "agent/console_log.h"
#include "common/fd.h"

namespace kata::agent {

inline constexpr uint32_t kDefaultVsockPort = 1024;
inline constexpr size_t kMaxSocketSessions = 16;

// The agent's vsock port from the kernel command line: kata.agent_vsock_port=N (N = 0 turns the
// listener off); absent: kDefaultVsockPort. Throws kInvalidArgument for a value that is not a port.
uint32_t vsockPortFromCmdline(const std::string& cmdline);

// Whether the VM has a virtio vsock device: a <sysRoot>/bus/virtio/devices/*/device of 0x0013
// (VIRTIO_ID_VSOCK), whether or not its driver is loaded yet.
bool hasVirtioVsockDevice(const std::string& sysRoot);

// socket(AF_VSOCK, SOCK_STREAM), bind(VMADDR_CID_ANY, port), listen. Non-blocking, close-on-exec.
UniqueFd listenVsock(uint32_t port);

class SocketServer {
 public:
  using BootstrapFactory = kj::Function<capnp::Capability::Client()>;

  // Takes the listening socket. makeBootstrap is called once per accepted connection.
  SocketServer(kj::LowLevelAsyncIoProvider& io, kj::Timer& timer, UniqueFd listening, BootstrapFactory makeBootstrap,
               const ConsoleLog& log, size_t maxSessions = kMaxSocketSessions);
  KJ_DISALLOW_COPY(SocketServer);
  ~SocketServer() noexcept(false);

  // Accepts forever (never resolves; cancel by dropping the promise). An accept error is logged and
  // accepting goes on after a pause (so e.g. EMFILE cannot make PID 1 spin).
  kj::Promise<void> run();

  uint64_t sessions() const { return sessions_; }  // accepted and served so far
  size_t active() const { return active_; }
  uint64_t refused() const { return refused_; }    // closed at once: too many sessions

 private:
// kj's ErrorHandler has a protected non-virtual destructor (it is never deleted through the base).
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wnon-virtual-dtor"
  class ErrorHandler final : public kj::TaskSet::ErrorHandler {
   public:
    explicit ErrorHandler(const ConsoleLog& log) : log_(log) {}
    void taskFailed(kj::Exception&& e) override;

   private:
    const ConsoleLog& log_;
  };
#pragma GCC diagnostic pop
  void serve(kj::Own<kj::AsyncIoStream> stream);

  kj::Timer& timer_;
  kj::Own<kj::ConnectionReceiver> receiver_;
  BootstrapFactory makeBootstrap_;
  const ConsoleLog& log_;
  size_t maxSessions_;
  uint64_t sessions_ = 0;
  size_t active_ = 0;
  uint64_t refused_ = 0;
  ErrorHandler errorHandler_;
  kj::TaskSet tasks_;
};

}  // namespace kata::agent
