#include "runtime/sandbox/agent_link.h"

#include "ipc/peer_creds.h"

namespace kata::sandbox {
namespace {

kj::Own<kj::AsyncIoStream> wrap(EventLoop& loop, UniqueFd fd) {
  if (!fd.valid()) fail(ErrorKind::kInvalidArgument, "agent connection: no socket descriptor");
  return loop.io().lowLevelProvider->wrapSocketFd(
      fd.release(), kj::LowLevelAsyncIoProvider::TAKE_OWNERSHIP | kj::LowLevelAsyncIoProvider::ALREADY_CLOEXEC);
}

std::string procPath(int dirFd, const std::string& name) {
  return "/proc/self/fd/" + std::to_string(dirFd) + "/" + name;
}

}  // namespace

AgentLink::AgentLink(EventLoop& loop, UniqueFd connected)
    : stream_(wrap(loop, std::move(connected))),
      client_(*stream_),
      agent_(client_.bootstrap().castAs<ipc::agent::Agent>()) {}

UniqueFd connectUnixAt(int dirFd, const std::string& name) { return ipc::connectUnix(procPath(dirFd, name)); }

UniqueFd listenUnixAt(int dirFd, const std::string& name) {
  return ipc::listenUnix(procPath(dirFd, name), 0600, static_cast<gid_t>(-1));
}

}  // namespace kata::sandbox
