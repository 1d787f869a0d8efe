#include "ipc/vmmd_client.h"

#include <fcntl.h>

#include "ipc/peer_creds.h"

namespace kata::ipc {
namespace {

constexpr std::pair<ErrorKind, const char*> kTags[] = {
    {ErrorKind::kInvalidArgument, "invalid-argument"}, {ErrorKind::kNotFound, "not-found"},
    {ErrorKind::kAlreadyExists, "already-exists"},     {ErrorKind::kFailedPrecondition, "failed-precondition"},
    {ErrorKind::kNotSupported, "not-supported"},       {ErrorKind::kPermissionDenied, "permission-denied"},
    {ErrorKind::kSystem, "system"},                    {ErrorKind::kTimeout, "timeout"},
    {ErrorKind::kInternal, "internal"},
};

}  // namespace

const char* errorKindTag(ErrorKind kind) {
  for (const auto& [k, tag] : kTags)
    if (k == kind) return tag;
  return "internal";
}

Error errorFromRemote(const std::string& description) {
  std::string text = description;
  const std::string remote = "remote exception: ";
  if (text.rfind(remote, 0) == 0) text = text.substr(remote.size());
  for (const auto& [kind, tag] : kTags) {
    std::string prefix = std::string(tag) + ": ";
    if (text.rfind(prefix, 0) == 0) return Error(kind, text.substr(prefix.size()));
  }
  return Error(ErrorKind::kInternal, "kata-vmmd: " + text);
}

VmmdClient::VmmdClient(const std::string& socketPath)
    : io_(kj::setupAsyncIo()), bootstrap_(nullptr) {
  UniqueFd fd = connectUnix(socketPath);
  stream_ = io_.lowLevelProvider->wrapUnixSocketFd(fd.release(), kj::LowLevelAsyncIoProvider::TAKE_OWNERSHIP |
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
