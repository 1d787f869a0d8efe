// The container's terminal (agent/container/console.h) on the host's real kernel: a pty opened
// through a multiplexer path, and, in a forked child with its own mount namespace set up by
// setupRootfs, a pty from the container's own devpts instance whose master travels back over a
// socket pair as the agent receives it.
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <functional>
#include <fstream>
#include <string>

#include <gtest/gtest.h>

#include "agent/container/console.h"
#include "agent/container/process_init.h"
#include "common/error.h"
#include "common/fs.h"
#include "tests/unit/agent_container/child_process_support.h"

namespace kata::agent {
namespace {

constexpr const char* kBusybox = "/bin/busybox";

// The receiving end of sendFd, as kj's tryReceiveFd reads it: one byte with one descriptor.
UniqueFd receiveFd(int socket) {
  char byte = 0;
  struct iovec iov {};
  iov.iov_base = &byte;
  iov.iov_len = 1;
  alignas(struct cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
  struct msghdr msg {};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof control;
  if (::recvmsg(socket, &msg, MSG_CMSG_CLOEXEC | MSG_DONTWAIT) != 1) return UniqueFd();
  struct cmsghdr* c = CMSG_FIRSTHDR(&msg);
  if (c == nullptr || c->cmsg_type != SCM_RIGHTS) return UniqueFd();
  int fd = -1;
  std::memcpy(&fd, CMSG_DATA(c), sizeof fd);
  return UniqueFd(fd);
}

winsize sizeOf(int fd) {
  winsize ws{};
  EXPECT_EQ(::ioctl(fd, TIOCGWINSZ, &ws), 0);
  return ws;
}

// Everything the slaves wrote, until they are all closed (EIO) or the timeout.
std::string readMaster(int master, std::chrono::seconds timeout = std::chrono::seconds(20)) {
  std::string got;
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    pollfd p{master, POLLIN, 0};
    if (::poll(&p, 1, 100) <= 0) continue;
    char buf[4096];
    ssize_t n = ::read(master, buf, sizeof buf);
    if (n < 0 && errno == EAGAIN) continue;
    if (n <= 0) break;
    got.append(buf, static_cast<size_t>(n));
  }
  return got;
}

std::string errorOf(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(Console, OpensAPtyThroughTheMultiplexerWithTheConsoleSize) {
  if (::access("/dev/ptmx", R_OK | W_OK) != 0) GTEST_SKIP() << "no /dev/ptmx";
  ContainerConsole c = openContainerConsole(ConsoleSize{24, 80});
  ASSERT_TRUE(c.master);
  ASSERT_TRUE(c.slave);
  EXPECT_EQ(::fcntl(c.master.get(), F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
  EXPECT_EQ(::fcntl(c.slave.get(), F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
  // The slave is pts/<index> of the instance behind /dev/ptmx, opened from the master.
  char name[64] = {};
  ASSERT_EQ(::ttyname_r(c.slave.get(), name, sizeof name), 0);
  EXPECT_EQ(std::string(name), "/dev/pts/" + std::to_string(c.index));
  winsize ws = sizeOf(c.slave.get());
  EXPECT_EQ(ws.ws_row, 24);
  EXPECT_EQ(ws.ws_col, 80);
  // Input written to the master is read from the slave (canonical mode: a line).
  ASSERT_EQ(::write(c.master.get(), "hello\n", 6), 6);
  char buf[16] = {};
  ASSERT_EQ(::read(c.slave.get(), buf, sizeof buf), 6);
  EXPECT_STREQ(buf, "hello\n");
  // Without a size the kernel's default (0x0) stays.
  ContainerConsole unsized = openContainerConsole(std::nullopt);
  EXPECT_EQ(sizeOf(unsized.slave.get()).ws_row, 0);
  EXPECT_NE(unsized.index, c.index);
}

TEST(Console, RefusesWhatIsNotAPtyMultiplexer) {
  // The path is the image's: a device of another kind, a regular file, or nothing at all.
  std::string null = errorOf([] { openContainerConsole(std::nullopt, "/dev/null"); });
  EXPECT_NE(null.find("process.terminal: /dev/null is not a pty multiplexer (character device 5:2)"), std::string::npos)
      << null;
  char tmpl[] = "/tmp/kata-console-test-XXXXXX";
  int fd = ::mkstemp(tmpl);
  ASSERT_GE(fd, 0);
  ::close(fd);
  std::string file = errorOf([&] { openContainerConsole(std::nullopt, tmpl); });
  EXPECT_NE(file.find("is not a pty multiplexer"), std::string::npos) << file;
  ::unlink(tmpl);
  std::string missing = errorOf([] { openContainerConsole(std::nullopt, "/nonexistent/ptmx"); });
  EXPECT_NE(missing.find("process.terminal: /nonexistent/ptmx: open (mount devpts with newinstance,ptmxmode=0666"),
            std::string::npos)
      << missing;
  EXPECT_NE(missing.find("No such file or directory"), std::string::npos) << missing;
}

class ContainerConsoleTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root (mount namespace)";
    if (::access(kBusybox, X_OK) != 0) GTEST_SKIP() << "needs busybox-static (scripts/setup.sh)";
    char tmpl[] = "/tmp/kata-console-rootfs-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    base_ = tmpl;
    rootfs_ = base_ + "/rootfs";
    for (const char* d : {"/rootfs", "/rootfs/bin", "/rootfs/proc", "/rootfs/dev"})
      ASSERT_EQ(::mkdir((base_ + d).c_str(), 0755), 0) << d;
    std::ofstream(rootfs_ + "/bin/busybox", std::ios::binary) << readFile(kBusybox, 16 << 20);
    ASSERT_EQ(::chmod((rootfs_ + "/bin/busybox").c_str(), 0755), 0);
  }
  void TearDown() override {
    if (!base_.empty()) removeTree(AT_FDCWD, base_);
  }
  std::string base_, rootfs_;
};

// What the agent does for a container's init (the first pty) and an exec'd process (the second):
// both from the container's devpts instance, numbered from 0 in it, masters sent to the parent.
TEST_F(ContainerConsoleTest, PtysComeFromTheContainersOwnDevptsInstance) {
  oci::Spec s = oci::parseSpec(R"({"ociVersion":"1.0.2","root":{"path":"rootfs"},
      "process":{"cwd":"/","args":["sh"],"user":{"uid":0,"gid":0}},
      "mounts":[
        {"destination":"/proc","type":"proc","source":"proc","options":["nosuid","noexec","nodev"]},
        {"destination":"/dev","type":"tmpfs","source":"tmpfs","options":["nosuid","strictatime","mode=755","size=65536k"]},
        {"destination":"/dev/pts","type":"devpts","source":"devpts","options":["nosuid","noexec","newinstance","ptmxmode=0666","mode=0620"]}
      ]})");
  int sp[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp), 0);
  UniqueFd parent(sp[0]), child(sp[1]);
  testing::ChildResult r = testing::runInChild([&] {
    KATA_SYSCALL(::unshare(CLONE_NEWNS), "unshare");
    RootfsOptions options;
    options.noPivot = true;  // as the agent in the guest
    setupRootfs(s, rootfs_, options);
    ContainerConsole first = openContainerConsole(ConsoleSize{24, 80});
    ContainerConsole second = openContainerConsole(ConsoleSize{33, 111});
    sendFd(child.get(), first.master.get());
    sendFd(child.get(), second.master.get());
    char name[64] = {};
    if (::ttyname_r(second.slave.get(), name, sizeof name) == 0) std::printf("SECOND %s\n", name);
    std::fflush(stdout);
    becomeSessionOnTerminal(first.slave.get());
    ::execl("/bin/busybox", "busybox", "sh", "-c",
            "tty; stty size; ls -l /proc/self/fd/0; ls /dev/pts | tr '\\n' ' '; echo; "
            "test -c \"$(readlink /proc/self/fd/0)\" && echo EXISTS",
            static_cast<char*>(nullptr));
    throwSysError(errno, "exec busybox");
  });
  EXPECT_EQ(r.output, "SECOND /dev/pts/1\n");
  UniqueFd first = receiveFd(parent.get()), second = receiveFd(parent.get());
  ASSERT_TRUE(first) << r.output;
  ASSERT_TRUE(second) << r.output;
  EXPECT_EQ(sizeOf(second.get()).ws_row, 33);
  EXPECT_EQ(sizeOf(second.get()).ws_col, 111);
  std::string out = readMaster(first.get());
  EXPECT_EQ(r.exitCode, 0) << out;
  // The process's stdin is /dev/pts/0 of the container's instance, a path that exists in it.
  EXPECT_NE(out.find("/dev/pts/0\r\n24 80\r\n"), std::string::npos) << out;
  EXPECT_NE(out.find("/proc/self/fd/0 -> /dev/pts/0\r\n"), std::string::npos) << out;
  EXPECT_NE(out.find("0 1 ptmx \r\n"), std::string::npos) << out;
  EXPECT_NE(out.find("EXISTS\r\n"), std::string::npos) << out;
}

// runc's fixStdioPermissions: the pty slave is the process's user's before the uid change, so a
// non-root process can reopen its terminal by path (mode 0620 would refuse it otherwise).
TEST_F(ContainerConsoleTest, NonRootProcessOwnsAndCanReopenItsTerminal) {
  oci::Spec s = oci::parseSpec(R"({"ociVersion":"1.0.2","root":{"path":"rootfs"},
      "process":{"cwd":"/","args":["busybox","sh","-c",
        "stat -c 'OWNER %u:%g %a' /dev/pts/0; echo hi > \"$(tty)\" && echo REOPENED; id -u"],
        "env":["PATH=/bin"],"user":{"uid":1234,"gid":2345}},
      "mounts":[
        {"destination":"/proc","type":"proc","source":"proc","options":["nosuid","noexec","nodev"]},
        {"destination":"/dev","type":"tmpfs","source":"tmpfs","options":["nosuid","strictatime","mode=755","size=65536k"]},
        {"destination":"/dev/pts","type":"devpts","source":"devpts","options":["nosuid","noexec","newinstance","ptmxmode=0666","mode=0620"]}
      ]})");
  int sp[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp), 0);
  UniqueFd parent(sp[0]), child(sp[1]);
  testing::ChildResult r = testing::runInChild([&] {
    KATA_SYSCALL(::unshare(CLONE_NEWNS), "unshare");
    RootfsOptions options;
    options.noPivot = true;
    setupRootfs(s, rootfs_, options);
    ContainerConsole console = openContainerConsole(std::nullopt);
    sendFd(child.get(), console.master.get());
    becomeSessionOnTerminal(console.slave.get());
    ProcessSetup setup;
    setup.process = &*s.process;
    setup.spec = &s;
    setupProcessAndExec(setup);
  });
  EXPECT_EQ(r.output, "");
  UniqueFd master = receiveFd(parent.get());
  ASSERT_TRUE(master) << r.output;
  std::string out = readMaster(master.get());
  EXPECT_EQ(r.exitCode, 0) << out;
  EXPECT_NE(out.find("OWNER 1234:0 620\r\n"), std::string::npos) << out;
  EXPECT_NE(out.find("hi\r\nREOPENED\r\n1234\r\n"), std::string::npos) << out;
}

}  // namespace
}  // namespace kata::agent
