// Boots the real guest image (build/guest, made by the guest-image target) under QEMU TCG and talks
// to kata-agent over virtio-serial with Cap'n Proto RPC, as the per-sandbox monitor will.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <chrono>
#include <kj/async-io.h>
#include <kj/debug.h>
#include <memory>
#include <thread>

#include "tests/support/agent_client.h"
#include "tests/support/qemu_vm.h"

namespace kata::test {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

// TCG boots take seconds, and the test machine may be loaded by parallel test processes.
constexpr auto kBootTimeout = seconds(120);

std::string vmDiagnostics(const QemuVm& vm) {
  return "\n--- guest console ---\n" + vm.console() + "\n--- qemu ---\n" + vm.qemuLog();
}

// One VM shared by the cases of this suite (each ctest process boots its own).
class GuestBootTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    image_ = GuestImage::load(defaultGuestImageDir());
    if (!image_) return;
    io_ = std::make_unique<kj::AsyncIoContext>(kj::setupAsyncIo());
    vm_ = QemuVm::start(*image_);
  }
  static void TearDownTestSuite() {
    conn_.reset();
    vm_.reset();
    io_.reset();
  }
  void SetUp() override {
    if (!image_)
      GTEST_SKIP() << "guest image missing in " << defaultGuestImageDir() << ": build it with `ninja -C "
                   << KATA_BINARY_DIR << " guest-image`";
    ASSERT_TRUE(vm_);
    if (!conn_) conn_ = std::make_unique<AgentConnection>(*io_, vm_->agentSocket(), seconds(30));
  }

  template <typename T>
  static auto waitFor(kj::Promise<T>&& p, std::chrono::seconds timeout = kBootTimeout) {
    return io_->provider->getTimer()
        .timeoutAfter(timeout.count() * kj::SECONDS, kj::mv(p))
        .wait(io_->waitScope);
  }

  static inline std::optional<GuestImage> image_;
  static inline std::unique_ptr<kj::AsyncIoContext> io_;
  static inline std::unique_ptr<QemuVm> vm_;
  static inline std::unique_ptr<AgentConnection> conn_;
};

TEST_F(GuestBootTest, AnswersPingVersionAndGuestInfo) {
  auto agent = conn_->agent();
  {
    auto req = agent.pingRequest();
    const kj::byte payload[] = {'k', 'a', 't', 'a', 0, 0xff};
    req.setPayload(kj::arrayPtr(payload, sizeof payload));
    auto resp = waitFor(req.send());
    auto echoed = resp.getPayload();
    ASSERT_EQ(echoed.size(), sizeof payload) << vmDiagnostics(*vm_);
    EXPECT_EQ(0, memcmp(echoed.begin(), payload, sizeof payload));
  }
  {
    auto resp = waitFor(agent.versionRequest().send());
    auto v = resp.getVersion();
    EXPECT_EQ(std::string(v.getKernelRelease().cStr()), image_->kernelRelease);
    EXPECT_EQ(std::string(v.getBuildId().cStr()), image_->agentBuildId);
    EXPECT_FALSE(v.getAgentVersion().size() == 0);
    EXPECT_EQ(v.getProtocolVersion(), ipc::agent::PROTOCOL_VERSION);
  }
  {
    auto resp = waitFor(agent.guestInfoRequest().send());
    auto info = resp.getInfo();
    // -m 256: the kernel reserves some, so MemTotal is a bit below 256 MiB.
    EXPECT_GT(info.getMemTotalBytes(), 128ull << 20);
    EXPECT_LE(info.getMemTotalBytes(), 256ull << 20);
    EXPECT_GT(info.getMemAvailableBytes(), 0u);
    EXPECT_LE(info.getMemAvailableBytes(), info.getMemTotalBytes());
    EXPECT_GT(info.getAgentRssBytes(), 0u);
    EXPECT_LT(info.getAgentRssBytes(), 64ull << 20);
    EXPECT_GT(info.getAgentReadyNs(), info.getAgentStartNs());
    EXPECT_GE(info.getUptimeNs(), info.getAgentReadyNs());
    EXPECT_EQ(info.getOnlineCpus(), 1u);
    // The guest clock comes from the emulated RTC, which QEMU sets from the host clock.
    auto hostNs = std::chrono::duration_cast<std::chrono::nanoseconds>(
                      std::chrono::system_clock::now().time_since_epoch()).count();
    EXPECT_LT(std::llabs(hostNs - info.getWallClockNs()), 30ll * 1000 * 1000 * 1000)
        << "guest wall clock is off the host's by more than 30 s";
  }
  {
    // The late modules load in the background after the agent is ready; wait for them.
    auto deadline = std::chrono::steady_clock::now() + seconds(60);
    auto resp = waitFor(agent.guestInfoRequest().send());
    while (resp.getInfo().getModulesLoading() && std::chrono::steady_clock::now() < deadline) {
      waitFor(io_->provider->getTimer().afterDelay(100 * kj::MILLISECONDS));
      resp = waitFor(agent.guestInfoRequest().send());
    }
    auto info = resp.getInfo();
    ASSERT_FALSE(info.getModulesLoading()) << "late modules still loading after 60 s" << vmDiagnostics(*vm_);
    std::vector<std::string> loaded;
    for (auto m : info.getLoadedModules()) loaded.emplace_back(m.cStr());
    EXPECT_EQ(loaded, image_->modules) << vmDiagnostics(*vm_);
    // With the vsock transport loaded the agent looks for a vsock device; this VM has none (the host
    // has no vhost-vsock), so it says it serves virtio-serial only. The look-up follows the module
    // load within the agent's 50 ms poll.
    auto until = std::chrono::steady_clock::now() + seconds(10);
    while (vm_->console().find("no virtio vsock device") == std::string::npos && std::chrono::steady_clock::now() < until)
      waitFor(io_->provider->getTimer().afterDelay(100 * kj::MILLISECONDS));
    EXPECT_NE(vm_->console().find("no virtio vsock device: serving the virtio-serial channel only"), std::string::npos)
        << vmDiagnostics(*vm_);
  }
}

