// A synchronous client for kata-vmmd (ipc/vmmd.capnp): one connection, its own event loop. kata-ctl
// (and the tests) make a request with the generated API and wait() for it; a remote error comes back
// as a kata::Error of the kind the daemon raised (the daemon prefixes each message with its kind).
#pragma once

#include <capnp/rpc-twoparty.h>
#include <kj/async-io.h>

#include <optional>
#include <string>

#include "common/error.h"
#include "common/fd.h"
#include "ipc/vmmd.capnp.h"

namespace kata::ipc {

using kata::errorKindTag;  // common/error.h: the tags the daemon puts before its messages
inline Error errorFromRemote(const std::string& description) { return kata::errorFromRemote(description, "kata-vmmd"); }

class VmmdClient {
 public:
  // With an event loop of its own (kj allows one per thread: only where the thread has none).
  explicit VmmdClient(const std::string& socketPath);
  // On the thread's existing event loop, shared with other connections (the Sandbox API's).
  VmmdClient(kj::AsyncIoContext& io, const std::string& socketPath);
  VmmdClient(const VmmdClient&) = delete;
  VmmdClient& operator=(const VmmdClient&) = delete;

  vmmd::Vmmd::Client& vmmd() { return bootstrap_; }
  kj::WaitScope& waitScope() { return io_->waitScope; }
  // The event loop's I/O context, for other connections the same thread drives (kj allows one loop
  // per thread), e.g. to the agent channel this client received.
  kj::AsyncIoContext& io() { return *io_; }

  // Waits for a promise; a kj exception (remote or local) is rethrown as kata::Error.
  template <typename T>
  T wait(kj::Promise<T>&& promise) {
    try {
      return promise.wait(io_->waitScope);
    } catch (const kj::Exception& e) {
      throw errorFromRemote(e.getDescription().cStr());
    }
  }
  // A duplicate (owned) of the fd an Fd capability carries; kInternal when it carries none.
  UniqueFd takeFd(vmmd::Fd::Client fd);
  // An Fd capability carrying a duplicate of fd, to pass to the daemon.
  vmmd::Fd::Client makeFd(int fd);

 private:
  void connect(const std::string& socketPath);

  std::optional<kj::AsyncIoContext> ownIo_;
  kj::AsyncIoContext* io_;
  kj::Own<kj::AsyncCapabilityStream> stream_;
  std::optional<capnp::TwoPartyClient> rpc_;
  vmmd::Vmmd::Client bootstrap_;
};

// The server side of an Fd capability: owns a descriptor and hands it out when sent.
// (Generated Server classes are destroyed through Capability::Server's virtual destructor; g++'s
// -Wnon-virtual-dtor does not see that through the generated intermediate class.)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wnon-virtual-dtor"
class FdHolder final : public vmmd::Fd::Server {
 public:
  explicit FdHolder(UniqueFd fd) : fd_(std::move(fd)) {}
  kj::Maybe<int> getFd() override { return fd_.get(); }

 private:
  UniqueFd fd_;
};
#pragma GCC diagnostic pop

}  // namespace kata::ipc
