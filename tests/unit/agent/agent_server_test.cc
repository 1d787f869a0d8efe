// The Agent RPC server and its channel loop, over a socketpair instead of a virtio-serial port.
#include "agent/agent_server.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>

#include <capnp/rpc-twoparty.h>
#include <kj/async-io.h>

#include "agent/channel.h"
#include "agent/container_manager.h"
#include "agent/reaper.h"
#include "common/error.h"
#include "common/fd.h"
#include "common/fs.h"

namespace kata::agent {
namespace {

class RecordingHost final : public AgentHost {
 public:
  void requestPowerOff() override { ++powerOffs; }
  int powerOffs = 0;
};

class AgentServerTest : public ::testing::Test {
 protected:
  // kj members' destructors are noexcept(false); gtest's base destructor is not.
  ~AgentServerTest() noexcept override {}
  void SetUp() override {
    int sv[2];
    ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sv), 0);
    agentEnd_ = UniqueFd(sv[0]);
    hostEnd_ = UniqueFd(sv[1]);
    boot_.identity = {"9.9.9", "abc123", "feedface", "6.1.0-test"};
    boot_.modules.add({"virtio_ring", "virtio"});
    boot_.modules.setLoading(true);
    boot_.startNs = 10;
    boot_.readyNs = 20;
    channel_ = kj::heap<ChannelServer>(
        *io_.lowLevelProvider, io_.provider->getTimer(), agentEnd_.get(),
        [this]() -> capnp::Capability::Client { return kj::heap<AgentServer>(boot_, host_, containers_); }, log_);
    serving_ = channel_->run().eagerlyEvaluate(nullptr);
    stream_ = io_.lowLevelProvider->wrapSocketFd(hostEnd_.get());
    client_ = kj::heap<capnp::TwoPartyClient>(*stream_);
    agent_ = client_->bootstrap().castAs<ipc::agent::Agent>();
  }

  static ManagerPaths tempPaths() {
    ManagerPaths p;
    p.sharedDir = ::testing::TempDir() + "/agent-server-test-shared";
    p.resolvConf = ::testing::TempDir() + "/agent-server-test-resolv.conf";
    p.sysRoot = fakeSys();
    p.devRoot = fakeDev();
    return p;
  }

  static std::string fakeSys() { return ::testing::TempDir() + "/agent-server-test-sys-" + std::to_string(::getpid()); }
  static std::string fakeDev() { return ::testing::TempDir() + "/agent-server-test-dev-" + std::to_string(::getpid()); }
  void TearDown() override {
    removeTree(AT_FDCWD, fakeSys());
    removeTree(AT_FDCWD, fakeDev());
  }
  static void fakeDisk(const std::string& name, const std::string& serial) {
    makeDirs(fakeSys() + "/block/" + name, 0755);
    writeFileAtomic(openDir(fakeSys() + "/block/" + name).get(), "serial", serial, 0644);
    makeDirs(fakeDev(), 0755);
    writeFileAtomic(openDir(fakeDev()).get(), name, "", 0600);
  }

  bool captured_ = (Reaper::captureSigchld(), true);
  kj::AsyncIoContext io_ = kj::setupAsyncIo();
  UniqueFd agentEnd_, hostEnd_;
  ConsoleLog log_{-1};
  AgentBootInfo boot_;
  RecordingHost host_;
  Reaper reaper_{io_.unixEventPort, log_};
  ContainerManager containers_{*io_.lowLevelProvider, io_.provider->getTimer(), reaper_, boot_.modules,
                               makeProcessLauncher(), log_, tempPaths()};
  kj::Own<ChannelServer> channel_;
  kj::Promise<void> serving_ = nullptr;
  kj::Own<kj::AsyncIoStream> stream_;
  kj::Own<capnp::TwoPartyClient> client_;
  ipc::agent::Agent::Client agent_ = nullptr;
};

