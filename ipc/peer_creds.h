// Unix-socket transport helpers for the vmmd RPC: who is on the other end (SO_PEERCRED, taken from
// the kernel, never from a message), the daemon's listening socket, and a client connection.
#pragma once

#include <sys/types.h>
#include <sys/un.h>

#include <string>

#include "common/fd.h"

namespace kata::ipc {

struct PeerCreds {
  pid_t pid = -1;
  uid_t uid = static_cast<uid_t>(-1);
  gid_t gid = static_cast<gid_t>(-1);
};

// The address of a unix socket path. A path longer than sun_path allows (108 bytes) is reached
// through its directory, kept open in `dir`: the address is then /proc/self/fd/<n>/<name>.
struct UnixAddress {
  sockaddr_un addr{};
  std::string path;  // what the address holds
  UniqueFd dir;
};
UnixAddress unixAddress(const std::string& path);

// The credentials the kernel recorded when the peer connected (or called socketpair).
PeerCreds peerCreds(int socketFd);

// Creates a listening SOCK_STREAM unix socket at path (non-blocking, close-on-exec). A stale socket
// left by a previous daemon is replaced; any other file there is refused. The socket file gets mode
// and group (group -1: unchanged) before listen(), so no client can connect in between.
UniqueFd listenUnix(const std::string& path, mode_t mode, gid_t group, int backlog = 64);

// Connects a blocking, close-on-exec SOCK_STREAM socket to path.
UniqueFd connectUnix(const std::string& path);

}  // namespace kata::ipc
