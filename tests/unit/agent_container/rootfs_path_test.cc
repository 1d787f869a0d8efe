#include "agent/container/rootfs_path.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>

#include <gtest/gtest.h>

#include "common/error.h"
#include "common/fs.h"

namespace kata::agent {
namespace {

class RootfsPath : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/kata-rootfs-path-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    root_ = tmpl;
    ASSERT_EQ(::symlink("/etc", (root_ + "/evil").c_str()), 0);
    ASSERT_EQ(::symlink("../../../../..", (root_ + "/up").c_str()), 0);
    rootFd_ = UniqueFd(::open(root_.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
    ASSERT_TRUE(rootFd_);
  }
  void TearDown() override { removeTree(AT_FDCWD, root_); }
  std::string root_;
  UniqueFd rootFd_;
};

TEST(CleanPath, Lexical) {
  EXPECT_EQ(cleanPath("//a/./b/../c/"), "/a/c");
  EXPECT_EQ(cleanPath("/../../x"), "/x");
  EXPECT_EQ(cleanPath(""), "/");
  EXPECT_EQ(cleanPath("/"), "/");
}

TEST_F(RootfsPath, AbsoluteSymlinkResolvesInsideTheRoot) {
  std::string name = "kata-escape-probe-" + std::to_string(::getpid());
  UniqueFd fd = createInRoot(rootFd_.get(), "/evil/" + name + "/sub", true);
  EXPECT_TRUE(fd);
  // Created under <root>/etc, never under the host's /etc.
  struct stat st {};
  EXPECT_EQ(::stat((root_ + "/etc/" + name + "/sub").c_str(), &st), 0);
  EXPECT_TRUE(S_ISDIR(st.st_mode));
  EXPECT_FALSE(pathExists("/etc/" + name));
  // Reading through the link does not reach the host's /etc/passwd.
  try {
    openInRoot(rootFd_.get(), "/evil/passwd", O_RDONLY);
    ADD_FAILURE() << "opened the host's /etc/passwd through a symlink in the rootfs";
  } catch (const Error& e) {
    EXPECT_EQ(e.sysErrno(), ENOENT);
  }
}

TEST_F(RootfsPath, DotDotAndRelativeLinksStayInside) {
  std::string name = "kata-escape-probe2-" + std::to_string(::getpid());
  createInRoot(rootFd_.get(), "/../../../tmp/" + name, false);
  EXPECT_TRUE(pathExists(root_ + "/tmp/" + name));
  EXPECT_FALSE(pathExists("/tmp/" + name));
  createInRoot(rootFd_.get(), "/up/" + name, true);
  EXPECT_TRUE(pathExists(root_ + "/" + name));
  EXPECT_FALSE(pathExists("/" + name));
  // A file created as the last component is a regular file.
  struct stat st {};
  ASSERT_EQ(::stat((root_ + "/tmp/" + name).c_str(), &st), 0);
  EXPECT_TRUE(S_ISREG(st.st_mode));
}

}  // namespace
}  // namespace kata::agent