TEST_F(AgentServerTest, PingEchoesAndRefusesOversizedPayloads) {
  auto req = agent_.pingRequest();
  req.setPayload(kj::StringPtr("hello").asBytes());
  auto resp = req.send().wait(io_.waitScope);
  EXPECT_EQ(kj::str(resp.getPayload().asChars()), "hello");

  auto big = agent_.pingRequest();
  big.initPayload(kMaxPingPayload + 1);
  EXPECT_THROW(big.send().wait(io_.waitScope), kj::Exception);
  // The session survives the refused call.
  EXPECT_NO_THROW(agent_.pingRequest().send().wait(io_.waitScope));
}

TEST_F(AgentServerTest, VersionReportsTheIdentity) {
  auto resp = agent_.versionRequest().send().wait(io_.waitScope);
  auto v = resp.getVersion();
  EXPECT_EQ(kj::str(v.getAgentVersion()), "9.9.9");
  EXPECT_EQ(kj::str(v.getAgentCommit()), "abc123");
  EXPECT_EQ(kj::str(v.getBuildId()), "feedface");
  EXPECT_EQ(kj::str(v.getKernelRelease()), "6.1.0-test");
  EXPECT_EQ(v.getProtocolVersion(), ipc::agent::PROTOCOL_VERSION);
}

TEST_F(AgentServerTest, GuestInfoReadsProcAndBootFacts) {
  auto resp = agent_.guestInfoRequest().send().wait(io_.waitScope);
  auto info = resp.getInfo();
  EXPECT_GT(info.getMemTotalBytes(), 0u);
  EXPECT_GT(info.getAgentRssBytes(), 0u);
  EXPECT_EQ(info.getAgentStartNs(), 10u);
  EXPECT_EQ(info.getAgentReadyNs(), 20u);
  ASSERT_EQ(info.getLoadedModules().size(), 2u);
  EXPECT_EQ(kj::str(info.getLoadedModules()[1]), "virtio");
  EXPECT_TRUE(info.getModulesLoading());
}

TEST_F(AgentServerTest, GuestInfoFailureIsAnRpcErrorNotACrash) {
  boot_.procRoot = "/nonexistent-proc";
  try {
    agent_.guestInfoRequest().send().wait(io_.waitScope);
    FAIL() << "guestInfo succeeded without /proc";
  } catch (const kj::Exception& e) {
    EXPECT_NE(std::string(e.getDescription().cStr()).find("/nonexistent-proc/meminfo"), std::string::npos)
        << e.getDescription().cStr();
  }
}

TEST_F(AgentServerTest, ShutdownAsksTheHostToPowerOff) {
  agent_.shutdownRequest().send().wait(io_.waitScope);
  EXPECT_EQ(host_.powerOffs, 1);
}

