// The parts of kata-ctl's lifecycle (lifecycle.h) that need no VM: the pid file and the rollback.
#include "kata-ctl/lifecycle.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>

#include "common/error.h"
#include "tests/support/run_support.h"

namespace kata::ctl {
namespace {

namespace fs = std::filesystem;

TEST(LifecycleTest, PidFileIsDecimalWithoutNewlineAndReplacedAtomically) {
  test::TempDir tmp;
  const std::string path = tmp.path() + "/ctr.pid";
  std::ofstream(path) << "99999\n";
  writePidFile(path, 4321);
  EXPECT_EQ(test::readWhole(path), "4321");
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0644u);
  // Only the pid file: no temporary left beside it.
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(tmp.path())) names.push_back(e.path().filename().string());
  EXPECT_EQ(names, std::vector<std::string>{"ctr.pid"});
  EXPECT_THROW(writePidFile(tmp.path() + "/missing-dir/ctr.pid", 1), Error);
}

class RollbackTest : public ::testing::Test {
 protected:
  Logger log() const { return Logger(LogOptions{logPath(), LogFormat::kText, LogLevel::kDebug, "kata-ctl"}); }
  std::string logPath() const { return tmp_.path() + "/log"; }
  test::TempDir tmp_;
};

TEST_F(RollbackTest, UndoesNewestFirstAndGoesOnPastAFailingStep) {
  std::vector<std::string> ran;
  {
    Rollback rb(log());
    rb.add("removing the state", [&] { ran.push_back("state"); });
    rb.add("removing the sandbox", [&] {
      ran.push_back("sandbox");
      throw Error(ErrorKind::kSystem, "the VM is stuck");
    });
    rb.add("stopping the shim", [&] { ran.push_back("shim"); });
  }
  EXPECT_EQ(ran, (std::vector<std::string>{"shim", "sandbox", "state"}));
  std::string text = test::readWhole(logPath());
  EXPECT_NE(text.find("rollback: removing the sandbox failed: the VM is stuck"), std::string::npos) << text;
  EXPECT_EQ(text.find("removing the state failed"), std::string::npos) << text;
}

TEST_F(RollbackTest, CommitKeepsEverything) {
  int ran = 0;
  {
    Rollback rb(log());
    rb.add("one", [&] { ++ran; });
    rb.add("two", [&] { ++ran; });
    rb.commit();
    rb.add("after the commit", [&] { ran += 10; });
  }
  EXPECT_EQ(ran, 10) << "a committed step ran, or one added later did not";
}

}  // namespace
}  // namespace kata::ctl
