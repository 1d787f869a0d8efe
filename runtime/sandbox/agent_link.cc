#include "runtime/sandbox/agent_link.h"


namespace kata::sandbox {
namespace {

kj::Own<kj::AsyncIoStream> wrap(EventLoop& loop, UniqueFd fd) {
  if (!fd.valid()) fail(ErrorKind::kInvalidArgument, "agent connection: no socket descriptor");
  return loop.io().lowLevelProvider->wrapSocketFd(
      fd.release(), kj::LowLevelAsyncIoProvider::TAKE_OWNERSHIP | kj::LowLevelAsyncIoProvider::ALREADY_CLOEXEC);
}

}  // namespace

AgentLink::AgentLink(EventLoop& loop, UniqueFd connected)
    : stream_(wrap(loop, std::move(connected))),
      client_(*stream_),
      agent_(client_.bootstrap().castAs<ipc::agent::Agent>()) {}

}  // namespace kata::sandbox
