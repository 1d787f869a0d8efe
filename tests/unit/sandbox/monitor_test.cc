// runMonitor between a test agent (its own thread, tests/support/test_agent.h) and clients of the
// monitor's socket: the monitor runs on a thread of its own with its own EventLoop, as in its own
// process; the clients use AgentLink on the test's loop.
#include "runtime/sandbox/monitor.h"

#include <gtest/gtest.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <future>
#include <thread>

#include "common/error.h"
#include "ipc/peer_creds.h"
#include "runtime/sandbox/agent_link.h"
#include "tests/support/run_support.h"
#include "tests/support/test_agent.h"

namespace kata::sandbox {
namespace {

using namespace std::chrono_literals;

class MonitorTest : public ::testing::Test {
 protected:
  ~MonitorTest() noexcept override {}
  void TearDown() override {
    if (thread_.joinable()) {
      ::pthread_kill(thread_.native_handle(), SIGTERM);
      thread_.join();
    }
  }

  std::string socketPath() const { return tmp_.path() + "/monitor.sock"; }
  std::string logPath() const { return tmp_.path() + "/monitor.log"; }

  // Starts the monitor on its thread over a connection to the test agent; returns once ready.
  void startMonitor() {
    UniqueFd channel = agent_.connect();
    UniqueFd listen = ipc::listenUnix(socketPath(), 0600, static_cast<gid_t>(-1));
    std::promise<void> ready;
    auto readyFuture = ready.get_future();
    thread_ = std::thread([this, c = channel.release(), l = listen.release(), ready = std::move(ready)]() mutable {
      kj::UnixEventPort::captureSignal(SIGTERM);  // blocked in this thread only; the test signals it directly
      EventLoop loop;
      Logger log(LogOptions{logPath(), LogFormat::kText, LogLevel::kDebug, "monitor"});
      try {
        result_ = runMonitor(loop, UniqueFd(c), UniqueFd(l), log, 5s, [&] {
          if (++readyCalls_ == 1) ready.set_value();
        });
      } catch (const Error& e) {
        error_ = e.what();
        if (readyCalls_ == 0) ready.set_value();
      }
      ended_ = true;
    });
    ASSERT_EQ(readyFuture.wait_for(10s), std::future_status::ready);
    ASSERT_EQ(error_, "");
  }
  // Waits (bounded) for the monitor's thread to end.
  bool monitorEnded(std::chrono::milliseconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!ended_ && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(10ms);
    if (!ended_) return false;
    thread_.join();
    return true;
  }

  test::TempDir tmp_;
  test::TestAgent agent_;
  EventLoop loop_;
  std::thread thread_;
  std::atomic<int> readyCalls_{0};
  MonitorResult result_;
  std::string error_;
  std::atomic<bool> ended_{false};
};

TEST_F(MonitorTest, ClientsReachTheAgentThroughTheForwardedCapability) {
  startMonitor();
  EXPECT_TRUE(agent_.waitForCall("Agent.ping", 1s)) << "ready before the agent answered a ping";

  AgentLink link(loop_, ipc::connectUnix(socketPath()));
  auto ping = link.agent().pingRequest();
  ping.setPayload(kj::StringPtr("are you there").asBytes());
  auto pong = loop_.wait(ping.send(), 5s, "ping");
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(pong.getPayload().begin()), pong.getPayload().size()),
            "are you there");
  agent_.with([](test::TestAgentState& s) { s.buildId = "beefcafe"; });
  auto v = loop_.wait(link.agent().versionRequest().send(), 5s, "version");
  EXPECT_EQ(std::string(v.getVersion().getBuildId().cStr()), "beefcafe");

  // A second client at the same time.
  AgentLink second(loop_, ipc::connectUnix(socketPath()));
  EXPECT_NO_THROW(loop_.wait(second.agent().versionRequest().send(), 5s, "version"));

  // The agent's errors come back with their kind, through the monitor.
  auto req = link.agent().containerRequest();
  req.setId("nope");
  try {
    loop_.wait(req.send().getContainer().stateRequest().send(), 5s, "reading container nope");
    FAIL() << "a missing container answered";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kNotFound);
    EXPECT_STREQ(e.what(), "reading container nope: container nope does not exist");
  }
  // A method the agent does not implement fails as capnp fails it.
  try {
    loop_.wait(link.agent().guestInfoRequest().send(), 5s, "guest info");
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kInternal);
    EXPECT_NE(std::string(e.what()).find("not implemented"), std::string::npos) << e.what();
  }
  EXPECT_EQ(agent_.with([](test::TestAgentState& s) { return s.connections; }), 1) << "the monitor reconnected";
}

