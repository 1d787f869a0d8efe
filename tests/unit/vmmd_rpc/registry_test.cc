#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "common/error.h"
#include "common/fs.h"
#include "kata-vmmd/registry.h"
#include "kata-vmmd/validation.h"

namespace kata::vmmd {
namespace {

class RegistryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/vmmd-reg-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { removeTree(AT_FDCWD, dir_); }
  SandboxRecord record(const std::string& id, pid_t pid, uint64_t start) {
    SandboxRecord r;
    r.id = id;
    r.ownerUid = 1000;
    r.pid = pid;
    r.startTime = start;
    r.runDir = "/run/x/" + id;
    r.shareDir = "/run/x/shares/" + id;
    r.qmpSocket = r.runDir + "/qmp.sock";
    r.agentSocket = r.runDir + "/agent.sock";
    r.consoleLog = r.runDir + "/console.log";
    r.shares = {"data"};
    r.vcpus = 2;
    r.memoryMiB = 512;
    return r;
  }
  std::string dir_;
  Logger log_{LogOptions{"/dev/null", LogFormat::kText, LogLevel::kError, "vmmd"}};
};

TEST_F(RegistryTest, RoundTripsAndSkipsCorruptRecords) {
  Registry reg(dir_ + "/sandboxes");
  reg.save(record("a", 42, 7));
  reg.save(record("b", 43, 8));
  writeFileAtomic(openDir(dir_ + "/sandboxes").get(), "c.json", "{\"id\": 5}");
  auto all = reg.loadAll(log_);
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0].id == "a" ? all[0].startTime : all[1].startTime, 7u);
  EXPECT_EQ(all[0].shares, std::vector<std::string>{"data"});
  EXPECT_TRUE(pathExists(dir_ + "/sandboxes/c.json.corrupt"));
  reg.remove("a");
  reg.remove("a");  // missing is fine
  EXPECT_EQ(reg.loadAll(log_).size(), 1u);
}

TEST_F(RegistryTest, RejectsHostileRecords) {
  auto r = record("a", 1, 1);
  std::string good = recordToJson(r);
  EXPECT_NO_THROW(recordFromJson(good));
  r.runDir = "../../etc";
  EXPECT_THROW(recordFromJson(recordToJson(r)), Error);
  r = record("../x", 1, 1);
  EXPECT_THROW(recordFromJson(recordToJson(r)), Error);
  r = record("a", 1, 1);
  r.shares = {"../../etc"};
  EXPECT_THROW(recordFromJson(recordToJson(r)), Error);
  EXPECT_THROW(recordFromJson("[1,2]"), Error);
  EXPECT_THROW(recordFromJson("{"), Error);
}

TEST_F(RegistryTest, ReattachesALiveProcessOnlyWithItsStartTime) {
  pid_t child = ::fork();
  if (child == 0) {
    ::execlp("sleep", "sleep", "30", static_cast<char*>(nullptr));
    ::_exit(127);
  }
  ASSERT_GT(child, 0);
  auto start = processStartTime("/proc", child);
  ASSERT_TRUE(start.has_value());
  auto pidfd = reattachProcess("/proc", child, *start);
  ASSERT_TRUE(pidfd.has_value());
  EXPECT_TRUE(pidfd->valid());
  // The same pid with another start time is a different process (pid reuse): not adopted.
  EXPECT_FALSE(reattachProcess("/proc", child, *start + 1).has_value());
  ::kill(child, SIGKILL);
  // A zombie is a dead VM even before it is reaped.
  for (int i = 0; i < 100 && processStartTime("/proc", child); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  EXPECT_FALSE(processStartTime("/proc", child).has_value());
  EXPECT_FALSE(reattachProcess("/proc", child, *start).has_value());
  ::waitpid(child, nullptr, 0);
  EXPECT_FALSE(reattachProcess("/proc", child, *start).has_value());
}

TEST_F(RegistryTest, StartTimeParsesCommandsWithParentheses) {
  std::string proc = dir_ + "/proc";
  makeDirs(proc + "/77", 0755);
  std::string fields = "S 1 1 1 0 -1 4194560 100 0 0 0 0 0 0 0 20 0 1 0 123456 1000 10";
  writeFileAtomic(openDir(proc + "/77").get(), "stat", "77 (evil) name) " + fields + "\n");
  EXPECT_EQ(processStartTime(proc, 77), 123456u);
  writeFileAtomic(openDir(proc + "/77").get(), "stat", "77 (x) Z" + fields.substr(1) + "\n");
  EXPECT_FALSE(processStartTime(proc, 77).has_value());
  EXPECT_FALSE(processStartTime(proc, 78).has_value());
}

TEST(VmmdValidation, IdsPathsAndText) {
  EXPECT_NO_THROW(validateSandboxId("abc-1.2_3"));
  for (const std::string& bad : std::vector<std::string>{"", ".", "..", "-a", "a/b", std::string(65, 'a'), std::string("a\0b", 3), "a b"})
    EXPECT_THROW(validateSandboxId(bad), Error) << bad;
  EXPECT_NO_THROW(validatePath("/run/kata-vmmd/x", "p"));
  for (const std::string& bad : std::vector<std::string>{"", "rel", "/a/../b", "/a//b", "/a/", "/a/./b", "/a\nb"}) EXPECT_THROW(validatePath(bad, "p"), Error) << bad;
  EXPECT_THROW(validateText(std::string(5000, 'a'), 4096, "cmdline"), Error);
  EXPECT_THROW(validateText("a\x01", 10, "cmdline"), Error);
  EXPECT_EQ(quoteForMessage("a\"\x01"), "\"a\\x22\\x01\"");
  EXPECT_EQ(quoteForMessage(std::string(100, 'x')).size(), 64u + 2 + 3);
}

}  // namespace
}  // namespace kata::vmmd
