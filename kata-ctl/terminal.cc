#include "kata-ctl/terminal.h"

#include <fcntl.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>

#include "common/error.h"
#include "ipc/peer_creds.h"

namespace kata::ctl {

Pty openPty() {
  Pty p;
  p.master = UniqueFd(KATA_SYSCALL(::posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC), "posix_openpt"));
  KATA_SYSCALL(::grantpt(p.master.get()), "grantpt");
  KATA_SYSCALL(::unlockpt(p.master.get()), "unlockpt");
  char name[128];
  if (int err = ::ptsname_r(p.master.get(), name, sizeof name); err != 0) throwSysError(err, "ptsname_r");
  p.name = name;
  p.slave = UniqueFd(KATA_SYSCALL(::open(name, O_RDWR | O_NOCTTY | O_CLOEXEC), std::string("open ") + name));
  return p;
}

void sendConsole(const std::string& socketPath, const Pty& pty) {
  UniqueFd sock;
  try {
    sock = ipc::connectUnix(socketPath);
  } catch (const Error& e) {
    throw Error(e.kind(), "console socket " + socketPath + ": " + e.what(), e.sysErrno());
  }
  struct msghdr msg {};
  struct iovec iov {};
  std::string data = pty.name;
  iov.iov_base = data.data();
  iov.iov_len = data.size();
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  alignas(struct cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
  msg.msg_control = control;
  msg.msg_controllen = sizeof control;
  struct cmsghdr* c = CMSG_FIRSTHDR(&msg);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof(int));
  int fd = pty.master.get();
  std::memcpy(CMSG_DATA(c), &fd, sizeof fd);
  KATA_SYSCALL(::sendmsg(sock.get(), &msg, MSG_NOSIGNAL), "send the console to " + socketPath);
}

RawMode::RawMode(int fd) : fd_(fd) {
  termios t {};
  if (::tcgetattr(fd, &t) != 0) return;  // not a terminal: nothing to do
  saved_ = t;
  ::cfmakeraw(&t);
  KATA_SYSCALL(::tcsetattr(fd, TCSANOW, &t), "tcsetattr raw");
}

RawMode::~RawMode() {
  if (saved_) (void)::tcsetattr(fd_, TCSANOW, &*saved_);
}

void makeRaw(int fd) {
  termios t {};
  KATA_SYSCALL(::tcgetattr(fd, &t), "tcgetattr");
  ::cfmakeraw(&t);
  KATA_SYSCALL(::tcsetattr(fd, TCSANOW, &t), "tcsetattr raw");
}

std::optional<winsize> windowSize(int fd) {
  winsize ws {};
  if (fd < 0 || ::ioctl(fd, TIOCGWINSZ, &ws) != 0 || (ws.ws_row == 0 && ws.ws_col == 0)) return std::nullopt;
  return ws;
}

}  // namespace kata::ctl
