// The caller identity the daemon authorizes: SO_PEERCRED plus SO_PEERGROUPS, read by
// ipc::peerCreds from a real unix socket (the kernel's record, never a message).
#include "ipc/peer_creds.h"

#include <fcntl.h>
#include <grp.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "common/error.h"
#include "common/fs.h"

namespace kata::ipc {
namespace {

std::vector<gid_t> ownGroups() {
  int n = ::getgroups(0, nullptr);
  std::vector<gid_t> g(static_cast<size_t>(n));
  n = ::getgroups(n, g.data());
  g.resize(static_cast<size_t>(n));
  std::sort(g.begin(), g.end());
  g.erase(std::unique(g.begin(), g.end()), g.end());
  return g;
}

TEST(PeerCreds, SocketpairReportsOurOwnIdentityAndGroups) {
  int sv[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
  UniqueFd a(sv[0]), b(sv[1]);
  PeerCreds c = peerCreds(a.get());
  EXPECT_EQ(c.pid, ::getpid());
  EXPECT_EQ(c.uid, ::geteuid());
  EXPECT_EQ(c.gid, ::getegid());
  EXPECT_EQ(c.groups, ownGroups());
}

TEST(PeerCreds, GroupsAreTheOnesAtConnectTimeNotLater) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to give a child other supplementary groups";
  char tmpl[] = "/tmp/kata-peergroups-XXXXXX";
  ASSERT_NE(::mkdtemp(tmpl), nullptr);
  std::string dir = tmpl, path = dir + "/s";
  UniqueFd listener = listenUnix(path, 0600, static_cast<gid_t>(-1));
  int ready[2];
  ASSERT_EQ(::pipe(ready), 0);
  pid_t child = ::fork();
  if (child == 0) {
    // Many groups (more than peerCreds' first buffer), then connect, then change them: the daemon
    // must see the set the process had when it connected.
    std::vector<gid_t> groups;
    for (gid_t g = 5000; g < 5100; ++g) groups.push_back(g);
    if (::setgroups(groups.size(), groups.data()) != 0) ::_exit(2);
    try {
      UniqueFd fd = connectUnix(path);
      gid_t other = 6000;
      if (::setgroups(1, &other) != 0) ::_exit(3);
      char c = 'x';
      (void)!::write(ready[1], &c, 1);
      char buf;
      (void)!::read(fd.get(), &buf, 1);  // until the parent closes
    } catch (...) {
      ::_exit(4);
    }
    ::_exit(0);
  }
  ::close(ready[1]);
  char c;
  ASSERT_EQ(::read(ready[0], &c, 1), 1);
  ::close(ready[0]);
  int fd = -1;
  for (int i = 0; i < 100 && fd < 0; ++i) {
    fd = ::accept4(listener.get(), nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) ::usleep(10000);
  }
  ASSERT_GE(fd, 0);
  UniqueFd conn(fd);
  PeerCreds creds = peerCreds(conn.get());
  conn.reset();
  int status = 0;
  ::waitpid(child, &status, 0);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  EXPECT_EQ(creds.pid, child);
  ASSERT_EQ(creds.groups.size(), 100u);
  EXPECT_EQ(creds.groups.front(), 5000u);
  EXPECT_EQ(creds.groups.back(), 5099u);
  removeTree(AT_FDCWD, dir);
}

}  // namespace
}  // namespace kata::ipc
