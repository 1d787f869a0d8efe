#include "common/fs.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/error.h"

namespace kata {
namespace {

class FsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/kata-fs-test-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    fd_ = openDir(dir_);
  }
  void TearDown() override { removeTree(AT_FDCWD, dir_); }
  std::string dir_;
  UniqueFd fd_;
};

TEST_F(FsTest, AtomicWriteReplacesAndLeavesNoTemporaries) {
  writeFileAtomic(fd_.get(), "state.json", "one");
  writeFileAtomic(fd_.get(), "state.json", "two");
  EXPECT_EQ(readFile(fd_.get(), "state.json", 100), "two");
  struct stat st {};
  ASSERT_EQ(fstatat(fd_.get(), "state.json", &st, 0), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  // only the target remains
  removeTree(fd_.get(), "state.json");
  EXPECT_EQ(rmdir(dir_.c_str()), 0) << "temporary files were left behind";
  ASSERT_EQ(mkdir(dir_.c_str(), 0700), 0);
}

TEST_F(FsTest, ReadIsBounded) {
  writeFileAtomic(fd_.get(), "big", std::string(1000, 'x'));
  EXPECT_THROW(readFile(fd_.get(), "big", 999), Error);
  EXPECT_EQ(readFile(fd_.get(), "big", 1000).size(), 1000u);
  EXPECT_FALSE(readFileIfExists(fd_.get(), "missing", 10).has_value());
}

TEST_F(FsTest, OpenBeneathRefusesEscapes) {
  ASSERT_EQ(symlinkat("/etc", fd_.get(), "link"), 0);
  EXPECT_THROW(openBeneath(fd_.get(), "../etc/passwd", O_RDONLY), Error);
  EXPECT_THROW(openBeneath(fd_.get(), "/etc/passwd", O_RDONLY), Error);
  EXPECT_THROW(openBeneath(fd_.get(), "link/passwd", O_RDONLY), Error);
  writeFileAtomic(fd_.get(), "ok", "fine");
  EXPECT_TRUE(openBeneath(fd_.get(), "ok", O_RDONLY).valid());
}

TEST_F(FsTest, SysErrorsCarryErrnoAndCall) {
  try {
    readFile(fd_.get(), "nope", 10);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kSystem);
    EXPECT_EQ(e.sysErrno(), ENOENT);
    EXPECT_NE(std::string(e.what()).find("nope"), std::string::npos);
  }
}

TEST_F(FsTest, MakeDirsAndRemoveTree) {
  std::string deep = dir_ + "/a/b/c";
  makeDirs(deep, 0700);
  EXPECT_TRUE(pathExists(deep));
  ASSERT_EQ(symlinkat("/etc", fd_.get(), "a/b/escape"), 0);
  removeTree(fd_.get(), "a");
  EXPECT_FALSE(pathExists(dir_ + "/a"));
  EXPECT_TRUE(pathExists("/etc/passwd")) << "removeTree followed a symlink";
}

}  // namespace
}  // namespace kata