TEST_F(MonitorTest, EndsWhenTheAgentsConnectionEnds) {
  startMonitor();
  AgentLink link(loop_, ipc::connectUnix(socketPath()));
  ASSERT_NO_THROW(loop_.wait(link.agent().versionRequest().send(), 5s, "version"));
  agent_.dropConnections();  // the VM powered off
  ASSERT_TRUE(monitorEnded(10s));
  EXPECT_TRUE(result_.agentLost);
  EXPECT_EQ(result_.reason, "the agent's connection ended (the VM stopped)");
  EXPECT_EQ(readyCalls_, 1);
  // Its clients lose it too.
  try {
    loop_.wait(link.agent().versionRequest().send(), 5s, "version");
    FAIL() << "the monitor still answered";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kFailedPrecondition) << e.what();
  }
  EXPECT_NE(test::readWhole(logPath()).find("monitor ends: the agent's connection ended"), std::string::npos);
}

TEST_F(MonitorTest, EndsOnSigterm) {
  startMonitor();
  ASSERT_EQ(::pthread_kill(thread_.native_handle(), SIGTERM), 0);
  ASSERT_TRUE(monitorEnded(10s));
  EXPECT_FALSE(result_.agentLost);
  EXPECT_EQ(result_.reason, "SIGTERM");
  EXPECT_EQ(readyCalls_, 1);
}

TEST_F(MonitorTest, AnAgentThatDoesNotAnswerIsATimeoutAndNeverReady) {
  int sv[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
  UniqueFd silent(sv[1]);  // nobody serves this end
  UniqueFd listen = ipc::listenUnix(socketPath(), 0600, static_cast<gid_t>(-1));
  Logger log(LogOptions{logPath(), LogFormat::kText, LogLevel::kDebug, "monitor"});
  int ready = 0;
  try {
    runMonitor(loop_, UniqueFd(sv[0]), std::move(listen), log, 300ms, [&] { ++ready; });
    FAIL() << "the monitor served without an agent";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kTimeout);
    EXPECT_STREQ(e.what(), "waiting for kata-agent to answer did not finish within 0.3 s");
  }
  EXPECT_EQ(ready, 0);
}

TEST_F(MonitorTest, RefusesClientsOfAnotherUid) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to connect as another uid";
  startMonitor();
  // Past the file modes: the peer check itself must refuse.
  ASSERT_EQ(::chmod(tmp_.path().c_str(), 0711), 0);
  ASSERT_EQ(::chmod(socketPath().c_str(), 0666), 0);
  std::string path = socketPath();
  pid_t child = ::fork();
  if (child == 0) {
    // Async-signal-safe calls only (the test has threads).
    ::alarm(5);
    if (::setresgid(65534, 65534, 65534) != 0 || ::setresuid(65534, 65534, 65534) != 0) ::_exit(2);
    int s = ::socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    for (size_t i = 0; i < path.size() && i + 1 < sizeof addr.sun_path; ++i) addr.sun_path[i] = path[i];
    if (::connect(s, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) ::_exit(3);
    char c;
    // A refused client sees the connection closed; an admitted one would wait for the alarm.
    ::_exit(::read(s, &c, 1) == 0 ? 0 : 4);
  }
  int st = 0;
  ASSERT_EQ(::waitpid(child, &st, 0), child);
  ASSERT_TRUE(WIFEXITED(st)) << "the monitor admitted a client of another uid (status " << st << ")";
  EXPECT_EQ(WEXITSTATUS(st), 0);
  EXPECT_NE(test::readWhole(logPath()).find("refusing uid 65534"), std::string::npos) << test::readWhole(logPath());
  // The owner still gets in.
  AgentLink link(loop_, ipc::connectUnix(socketPath()));
  EXPECT_NO_THROW(loop_.wait(link.agent().versionRequest().send(), 5s, "version"));
}

}  // namespace
}  // namespace kata::sandbox
