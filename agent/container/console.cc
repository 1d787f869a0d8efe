#include "agent/container/console.h"

#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <termios.h>
#include <unistd.h>

#include <cstring>

#include "common/error.h"

namespace kata::agent {
namespace {

// /dev/ptmx and every devpts instance's ptmx node: TTYAUX_MAJOR, minor 2.
constexpr unsigned kPtmxMajor = 5;
constexpr unsigned kPtmxMinor = 2;

// The messages read "process.terminal: <what>: <strerror>", as the other OCI settings' errors do
// (process_init.cc), without the raw call text KATA_SYSCALL adds. None of these calls can be
// interrupted (no blocking open, ioctls, a one-byte send on a fresh socket).
long sys(long rc, const std::string& what) {
  if (rc == -1) throwSysError(errno, what);
  return rc;
}

}  // namespace

ContainerConsole openContainerConsole(const std::optional<ConsoleSize>& size, const std::string& ptmxPath) {
  std::string what = "process.terminal: " + ptmxPath;
  // O_NONBLOCK: if the image put some other device there, its open must not wait (a serial line
  // waits for carrier). The agent makes the master non-blocking anyway.
  int fd = ::open(ptmxPath.c_str(), O_RDWR | O_NOCTTY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) {
    int e = errno;
    throwSysError(e, what + ": open" +
                         (e == ENOENT ? std::string(" (mount devpts with newinstance,ptmxmode=0666 on /dev/pts in "
                                                    "the spec's mounts; /dev/ptmx links to pts/ptmx)")
                                      : std::string()));
  }
  ContainerConsole console;
  console.master = UniqueFd(fd);
  struct stat st {};
  sys(::fstat(fd, &st), what + ": fstat");
  if (!S_ISCHR(st.st_mode) || ::major(st.st_rdev) != kPtmxMajor || ::minor(st.st_rdev) != kPtmxMinor)
    fail(ErrorKind::kInvalidArgument, what + " is not a pty multiplexer (character device 5:2)");
  int unlock = 0;
  sys(::ioctl(fd, TIOCSPTLCK, &unlock), what + ": unlock the pty");
  unsigned index = 0;
  sys(::ioctl(fd, TIOCGPTN, &index), what + ": pty number");
  console.index = index;
  if (size) {
    struct winsize ws {};
    ws.ws_row = static_cast<unsigned short>(size->rows);
    ws.ws_col = static_cast<unsigned short>(size->cols);
    sys(::ioctl(fd, TIOCSWINSZ, &ws), what + ": set process.consoleSize");
  }
  console.slave = UniqueFd(static_cast<int>(sys(::ioctl(fd, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC),
                                                 what + ": open the slave pts/" + std::to_string(index))));
  return console;
}

void becomeSessionOnTerminal(int slave) {
  sys(::setsid(), "process.terminal: setsid");
  sys(::ioctl(slave, TIOCSCTTY, 0), "process.terminal: make the pty the controlling terminal (TIOCSCTTY)");
  for (int t = 0; t <= 2; ++t) sys(::dup2(slave, t), "process.terminal: dup2 the pty onto fd " + std::to_string(t));
}

void sendFd(int socket, int fd) {
  char byte = 'T';
  struct iovec iov {};
  iov.iov_base = &byte;
  iov.iov_len = 1;
  alignas(struct cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
  struct msghdr msg {};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof control;
  struct cmsghdr* c = CMSG_FIRSTHDR(&msg);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof(int));
  std::memcpy(CMSG_DATA(c), &fd, sizeof fd);
  sys(::sendmsg(socket, &msg, MSG_NOSIGNAL), "process.terminal: send the pty master to the agent");
}

}  // namespace kata::agent
