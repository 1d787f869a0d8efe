// Cap'n Proto servers for ipc/agent.capnp's Container, Process and ByteStream (stdin) interfaces.
// They hold only ids and look the objects up in the ContainerManager at every call, so a capability
// that outlives its container answers "container does not exist" instead of touching freed state.
#pragma once

#include <kj/debug.h>

#include <string>

#include "agent/container_manager.h"
#include "ipc/agent.capnp.h"

namespace kata::agent {

// Turns a kata::Error / std::exception thrown by fn into an RPC error; kj exceptions pass through.
template <typename Fn>
kj::Promise<void> rpcGuard(const char* method, Fn&& fn) {
  try {
    return fn();
  } catch (const kj::Exception&) {
    throw;
  } catch (const std::exception& e) {
    return KJ_EXCEPTION(FAILED, kj::str(method, ": ", e.what()));
  }
}

ipc::agent::Container::Client makeContainerClient(ContainerManager& manager, const std::string& id);
ipc::agent::Process::Client makeProcessClient(ContainerManager& manager, const std::string& id,
                                              const std::string& execId);
StdioStreams stdioFrom(ipc::agent::Stdio::Reader stdio);

}  // namespace kata::agent
