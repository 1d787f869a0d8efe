// kata-ctl's verbs against a sandbox served by its real monitor process (kata-ctl __monitor) and,
// for detached execs, its real shim (kata-ctl __shim), without a VM: the test process creates the
// sandbox with the Sandbox API over a test VmFactory whose agent channel reaches a test agent
// (tests/support/test_agent.h) on a thread of this process. kata-ctl, the monitor and the shim are
// separate processes that find the sandbox through its records under --root, as they do in
// production; only the guest is stood in for.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "runtime/sandbox/sandbox.h"
#include "runtime/state/container_store.h"
#include "runtime/store/fs_store.h"
#include "tests/support/run_support.h"
#include "tests/support/test_agent.h"
#include "tests/support/test_vm.h"

namespace kata::test {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using nlohmann::json;

bool alive(pid_t pid) { return pid > 0 && ::kill(pid, 0) == 0; }

bool waitGone(pid_t pid, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (alive(pid)) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(10ms);
  }
  return true;
}

std::string cmdline(pid_t pid) { return readWhole("/proc/" + std::to_string(pid) + "/cmdline"); }

class KataCtlSandbox : public ::testing::Test {
 protected:
  ~KataCtlSandbox() noexcept override {}

  void SetUp() override {
    std::ofstream(config()) << "[runtime]\nvmmd_socket = \"" << root() << "/no-vmmd.sock\"\n"
                            << "[agent]\ndial_timeout_ms = 5000\n";
    fs::create_directories(bundle() + "/rootfs/etc");
    std::ofstream(bundle() + "/rootfs/etc/passwd") << "root:x:0:0:root:/root:/bin/sh\n";
    std::ofstream(bundle() + "/config.json") << spec().dump(2);
    fs::create_directories(imageDir());
    writeGuestImage(imageDir(), "0123456789abcdef0123456789abcdef01234567");
    agent_.with([](TestAgentState& s) { s.init.runs = true; });

    sandbox::SandboxConfig c;
    c.id = "pod1";
    c.guestImageDir = imageDir();
    c.agentTimeout = 5s;
    c.monitor = sandbox::MonitorCommand{{kataCtlPath(), "--root", root(), "--log", root() + "/.run/pod1/monitor.log",
                                         "--log-format", "json", "__monitor"}};
    sb_ = sandbox::createSandbox(env_, c);
    sb_->start();
    monitorPid_ = json::parse(*sandboxes_.load("pod1/sandbox.json"))["monitorPid"].get<int>();
    addContainer("c1", state::ContainerStatus::kRunning);
  }

  void TearDown() override {
    if (sb_) {
      sb_->deleteSandbox();
      sb_.reset();
    }
    EXPECT_TRUE(waitGone(monitorPid_, 10s)) << "the monitor outlived its sandbox";
  }

  std::string root() const { return root_.path(); }
  std::string bundle() const { return work_.path() + "/bundle"; }
  std::string imageDir() const { return work_.path() + "/guest"; }
  std::string config() const { return work_.path() + "/kata-ctl.toml"; }
  json spec() const {
    return json{{"ociVersion", "1.0.2"},
                {"process", {{"args", {"sleep", "1000"}}, {"cwd", "/"}, {"env", {"PATH=/bin"}}, {"user", {{"uid", 0}, {"gid", 0}}}}},
                {"root", {{"path", "rootfs"}}},
                {"linux", json::object()}};
  }

  // A container in the guest (created, and started when `status` says running) and its state as
  // kata-ctl create would have stored it; its pid is this test's, which is alive.
  void addContainer(const std::string& id, state::ContainerStatus status) {
    sb_->createContainer(sandbox::ContainerConfig{id, spec(), bundle(), {}});
    if (status == state::ContainerStatus::kRunning) sb_->startContainer(id);
    state::ContainerState s;
    s.id = id;
    s.pid = ::getpid();
    s.status = status;
    s.bundle = bundle();
    s.rootfs = bundle() + "/rootfs";
    s.created = std::chrono::system_clock::now();
    s.owner = "root";
    s.sandboxId = "pod1";
    state::ContainerStore(std::make_unique<store::FsMetadataStore>(root())).create(s);
  }
  state::ContainerStatus storedStatus(const std::string& id) {
    return state::ContainerStore(std::make_unique<store::FsMetadataStore>(root())).load(id).status;
  }
  RunResult ctl(std::vector<std::string> args, const std::string& input = "") {
    args.insert(args.begin(), {"--root", root(), "--config", config()});
    return runProgram(kataCtlPath(), args, input);
  }
  TestContainerRecord guest(const std::string& id) {
    return agent_.with([&](TestAgentState& s) { return s.containers.at(id); });
  }