TEST_F(AgentServerTest, ContainerCallsValidateAndFailWithReasons) {
  auto expectError = [&](auto&& promise, const char* needle) {
    try {
      promise.wait(io_.waitScope);
      ADD_FAILURE() << "succeeded; expected an error with \"" << needle << "\"";
    } catch (const kj::Exception& e) {
      EXPECT_EQ(e.getType(), kj::Exception::Type::FAILED);
      std::string d = e.getDescription().cStr();
      EXPECT_NE(d.find(needle), std::string::npos) << d;
    }
  };
  // Without a sandbox that is the answer; with one, the request itself is checked (no state
  // involved), then against the guest's state.
  const std::string spec =
      R"({"ociVersion":"1.0.2","root":{"path":"rootfs"},"process":{"args":["true"],"cwd":"/","user":{"uid":0,"gid":0}}})";
  auto validConfig = [&](ipc::agent::ContainerConfig::Builder cfg, const char* share) {
    cfg.setId("c1");
    cfg.setOciSpecJson(kj::arrayPtr(reinterpret_cast<const kj::byte*>(spec.data()), spec.size()));
    cfg.setRootfsShare(share);
    cfg.setRootfsPath("rootfs");
  };
  {
    auto req = agent_.createContainerRequest();
    req.initConfig().setId("c1");
    expectError(req.send(), "call createSandbox first");
  }
  expectError(agent_.destroySandboxRequest().send(), "no sandbox exists");
  {
    auto req = agent_.containerRequest();
    req.setId("nope");
    expectError(req.send(), "container \"nope\" does not exist");
  }
  {
    auto req = agent_.containerRequest();
    req.setId("../etc");
    expectError(req.send(), "is invalid");
  }
  {
    auto req = agent_.createSandboxRequest();
    auto cfg = req.initConfig();
    cfg.setId("pod");
    cfg.setHostname("bad host/name");
    expectError(req.send(), "hostname");
  }
  {
    auto req = agent_.createSandboxRequest();
    auto cfg = req.initConfig();
    cfg.setId("pod");
    cfg.initSharedMounts(2).set(0, "a");
    cfg.getSharedMounts().set(1, "a");
    expectError(req.send(), "listed twice");
  }
  {
    auto req = agent_.createSandboxRequest();
    auto cfg = req.initConfig();
    cfg.setId("pod");
    cfg.setSharedFs("nfs");
    expectError(req.send(), "is not \"virtio-9p\" or \"virtio-fs\"");
  }
  boot_.modules.setLoading(false);
  {
    // No hostname, DNS or shares: a sandbox without side effects outside the temp dir.
    auto req = agent_.createSandboxRequest();
    req.initConfig().setId("pod");
    req.send().wait(io_.waitScope);
  }
  {
    auto req = agent_.createSandboxRequest();
    req.initConfig().setId("pod2");
    expectError(req.send(), "already exists");
  }
  {
    auto req = agent_.createContainerRequest();
    req.initConfig().setId("c1");
    expectError(req.send(), "rootfs share is empty");
  }
  {
    auto req = agent_.createContainerRequest();
    validConfig(req.initConfig(), "share");
    req.getConfig().setOciSpecJson(kj::StringPtr("{\"ociVersion\": [[[").asBytes());
    expectError(req.send(), "invalid JSON");
  }
  {
    auto req = agent_.createContainerRequest();
    validConfig(req.initConfig(), "notmounted");
    expectError(req.send(), "is not mounted");
  }
  EXPECT_EQ(agent_.listContainersRequest().send().wait(io_.waitScope).getIds().size(), 0u);
  agent_.destroySandboxRequest().send().wait(io_.waitScope);
}

TEST(ContainerManagerTest, IdsFollowRuncsRule) {
  EXPECT_NO_THROW(validateId("abc-1.2_x", "id"));
  EXPECT_THROW(validateId("", "id"), Error);
  EXPECT_THROW(validateId("-lead", "id"), Error);
  EXPECT_THROW(validateId("a/b", "id"), Error);
  EXPECT_THROW(validateId("..", "id"), Error);
  EXPECT_THROW(validateId(std::string(129, 'a'), "id"), Error);
}

TEST(ContainerManagerTest, ExitCodesAreTheShells) {
  EXPECT_EQ(shellExitCode(3 << 8), 3);  // exited 3
  EXPECT_EQ(shellExitCode(SIGKILL), 137);  // killed by SIGKILL
  EXPECT_EQ(shellExitCode(SIGTERM), 143);
}

TEST_F(AgentServerTest, GarbageEndsTheSessionWithoutHurtingTheServer) {
  agent_.pingRequest().send().wait(io_.waitScope);
  // A segment table claiming 2^31 segments.
  const char garbage[] = "\xff\xff\xff\x7f\x00\x00\x00\x00garbage";
  ASSERT_EQ(::write(hostEnd_.get(), garbage, sizeof garbage), static_cast<ssize_t>(sizeof garbage));
  EXPECT_THROW(agent_.pingRequest().send().wait(io_.waitScope), kj::Exception);
  EXPECT_EQ(channel_->sessions(), 1u);
  // The channel loop is still alive (it has not rejected).
  EXPECT_FALSE(serving_.poll(io_.waitScope));
}

TEST_F(AgentServerTest, OversizedMessageEndsTheSessionNotTheAgent) {
  auto req = agent_.pingRequest();
  req.initPayload(20u << 20);  // above the agent's 16 MiB message limit
  EXPECT_THROW(req.send().wait(io_.waitScope), kj::Exception);
  EXPECT_FALSE(serving_.poll(io_.waitScope));
}

