// Cap'n Proto servers for ipc/agent.capnp's Container, Process and ByteStream (stdin) interfaces.
// They hold only ids and look the objects up in the ContainerManager at every call, so a capability
// that outlives its container answers "container does not exist" instead of touching freed state.
#pragma once

#include <kj/debug.h>

#include <string>

#include "agent/container_manager.h"
#include "common/error.h"
#include "ipc/agent.capnp.h"

namespace kata::agent {

// Turns a kata::Error / std::exception thrown by fn into an RPC error; kj exceptions pass through.
// The text starts with the error's kind tag (common/error.h), so the host rebuilds the same kind
// ("not-found: container does not exist [Agent.container]"); the method is kept for debugging.
template <typename Fn>
kj::Promise<void> rpcGuard(const char* method, Fn&& fn) {
  try {
    return fn();
  } catch (const kj::Exception&) {
    throw;
  } catch (const Error& e) {
    return KJ_EXCEPTION(FAILED, kj::str(errorKindTag(e.kind()), ": ", e.what(), " [", method, "]"));
  } catch (const std::exception& e) {
    return KJ_EXCEPTION(FAILED, kj::str("internal: ", e.what(), " [", method, "]"));
  }
}

ipc::agent::Container::Client makeContainerClient(ContainerManager& manager, const std::string& id);
ipc::agent::Process::Client makeProcessClient(ContainerManager& manager, const std::string& id,
                                              const std::string& execId);
StdioStreams stdioFrom(ipc::agent::Stdio::Reader stdio);

}  // namespace kata::agent
