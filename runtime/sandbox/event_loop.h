// The event loop every Sandbox API object of a thread runs on. Cap'n Proto (kj) allows one loop per
// thread; the agent connection, the kata-vmmd connection, stdio relays and signal watches all live
// on it. Synchronous API calls wait on it, so relays keep flowing while a caller waits.
#pragma once

#include <kj/async-io.h>
#include <kj/async-unix.h>
#include <kj/timer.h>

#include <chrono>
#include <string>

#include "common/error.h"

namespace kata::sandbox {

class EventLoop {
 public:
  EventLoop();
  EventLoop(const EventLoop&) = delete;
  EventLoop& operator=(const EventLoop&) = delete;

  kj::AsyncIoContext& io() { return io_; }
  kj::WaitScope& waitScope() { return io_.waitScope; }
  kj::Timer& timer() { return io_.provider->getTimer(); }
  kj::UnixEventPort& eventPort() { return io_.unixEventPort; }

  // Waits for promise, at most `timeout`; kTimeout "<what> did not finish within N s" after it. A kj
  // exception becomes a kata::Error (a remote one keeps the kind its peer tagged it with; `peer`
  // names the peer of an untagged one, e.g. "kata-agent").
  template <typename T>
  T wait(kj::Promise<T>&& promise, std::chrono::milliseconds timeout, const std::string& what,
         const char* peer = "kata-agent") {
    try {
      return timer()
          .timeoutAfter(timeout.count() * kj::MILLISECONDS, kj::mv(promise))
          .wait(io_.waitScope);
    } catch (const kj::Exception& e) {
      throw fromKj(e, timeout, what, peer);
    }
  }
  // Without a deadline (a process may run for as long as it likes).
  template <typename T>
  T waitForever(kj::Promise<T>&& promise, const std::string& what, const char* peer = "kata-agent") {
    try {
      return promise.wait(io_.waitScope);
    } catch (const kj::Exception& e) {
      throw fromKj(e, std::chrono::milliseconds(0), what, peer);
    }
  }
  // Runs whatever is ready without blocking.
  void poll() { io_.waitScope.poll(); }

  static Error fromKj(const kj::Exception& e, std::chrono::milliseconds timeout, const std::string& what,
                      const char* peer);

 private:
  kj::AsyncIoContext io_;
};

}  // namespace kata::sandbox
