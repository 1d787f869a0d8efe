// Serves the Agent interface over the virtio-serial port, one host connection at a time, forever.
//
// How a virtio-serial port behaves (drivers/char/virtio_console.c, QEMU's virtserialport on a
// socket chardev): the guest keeps the port open for its whole life. While no host client is
// connected, poll() reports POLLHUP and read() returns 0 at once; data the host sent before the
// guest opened the port is held by QEMU, data the guest writes while no client is connected is
// dropped. So: serve until end-of-file, then drain what the old client left behind, wait (polling
// POLLHUP on a timer, since the port gives no edge when a client arrives) until a new client is
// connected, and serve again on the same descriptor.
#pragma once

#include <capnp/capability.h>
#include <kj/async-io.h>
#include <kj/function.h>
#include <kj/timer.h>

#include "agent/console_log.h"

namespace kata::agent {

class ChannelServer {
 public:
  using BootstrapFactory = kj::Function<capnp::Capability::Client()>;

  // portFd is borrowed (the caller keeps it open for as long as the server runs) and must be
  // non-blocking. makeBootstrap is called once per host connection.
  ChannelServer(kj::LowLevelAsyncIoProvider& io, kj::Timer& timer, int portFd, BootstrapFactory makeBootstrap,
                const ConsoleLog& log);
  KJ_DISALLOW_COPY(ChannelServer);

  // Never resolves; cancel by dropping the promise.
  kj::Promise<void> run();

  uint64_t sessions() const { return sessions_; }

 private:
  kj::Promise<void> serveOne();
  kj::Promise<void> waitForHost();
  bool hostConnected();
  void drainStale();

  kj::LowLevelAsyncIoProvider& io_;
  kj::Timer& timer_;
  int fd_;
  BootstrapFactory makeBootstrap_;
  const ConsoleLog& log_;
  uint64_t sessions_ = 0;
};

}  // namespace kata::agent
