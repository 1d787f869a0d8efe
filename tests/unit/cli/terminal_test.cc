// kata-ctl's host-side terminal handling (terminal.h) on real pseudo-terminals, and the console
// socket protocol against a listening unix socket of the test.
#include "kata-ctl/terminal.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>

#include "common/error.h"
#include "ipc/peer_creds.h"
#include "tests/support/run_support.h"

namespace kata::ctl {
namespace {

// What is readable on fd within a short time.
std::string readSoon(int fd) {
  struct pollfd p {fd, POLLIN, 0};
  if (::poll(&p, 1, 2000) <= 0) return "";
  char buf[256];
  ssize_t n = ::read(fd, buf, sizeof buf);
  return n > 0 ? std::string(buf, static_cast<size_t>(n)) : "";
}

tcflag_t lflag(int fd) {
  termios t {};
  EXPECT_EQ(::tcgetattr(fd, &t), 0);
  return t.c_lflag;
}

TEST(TerminalTest, OpenPtyGivesAConnectedPair) {
  Pty p = openPty();
  ASSERT_TRUE(p.master.valid());
  ASSERT_TRUE(p.slave.valid());
  EXPECT_EQ(p.name.rfind("/dev/pts/", 0), 0u) << p.name;
  EXPECT_TRUE(::isatty(p.slave.get()));
  EXPECT_TRUE(::fcntl(p.master.get(), F_GETFD) & FD_CLOEXEC);
  struct stat byName {}, slave {};
  ASSERT_EQ(::stat(p.name.c_str(), &byName), 0);
  ASSERT_EQ(::fstat(p.slave.get(), &slave), 0);
  EXPECT_EQ(byName.st_rdev, slave.st_rdev);
  // Cooked by default: a line reaches the slave.
  ASSERT_EQ(::write(p.master.get(), "hi\n", 3), 3);
  EXPECT_EQ(readSoon(p.slave.get()), "hi\n");
}

TEST(TerminalTest, MakeRawPassesBytesThrough) {
  Pty p = openPty();
  EXPECT_TRUE(lflag(p.slave.get()) & ICANON);
  makeRaw(p.slave.get());
  EXPECT_FALSE(lflag(p.slave.get()) & (ICANON | ECHO | ISIG));
  // No line to wait for, no echo back.
  ASSERT_EQ(::write(p.master.get(), "\x03x", 2), 2);
  EXPECT_EQ(readSoon(p.slave.get()), "\x03x");
  int pipeFds[2];
  ASSERT_EQ(::pipe2(pipeFds, O_CLOEXEC), 0);
  UniqueFd r(pipeFds[0]), w(pipeFds[1]);
  EXPECT_THROW(makeRaw(r.get()), Error);
}

TEST(TerminalTest, RawModeRestoresTheTerminal) {
  Pty p = openPty();
  tcflag_t before = lflag(p.slave.get());
  {
    RawMode raw(p.slave.get());
    EXPECT_FALSE(lflag(p.slave.get()) & ICANON);
  }
  EXPECT_EQ(lflag(p.slave.get()), before);
  // No terminal: nothing to do, nothing thrown.
  UniqueFd null(::open("/dev/null", O_RDWR | O_CLOEXEC));
  EXPECT_NO_THROW(RawMode raw(null.get()));
}

TEST(TerminalTest, WindowSizeOfATerminalThatHasOne) {
  Pty p = openPty();
  EXPECT_FALSE(windowSize(p.slave.get())) << "a fresh pty reports 0x0";
  winsize ws {};
  ws.ws_row = 24;
  ws.ws_col = 80;
  ASSERT_EQ(::ioctl(p.master.get(), TIOCSWINSZ, &ws), 0);
  auto got = windowSize(p.slave.get());
  ASSERT_TRUE(got);
  EXPECT_EQ(got->ws_row, 24);
  EXPECT_EQ(got->ws_col, 80);
  UniqueFd null(::open("/dev/null", O_RDWR | O_CLOEXEC));
  EXPECT_FALSE(windowSize(null.get()));
  EXPECT_FALSE(windowSize(-1));
}

TEST(TerminalTest, SendConsoleHandsTheMasterAndItsNameToTheEngine) {
  test::TempDir tmp;
  const std::string path = tmp.path() + "/console.sock";
  UniqueFd listening = ipc::listenUnix(path, 0600, static_cast<gid_t>(-1));
  Pty p = openPty();
  sendConsole(path, p);

  struct pollfd pf {listening.get(), POLLIN, 0};
  ASSERT_EQ(::poll(&pf, 1, 2000), 1);
  UniqueFd conn(::accept4(listening.get(), nullptr, nullptr, SOCK_CLOEXEC));
  ASSERT_TRUE(conn.valid());
  char data[256];
  struct iovec iov {data, sizeof data};
  alignas(struct cmsghdr) char control[CMSG_SPACE(sizeof(int))];
  struct msghdr msg {};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof control;
  ssize_t n = ::recvmsg(conn.get(), &msg, MSG_CMSG_CLOEXEC);
  ASSERT_GT(n, 0);
  EXPECT_EQ(std::string(data, static_cast<size_t>(n)), p.name);
  struct cmsghdr* c = CMSG_FIRSTHDR(&msg);
  ASSERT_NE(c, nullptr);
  ASSERT_EQ(c->cmsg_type, SCM_RIGHTS);
  int received;
  std::memcpy(&received, CMSG_DATA(c), sizeof received);
  UniqueFd master(received);
  // The engine's copy is the master of this pty: what it writes reaches our slave.
  char name[128];
  ASSERT_EQ(::ptsname_r(master.get(), name, sizeof name), 0);
  EXPECT_EQ(std::string(name), p.name);
  makeRaw(p.slave.get());
  ASSERT_EQ(::write(master.get(), "z", 1), 1);
  EXPECT_EQ(readSoon(p.slave.get()), "z");
}

TEST(TerminalTest, SendConsoleNamesTheSocketItCouldNotReach) {
  Pty p = openPty();
  try {
    sendConsole("/nonexistent-dir/console.sock", p);
    FAIL() << "sent to a socket that does not exist";
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()).rfind("console socket /nonexistent-dir/console.sock: ", 0), 0u) << e.what();
    EXPECT_EQ(e.sysErrno(), ENOENT);
  }
}

}  // namespace
}  // namespace kata::ctl
