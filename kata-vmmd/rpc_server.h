// The RPC front of kata-vmmd: accepts connections on the daemon's unix socket, takes each caller's
// identity from SO_PEERCRED, checks it against the policy, and serves it a bootstrap capability
// (ipc/vmmd.capnp Vmmd) bound to that identity. Every method translates to SandboxManager calls;
// errors go back as "<kind>: <message>" (ipc/vmmd_client.h turns them into kata::Error again).
//
// One event loop thread serves everyone; calls that wait on a hypervisor run on that VM's worker
// thread (sandbox_manager.h), so a slow VM delays only calls to itself. A malformed or oversized message ends only that
// connection (Cap'n Proto's reader limits: rpc_decode.h); a failing call fails only that call.
#pragma once

#include <kj/async-io.h>
#include <kj/async-unix.h>

#include <memory>

#include "common/fd.h"
#include "common/log.h"
#include "kata-vmmd/sandbox_manager.h"

namespace kata::vmmd {

class RpcServer {
 public:
  RpcServer(kj::AsyncIoContext& io, SandboxManager& manager, UniqueFd listenFd, Logger log);
  ~RpcServer();
  // Serves until the promise is cancelled (dropped) or accepting fails.
  kj::Promise<void> run();
  size_t connections() const;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace kata::vmmd