  TempDir root_, work_;
  TestAgent agent_;
  TestVmFactory factory_{agent_};
  sandbox::EventLoop loop_;
  store::FsMetadataStore sandboxes_{root_.path() + "/.sandboxes"};
  sandbox::SandboxEnv env_{loop_, factory_, sandboxes_, root_.path() + "/.run",
                           Logger(LogOptions{work_.path() + "/test.log", LogFormat::kText, LogLevel::kDebug, "test"})};
  std::unique_ptr<sandbox::Sandbox> sb_;
  pid_t monitorPid_ = 0;
};

TEST_F(KataCtlSandbox, TheMonitorHoldsTheAgentChannelForEveryProcess) {
  ASSERT_TRUE(alive(monitorPid_));
  std::string cmd = cmdline(monitorPid_);
  EXPECT_NE(cmd.find(std::string("__monitor") + '\0'), std::string::npos);
  EXPECT_NE(cmd.find(std::string("--sandbox") + '\0' + "pod1" + '\0'), std::string::npos);
  EXPECT_TRUE(fs::exists(root() + "/.run/pod1/monitor.sock"));
  // One connection to the agent, the monitor's, however many processes talk to the sandbox.
  EXPECT_EQ(ctl({"kill", "c1", "USR1"}).status, 0);
  EXPECT_EQ(ctl({"kill", "c1", "USR2"}).status, 0);
  auto other = sandbox::Sandbox::open(env_, "pod1");
  EXPECT_EQ(other->statusContainer("c1").status, sandbox::ContainerStatus::kRunning);
  EXPECT_EQ(agent_.with([](TestAgentState& s) { return s.connections; }), 1);
  EXPECT_EQ(guest("c1").signals, (std::vector<std::pair<int, bool>>{{SIGUSR1, false}, {SIGUSR2, false}}));
}

