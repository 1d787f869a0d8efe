#include "ipc/peer_creds.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "common/error.h"

namespace kata::ipc {
namespace {

sockaddr_un rawAddress(const std::string& path, const std::string& shownAs) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.empty() || path.size() >= sizeof(addr.sun_path))
    fail(ErrorKind::kInvalidArgument, "unix socket path \"" + shownAs + "\" is empty or too long");
  std::memcpy(addr.sun_path, path.data(), path.size());
  return addr;
}

}  // namespace

UnixAddress unixAddress(const std::string& path) {
  UnixAddress a;
  a.path = path;
  if (path.size() < sizeof(sockaddr_un::sun_path)) {
    a.addr = rawAddress(path, path);
    return a;
  }
  // Too long for sun_path: reach it through its directory, /proc/self/fd/<n>/<name>, which the
  // kernel resolves like the full path while the directory stays open.
  auto slash = path.rfind('/');
  if (slash == std::string::npos || slash == 0 || path.size() - slash >= 64) (void)rawAddress(path, path);
  std::string parent = path.substr(0, slash);
  a.dir = UniqueFd(::open(parent.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!a.dir) throwSysError(errno, "open " + parent);
  a.path = "/proc/self/fd/" + std::to_string(a.dir.get()) + path.substr(slash);
  a.addr = rawAddress(a.path, path);
  return a;
}

PeerCreds peerCreds(int socketFd) {
  ucred cred{};
  socklen_t len = sizeof(cred);
  KATA_SYSCALL(::getsockopt(socketFd, SOL_SOCKET, SO_PEERCRED, &cred, &len), "SO_PEERCRED");
  return PeerCreds{cred.pid, cred.uid, cred.gid};
}

UniqueFd listenUnix(const std::string& shown, mode_t mode, gid_t group, int backlog) {
  UnixAddress a = unixAddress(shown);
  const std::string& path = a.path;  // what the calls use; messages name `shown`
  struct stat st{};
  if (::lstat(path.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode))
      fail(ErrorKind::kAlreadyExists, shown + " exists and is not a socket; remove it or choose another --socket");
    KATA_SYSCALL(::unlink(path.c_str()), shown);
  } else if (errno != ENOENT) {
    throwSysError(errno, "lstat " + shown);
  }
  UniqueFd fd(KATA_SYSCALL(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0), "AF_UNIX"));
  // Set the mode on the socket inode before bind() creates it: fchmod on an unbound socket does not
  // reach the file, so narrow the umask instead and fix the exact mode and group before listen().
  mode_t old = ::umask(0077);
  int rc = ::bind(fd.get(), reinterpret_cast<const sockaddr*>(&a.addr), sizeof(a.addr));
  int err = errno;
  ::umask(old);
  if (rc != 0) throwSysError(err, "bind " + shown);
  if (group != static_cast<gid_t>(-1)) KATA_SYSCALL(::lchown(path.c_str(), static_cast<uid_t>(-1), group), shown);
  KATA_SYSCALL(::chmod(path.c_str(), mode), shown);
  KATA_SYSCALL(::listen(fd.get(), backlog), shown);
  return fd;
}

UniqueFd connectUnix(const std::string& shown) {
  UnixAddress a = unixAddress(shown);
  UniqueFd fd(KATA_SYSCALL(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0), "AF_UNIX"));
  KATA_SYSCALL(::connect(fd.get(), reinterpret_cast<const sockaddr*>(&a.addr), sizeof(a.addr)), "connect " + shown);
  return fd;
}

}  // namespace kata::ipc
