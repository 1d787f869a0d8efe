// The launcher process (kata-vmmd/jail_launcher.h) for real, as root: what it starts is our child
// with its fds where the argv expects them; what it refuses, it refuses clearly; when it is gone,
// launches say so.
#include "kata-vmmd/jail_launcher.h"

#include <fcntl.h>
#include <linux/capability.h>
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

std::string statusLine(pid_t pid, const std::string& key) {
  std::string status = readFile("/proc/" + std::to_string(pid) + "/status", 1 << 16);
  auto at = status.find("\n" + key + ":\t");
  if (at == std::string::npos) return "";
  at += key.size() + 3;
  std::string v = status.substr(at, status.find('\n', at) - at);
  while (!v.empty() && v.back() == ' ') v.pop_back();  // "Groups:\t \n" when there are none
  return v;
}

// A user namespace of its own (what virtiofsd gets): the maps the daemon asked for, the kept
// capabilities and nothing else, also in the bounding set; only for the programs named for it.
TEST_F(JailLauncherTest, AUserNamespaceOnlyForItsProgramsWithTheKeptCapabilitiesOnly) {
  LaunchSpec spec = sleepSpec("30");
  spec.identity = {0, 0, {}, true};
  spec.userns = security::UserNamespaceSpec{{{0, 65534, 1}}, {{0, 65534, 1}}, {CAP_CHOWN, CAP_DAC_OVERRIDE}};
  EXPECT_NE(refusal(spec).find("may not run in a user namespace of its own"), std::string::npos) << refusal(spec);

  JailLauncherOptions o;
  o.programs = {"/usr/bin/sleep"};
  o.userNamespacePrograms = {"/usr/bin/sleep"};
  o.capabilities = launcherRequiredCapabilities();
  o.optionalCapabilities = launcherCapabilities();
  launcher_ = JailLauncher::spawn(o, log_);
  {
    LaunchedProcess p = launchJailed(spec, log_, launcher_.get());
    const std::string proc = "/proc/" + std::to_string(p.pid());
    EXPECT_EQ(readFile(proc + "/uid_map", 4096), "         0      65534          1\n");
    EXPECT_EQ(readFile(proc + "/gid_map", 4096), "         0      65534          1\n");
    // Its uid 0 is host uid 65534; its capabilities are the namespace's.
    EXPECT_EQ(statusLine(p.pid(), "Uid"), "65534\t65534\t65534\t65534");
    EXPECT_EQ(statusLine(p.pid(), "Groups"), "");
    EXPECT_EQ(statusLine(p.pid(), "CapEff"), "0000000000000003");
    EXPECT_EQ(statusLine(p.pid(), "CapPrm"), "0000000000000003");
    EXPECT_EQ(statusLine(p.pid(), "CapBnd"), "0000000000000003");
    EXPECT_EQ(statusLine(p.pid(), "CapInh"), "0000000000000000");
    EXPECT_EQ(statusLine(p.pid(), "CapAmb"), "0000000000000000");
    EXPECT_EQ(statusLine(p.pid(), "NoNewPrivs"), "1");
    EXPECT_NE(std::filesystem::read_symlink(proc + "/ns/user"), std::filesystem::read_symlink("/proc/self/ns/user"));
    EXPECT_EQ(statusLine(p.pid(), "PPid"), std::to_string(::getpid()));
  }
  // The whole id range mapped to itself (root's sandboxes): host uid 0, still only the kept ones.
  spec.userns->uidMap = spec.userns->gidMap = {security::identityMapping()};
  {
    LaunchedProcess p = launchJailed(spec, log_, launcher_.get());
    EXPECT_EQ(readFile("/proc/" + std::to_string(p.pid()) + "/uid_map", 4096), "         0          0 4294967295\n");
    EXPECT_EQ(statusLine(p.pid(), "Uid"), "0\t0\t0\t0");
    EXPECT_EQ(statusLine(p.pid(), "CapEff"), "0000000000000003");
    EXPECT_EQ(statusLine(p.pid(), "CapBnd"), "0000000000000003");
  }
  // Capabilities outside a file server's are refused, whatever the program.
  spec.userns->keep = {CAP_SYS_MODULE};
  EXPECT_NE(refusal(spec).find("refusing to keep CAP_SYS_MODULE in a user namespace"), std::string::npos)
      << refusal(spec);
  // Without a user namespace, uid 0 stays refused.
  spec.userns.reset();
  EXPECT_NE(refusal(spec).find("refusing to launch as uid/gid 0"), std::string::npos) << refusal(spec);
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
