// The launcher process (kata-vmmd/jail_launcher.h) for real, as root: what it starts is our child
// with its fds where the argv expects them; what it refuses, it refuses clearly; when it is gone,
// launches say so.
#include "kata-vmmd/jail_launcher.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <thread>

#include "common/error.h"
#include "common/fs.h"
#include "kata-vmmd/hardening.h"

namespace kata::vmmd {
namespace {

using namespace std::chrono_literals;

class JailLauncherTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "the launcher keeps root's capabilities: needs root";
    char tmpl[] = "/tmp/kata-jl-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    ASSERT_EQ(::chmod(dir_.c_str(), 0755), 0);
    JailLauncherOptions o;
    o.programs = {"/usr/bin/sleep"};
    o.capabilities = launcherRequiredCapabilities();
    o.optionalCapabilities = launcherCapabilities();
    launcher_ = JailLauncher::spawn(o, log_);
  }
  void TearDown() override {
    launcher_.reset();
    if (!dir_.empty()) removeTree(AT_FDCWD, dir_);
  }
  LaunchSpec sleepSpec(const char* seconds) {
    LaunchSpec s;
    s.sandboxId = "jl-test";
    s.argv = {"/usr/bin/sleep", seconds};
    s.identity = {65534, 65534, {}, false};
    s.logPath = dir_ + "/sleep.log";
    return s;
  }
  std::string refusal(const LaunchSpec& spec) {
    try {
      launchJailed(spec, log_, launcher_.get()).wait(deadlineIn(5s));
      return "launched";
    } catch (const Error& e) {
      return std::string(e.what());
    }
  }
  Logger log_{LogOptions{"", LogFormat::kText, LogLevel::kWarn, "vmmd"}};
  std::string dir_;
  std::unique_ptr<JailLauncher> launcher_;
};

TEST_F(JailLauncherTest, ChildIsOursWithItsFdsAtTheNumbersTheArgvNames) {
  // Descriptors at numbers of our choosing, high and low, as QEMU's argv would name them.
  int sv[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
  UniqueFd a(sv[0]), b(sv[1]);
  UniqueFd high(::fcntl(a.get(), F_DUPFD_CLOEXEC, 200));
  UniqueFd low(::fcntl(b.get(), F_DUPFD_CLOEXEC, 3));
  ASSERT_TRUE(high.valid() && low.valid());
  LaunchSpec spec = sleepSpec("30");
  spec.passFds = {high.get(), low.get()};
  LaunchedProcess p = launchJailed(spec, log_, launcher_.get());
  // Our child (CLONE_PARENT in the launcher), not the launcher's.
  std::string status = readFile("/proc/" + std::to_string(p.pid()) + "/status", 1 << 16);
  EXPECT_NE(status.find("\nPPid:\t" + std::to_string(::getpid()) + "\n"), std::string::npos) << status;
  EXPECT_NE(status.find("\nUid:\t65534\t65534\t65534\t65534\n"), std::string::npos);
  EXPECT_NE(status.find("\nCapEff:\t0000000000000000\n"), std::string::npos);
  EXPECT_NE(status.find("\nSeccomp:\t0\n"), std::string::npos) << "the launcher has no filter to pass on";
  auto inode = [](const std::string& link) {
    std::error_code ec;
    return std::filesystem::read_symlink(link, ec).string();
  };
  std::string proc = "/proc/" + std::to_string(p.pid()) + "/fd/";
  EXPECT_EQ(inode(proc + std::to_string(high.get())), inode("/proc/self/fd/" + std::to_string(high.get())));
  EXPECT_EQ(inode(proc + std::to_string(low.get())), inode("/proc/self/fd/" + std::to_string(low.get())));
  size_t count = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator(proc)) ++count;
  EXPECT_EQ(count, 5u) << "stdio and the two passed fds, nothing of the launcher's";
  EXPECT_GT(p.startTime(), 0u);
  // We signal it and reap it, with its status, like a process we cloned ourselves.
  p.signal(SIGTERM);
  ExitStatus ex = p.wait(deadlineIn(5s));
  EXPECT_TRUE(ex.exited);
  EXPECT_EQ(ex.signal, SIGTERM);
}

TEST_F(JailLauncherTest, RefusesProgramsOffItsListAndRootAndReportsFailedSteps) {
  LaunchSpec other = sleepSpec("0");
  other.argv = {"/usr/bin/true"};
  EXPECT_NE(refusal(other).find("\"/usr/bin/true\" is not a program this kata-vmmd launches"), std::string::npos)
      << refusal(other);
  LaunchSpec root = sleepSpec("0");
  root.identity = {0, 0, {}, true};
  EXPECT_NE(refusal(root).find("refusing to launch as uid/gid 0"), std::string::npos) << refusal(root);
  // A child step that fails is reported by name, from the launcher's child.
  LaunchSpec badNetns = sleepSpec("0");
  UniqueFd notNs(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  badNetns.netnsFd = notNs.get();
  EXPECT_NE(refusal(badNetns).find("failed while joining the network namespace (setns): Invalid argument"),
            std::string::npos)
      << refusal(badNetns);
  // And it keeps serving.
  EXPECT_EQ(refusal(sleepSpec("0")), "launched");
}

TEST_F(JailLauncherTest, ALauncherThatIsGoneIsSaidSo) {
  ASSERT_EQ(::kill(launcher_->pid(), SIGKILL), 0);
  std::this_thread::sleep_for(100ms);
  std::string why = refusal(sleepSpec("0"));
  EXPECT_NE(why.find("kata-vmmd's launcher process (pid " + std::to_string(launcher_->pid()) + ") is gone"),
            std::string::npos)
      << why;
}

}  // namespace
}  // namespace kata::vmmd