TEST_F(GuestBootTest, CreateContainerBeforeCreateSandboxSaysWhatToDo) {
  auto agent = conn_->agent();
  auto req = agent.createContainerRequest();
  req.initConfig().setId("c1");
  try {
    waitFor(req.send());
    FAIL() << "createContainer succeeded without a sandbox";
  } catch (const kj::Exception& e) {
    EXPECT_EQ(e.getType(), kj::Exception::Type::FAILED) << e.getDescription().cStr();
    EXPECT_NE(std::string(e.getDescription().cStr()).find("createSandbox first"), std::string::npos)
        << e.getDescription().cStr();
  }
  // The connection is still usable after an error reply.
  EXPECT_NO_THROW(waitFor(agent.pingRequest().send()));
}

TEST_F(GuestBootTest, SurvivesGarbageAndServesTheNextConnection) {
  // Make sure the agent is up, then send bytes that are not a Cap'n Proto message and hang up.
  waitFor(conn_->agent().pingRequest().send());
  const char garbage[] = "\xff\xff\xff\x7fthis is not capnp\x00\x01\x02";
  conn_->writeRaw(garbage, sizeof garbage);
  conn_.reset();
  std::this_thread::sleep_for(kReconnectQuietPeriod);
  // A new client gets served: PID 1 did not die (that would end QEMU) and reset its channel.
  conn_ = connectAgentWithRetry(*io_, vm_->agentSocket(), seconds(3), seconds(60));
  auto resp = waitFor(conn_->agent().versionRequest().send(), seconds(10));
  auto v = resp.getVersion();
  EXPECT_EQ(std::string(v.getKernelRelease().cStr()), image_->kernelRelease);
  EXPECT_FALSE(vm_->waitExit(milliseconds(0))) << "QEMU exited" << vmDiagnostics(*vm_);
}

TEST_F(GuestBootTest, ReconnectsAfterAPlainDisconnect) {
  waitFor(conn_->agent().pingRequest().send());
  conn_.reset();
  std::this_thread::sleep_for(kReconnectQuietPeriod);
  ASSERT_NO_THROW(conn_ = connectAgentWithRetry(*io_, vm_->agentSocket(), seconds(3), seconds(60)))
      << vmDiagnostics(*vm_);
  EXPECT_NO_THROW(waitFor(conn_->agent().guestInfoRequest().send(), seconds(30))) << vmDiagnostics(*vm_);
}

// Shutdown ends the VM, so it gets its own.
TEST(GuestShutdownTest, ShutdownPowersOffAndQemuExitsByItself) {
  auto image = GuestImage::load(defaultGuestImageDir());
  if (!image)
    GTEST_SKIP() << "guest image missing in " << defaultGuestImageDir() << ": build it with `ninja -C "
                 << KATA_BINARY_DIR << " guest-image`";
  auto io = kj::setupAsyncIo();
  auto vm = QemuVm::start(*image);
  AgentConnection conn(io, vm->agentSocket(), seconds(30));
  auto& timer = io.provider->getTimer();
  timer.timeoutAfter(120 * kj::SECONDS, conn.agent().pingRequest().send()).wait(io.waitScope);
  timer.timeoutAfter(30 * kj::SECONDS, conn.agent().shutdownRequest().send()).wait(io.waitScope);
  auto status = vm->waitExit(seconds(30));
  ASSERT_TRUE(status) << "QEMU still running 30 s after shutdown" << vmDiagnostics(*vm);
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0) << "status " << *status << vmDiagnostics(*vm);
  EXPECT_NE(vm->console().find("powering off"), std::string::npos) << vmDiagnostics(*vm);
}

}  // namespace
}  // namespace kata::test
