#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <nlohmann/json.hpp>
#include <thread>

#include "common/error.h"
#include "common/fs.h"
#include "kata-vmmd/launcher.h"
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
    r.hotplugSlots = 2;
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

TEST_F(RegistryTest, VirtioFsFieldsRoundTripAndOldRecordsMeanNinePNoVirtiofsd) {
  auto r = record("vfs", 42, 7);
  r.sharedFs = "virtio-fs";
  r.virtiofsdPid = 43;
  r.virtiofsdStartTime = 8;
  SandboxRecord back = recordFromJson(recordToJson(r));
  EXPECT_EQ(back.sharedFs, "virtio-fs");
  EXPECT_EQ(back.virtiofsdPid, 43);
  EXPECT_EQ(back.virtiofsdStartTime, 8u);
  // A record an earlier daemon wrote, without the fields.
  nlohmann::json old = nlohmann::json::parse(recordToJson(record("old", 42, 7)));
  old.erase("sharedFs");
  old.erase("virtiofsdPid");
  old.erase("virtiofsdStartTime");
  SandboxRecord legacy = recordFromJson(old.dump());
  EXPECT_EQ(legacy.sharedFs, "virtio-9p");
  EXPECT_EQ(legacy.virtiofsdPid, -1);
  r.sharedFs = "nfs";
  EXPECT_THROW(recordFromJson(recordToJson(r)), Error);
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
  r = record("a", 1, 1);
  r.hotplugSlots = 17;
  EXPECT_THROW(recordFromJson(recordToJson(r)), Error);
  EXPECT_THROW(recordFromJson("[1,2]"), Error);
  EXPECT_THROW(recordFromJson("{"), Error);
}

TEST_F(RegistryTest, AdoptsALiveProcessOnlyWithItsStartTime) {
  pid_t child = ::fork();
  if (child == 0) {
    ::execlp("sleep", "sleep", "30", static_cast<char*>(nullptr));
    ::_exit(127);
  }
  ASSERT_GT(child, 0);
  auto start = processStartTime("/proc", child);
  ASSERT_TRUE(start.has_value());
  {
    auto proc = LaunchedProcess::adopt(child, *start, std::nullopt);
    ASSERT_TRUE(proc.has_value());
    EXPECT_TRUE(proc->adopted());
    EXPECT_EQ(proc->pid(), child);
    EXPECT_EQ(proc->startTime(), *start);
    EXPECT_FALSE(proc->wait(std::chrono::steady_clock::now()).exited);
    proc->release();  // leaves it running
  }
  EXPECT_TRUE(processStartTime("/proc", child).has_value());
  // The same pid with another start time is a different process (pid reuse): not adopted.
  EXPECT_FALSE(LaunchedProcess::adopt(child, *start + 1, std::nullopt).has_value());
  {
    // An adopted process that is not our child: its exit is seen on the pidfd, without a status.
    auto proc = LaunchedProcess::adopt(child, *start, std::nullopt);
    ASSERT_TRUE(proc.has_value());
    proc->signal(SIGKILL);
    ExitStatus ex = proc->wait(deadlineIn(std::chrono::seconds(5)));
    EXPECT_TRUE(ex.exited);
    EXPECT_EQ(ex.code, -1);
  }
  // A zombie is a dead VM even before it is reaped.
  for (int i = 0; i < 100 && processStartTime("/proc", child); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  EXPECT_FALSE(processStartTime("/proc", child).has_value());
  EXPECT_FALSE(LaunchedProcess::adopt(child, *start, std::nullopt).has_value());
  ::waitpid(child, nullptr, 0);
  EXPECT_FALSE(LaunchedProcess::adopt(child, *start, std::nullopt).has_value());
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
  // One implementation for the daemon, the launcher and the cgroup layer (security/validate.h).
  EXPECT_NO_THROW(security::validateSandboxId("abc-1.2_3"));
  for (const std::string& bad : std::vector<std::string>{"", ".", "..", "-a", "a/b", std::string(65, 'a'), std::string("a\0b", 3), "a b"})
    EXPECT_THROW(security::validateSandboxId(bad), Error) << bad;
  EXPECT_NO_THROW(validateShareName("data.1"));
  EXPECT_THROW(validateShareName("../x"), Error);
  EXPECT_NO_THROW(security::validateAbsolutePath("/run/kata-vmmd/x", "p"));
  EXPECT_NO_THROW(security::validateAbsolutePath("/", "p"));
  for (const std::string& bad : std::vector<std::string>{"", "rel", "/a/../b", "/a//b", "/a/", "/a/./b", "/a\nb", "/a\x7f"})
    EXPECT_THROW(security::validateAbsolutePath(bad, "p"), Error) << bad;
  EXPECT_THROW(validateText(std::string(5000, 'a'), 4096, "cmdline"), Error);
  EXPECT_THROW(validateText("a\x01", 10, "cmdline"), Error);
  EXPECT_EQ(security::quoteForMessage("a\"\x01"), "\"a\\x22\\x01\"");
  EXPECT_EQ(security::quoteForMessage(std::string(100, 'x')).size(), 64u + 2 + 3);
  try {
    security::validateSandboxId("a\nb");
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()).find('\n'), std::string::npos) << "the hostile value is quoted, not echoed";
  }
}

}  // namespace
}  // namespace kata::vmmd
