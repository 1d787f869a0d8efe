#include "ipc/vmmd_client.h"

#include <fcntl.h>

#include "ipc/peer_creds.h"

namespace kata::ipc {
VmmdClient::VmmdClient(const std::string& socketPath) : ownIo_(kj::setupAsyncIo()), io_(&*ownIo_), bootstrap_(nullptr) {
  connect(socketPath);
}

VmmdClient::VmmdClient(kj::AsyncIoContext& io, const std::string& socketPath) : io_(&io), bootstrap_(nullptr) {
  connect(socketPath);
}

void VmmdClient::connect(const std::string& socketPath) {
  UniqueFd fd = connectUnix(socketPath);
  stream_ = io_->lowLevelProvider->wrapUnixSocketFd(fd.release(), kj::LowLevelAsyncIoProvider::TAKE_OWNERSHIP |
                                                                     kj::LowLevelAsyncIoProvider::ALREADY_CLOEXEC);
  // The daemon sends a few fds per reply (agent channel, console); accept no more than that.
  rpc_.emplace(*stream_, 4u);
  bootstrap_ = rpc_->bootstrap().castAs<vmmd::Vmmd>();
}

UniqueFd VmmdClient::takeFd(vmmd::Fd::Client fd) {
  kj::Maybe<int> got = wait(fd.getFd());
  KJ_IF_MAYBE(n, got) { return UniqueFd(KATA_SYSCALL(::fcntl(*n, F_DUPFD_CLOEXEC, 3), "dup received fd")); }
  fail(ErrorKind::kInternal, "kata-vmmd sent no file descriptor (fd passing unavailable on this connection)");
}

vmmd::Fd::Client VmmdClient::makeFd(int fd) {
  return kj::heap<FdHolder>(UniqueFd(KATA_SYSCALL(::fcntl(fd, F_DUPFD_CLOEXEC, 3), "dup fd to send")));
}

}  // namespace kata::ipc