TEST(ReaperTest, ReapsOrphansAndReportsWatchedChildren) {
  Reaper::captureSigchld();
  auto io = kj::setupAsyncIo();
  ConsoleLog log(-1);
  Reaper reaper(io.unixEventPort, log);
  pid_t watched = ::fork();
  ASSERT_GE(watched, 0);
  if (watched == 0) ::_exit(7);
  auto exit = reaper.onExit(watched);
  pid_t unwatched = ::fork();
  ASSERT_GE(unwatched, 0);
  if (unwatched == 0) ::_exit(0);
  int status = io.provider->getTimer().timeoutAfter(10 * kj::SECONDS, kj::mv(exit)).wait(io.waitScope);
  EXPECT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 7);
  // The unwatched child gets reaped too (no zombie left for waitpid to find).
  for (int i = 0; i < 1000 && reaper.orphansReaped() == 0; ++i)
    io.provider->getTimer().afterDelay(5 * kj::MILLISECONDS).wait(io.waitScope);
  EXPECT_EQ(reaper.orphansReaped(), 1u);
  EXPECT_EQ(::waitpid(unwatched, nullptr, WNOHANG), -1);
  EXPECT_EQ(errno, ECHILD);
}

TEST_F(AgentServerTest, WaitBlockDeviceFindsTheDiskBySerialOnceItAppears) {
  fakeDisk("vda", "rootfs");
  // The disk shows up while the call waits, as a hot-plugged one does.
  auto plug = io_.provider->getTimer().afterDelay(150 * kj::MILLISECONDS).then([] { fakeDisk("vdb", "disk1"); }).eagerlyEvaluate(nullptr);
  auto req = agent_.waitBlockDeviceRequest();
  req.setSerial("disk1");
  req.setTimeoutMs(10000);
  auto resp = req.send().wait(io_.waitScope);
  EXPECT_EQ(std::string(resp.getDevicePath().cStr()), "/dev/vdb");
  // Present already: answered at once, also with a zero timeout.
  auto again = agent_.waitBlockDeviceRequest();
  again.setSerial("rootfs");
  again.setTimeoutMs(0);
  EXPECT_EQ(std::string(again.send().wait(io_.waitScope).getDevicePath().cStr()), "/dev/vda");
}

TEST_F(AgentServerTest, WaitBlockDeviceTimesOutAndRefusesBadSerials) {
  fakeDisk("vda", "rootfs");
  auto expectError = [&](const std::string& serial, uint32_t timeoutMs, const char* needle) {
    auto req = agent_.waitBlockDeviceRequest();
    req.setSerial(serial);
    req.setTimeoutMs(timeoutMs);
    try {
      req.send().wait(io_.waitScope);
      ADD_FAILURE() << serial << ": succeeded";
    } catch (const kj::Exception& e) {
      std::string d = e.getDescription().cStr();
      EXPECT_NE(d.find(needle), std::string::npos) << d;
    }
  };
  auto t0 = std::chrono::steady_clock::now();
  expectError("nosuchdisk", 200, "no virtio-blk disk with serial \"nosuchdisk\" appeared within 200 ms");
  // It waited (kj's timer counts from the event loop's cached time, hence the margin).
  EXPECT_GE(std::chrono::steady_clock::now() - t0, std::chrono::milliseconds(150));
  expectError("", 0, "serial is empty");
  expectError("a/b", 0, "characters other than");
  expectError("123456789012345678901", 0, "limit is 20");
  expectError("rootfs", kMaxBlockWaitMs + 1, "exceeds the limit");
}

TEST_F(AgentServerTest, MetricsAreExpositionTextOfThisProcess) {
  auto text = std::string(agent_.metricsRequest().send().wait(io_.waitScope).getText().cStr());
  EXPECT_NE(text.find("# TYPE kata_agent_resident_memory_bytes gauge\n"), std::string::npos) << text;
  EXPECT_NE(text.find("kata_agent_info{version=\"9.9.9\",commit=\"abc123\",kernel=\"6.1.0-test\",protocol=\"" +
                      std::to_string(ipc::agent::PROTOCOL_VERSION) + "\"} 1\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("kata_agent_modules_loading 1\n"), std::string::npos);
  EXPECT_NE(text.find("kata_agent_containers{status=\"running\"} 0\n"), std::string::npos);
}

}  // namespace
}  // namespace kata::agent