TEST_F(KataCtlSandbox, KillPauseAndResumeReachTheGuest) {
  auto r = ctl({"pause", "c1"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(guest("c1").status, "paused");
  EXPECT_EQ(storedStatus("c1"), state::ContainerStatus::kPaused);
  r = ctl({"resume", "c1"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(guest("c1").status, "running");
  EXPECT_EQ(storedStatus("c1"), state::ContainerStatus::kRunning);
  r = ctl({"kill", "--all", "c1", "KILL"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(guest("c1").signals, (std::vector<std::pair<int, bool>>{{SIGKILL, true}}));
  EXPECT_EQ(guest("c1").status, "stopped");
}

TEST_F(KataCtlSandbox, PsListsTheGuestsProcesses) {
  auto r = ctl({"ps", "c1"});
  ASSERT_EQ(r.status, 0) << r.err;
  int pid = guest("c1").initPid;
  EXPECT_EQ(r.out.substr(0, r.out.find('\n')), "UID          PID    PPID  C STIME TTY          TIME CMD");
  std::string line = r.out.substr(r.out.find('\n') + 1);
  EXPECT_EQ(line.rfind("root ", 0), 0u) << "the uid is named from the container's /etc/passwd: " << line;
  EXPECT_NE(line.find(" " + std::to_string(pid) + " "), std::string::npos) << line;
  EXPECT_NE(line.find("00:00:00 sleep 1000\n"), std::string::npos) << line;
  r = ctl({"ps", "--format", "json", "c1"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(json::parse(r.out), json({pid, pid + 1}));
}

TEST_F(KataCtlSandbox, EventsStatsAndUpdate) {
  auto r = ctl({"events", "--stats", "c1"});
  ASSERT_EQ(r.status, 0) << r.err;
  auto e = json::parse(r.out);
  EXPECT_EQ(e["type"], "stats");
  EXPECT_EQ(e["id"], "c1");
  EXPECT_EQ(e["data"]["cpu"]["usage"]["total"], 1500);
  EXPECT_EQ(e["data"]["memory"]["usage"]["usage"], 4096);
  EXPECT_EQ(e["data"]["pids"]["current"], 2);
  r = ctl({"update", "--memory", "256M", "--pids-limit", "50", "c1"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(guest("c1").updates, std::vector<json>{json({{"memory", {{"limit", 268435456}}}, {"pids", {{"limit", 50}}}})});
}

TEST_F(KataCtlSandbox, StartRunsACreatedContainer) {
  addContainer("c2", state::ContainerStatus::kCreated);
  EXPECT_EQ(guest("c2").status, "created");
  auto r = ctl({"start", "c2"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(guest("c2").status, "running");
  EXPECT_EQ(storedStatus("c2"), state::ContainerStatus::kRunning);
  r = ctl({"start", "c2"});
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.err.find("cannot start an already running container"), std::string::npos) << r.err;
}

TEST_F(KataCtlSandbox, ExecInTheForegroundRelaysItsStdioAndExitCode) {
  agent_.with([](TestAgentState& s) { s.exec = {"exec out\n", "exec err\n", 5, false, false, /*untilStdinEnds=*/true}; });
  auto r = ctl({"exec", "--env", "FOO=bar", "--cwd", "/tmp", "--user", "1000:100", "--cap", "NET_ADMIN", "c1", "ls", "-l"},
               "typed input");
  EXPECT_EQ(r.status, 5) << r.err;
  EXPECT_EQ(r.out, "exec out\n");
  EXPECT_NE(r.err.find("exec err\n"), std::string::npos) << r.err;
  auto g = guest("c1");
  ASSERT_EQ(g.processes.size(), 2u);
  auto& [execId, p] = *std::find_if(g.processes.begin(), g.processes.end(), [](auto& kv) { return !kv.first.empty(); });
  EXPECT_EQ(execId.rfind("exec-", 0), 0u) << execId;
  EXPECT_EQ(p.spec["args"], json({"ls", "-l"}));
  EXPECT_EQ(p.spec["env"], json({"PATH=/bin", "FOO=bar"}));
  EXPECT_EQ(p.spec["cwd"], "/tmp");
  EXPECT_EQ(p.spec["user"]["uid"], 1000);
  EXPECT_EQ(p.spec["user"]["gid"], 100);
  EXPECT_EQ(p.spec["capabilities"]["bounding"], json({"CAP_NET_ADMIN"}));
  EXPECT_EQ(p.stdinData, "typed input");
  EXPECT_TRUE(p.stdinEnded);
}

TEST_F(KataCtlSandbox, ADetachedExecIsStoodForByAShimThatForwardsSignals) {
  agent_.with([](TestAgentState& s) { s.exec = {"", "", 0, true, false}; });
  const std::string pidFile = work_.path() + "/exec.pid";
  auto r = ctl({"exec", "-d", "--pid-file", pidFile, "c1", "sleep", "60"});
  ASSERT_EQ(r.status, 0) << r.err;
  pid_t shim = std::stoi(readWhole(pidFile));
  ASSERT_TRUE(alive(shim));
  std::string cmd = cmdline(shim);
  EXPECT_NE(cmd.find(std::string("__shim") + '\0' + "--id" + '\0' + "c1" + '\0'), std::string::npos);
  std::string execId;
  for (const auto& [id, p] : guest("c1").processes)
    if (!id.empty()) execId = id;
  ASSERT_FALSE(execId.empty());
  // A signal to the shim reaches the process in the guest, which ends it, which ends the shim.
  ASSERT_TRUE(agent_.waitForCall("Process.wait c1/" + execId, 5s));
  ::kill(shim, SIGTERM);
  ASSERT_TRUE(agent_.waitForCall("Process.signal c1/" + execId + " 15", 5s));
  EXPECT_TRUE(waitGone(shim, 10s));
  EXPECT_TRUE(guest("c1").processes.at(execId).exited);
}

TEST_F(KataCtlSandbox, AShimReportsTheGuestsRefusal) {
  agent_.with([](TestAgentState& s) { s.execError = "invalid-argument: exec: no such file: /bin/nope"; });
  auto r = ctl({"exec", "-d", "c1", "/bin/nope"});
  EXPECT_EQ(r.status, 255);
  EXPECT_NE(r.err.find("exec failed: "), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("exec: no such file: /bin/nope"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace kata::test
