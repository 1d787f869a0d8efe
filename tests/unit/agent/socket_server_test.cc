// The agent's socket listener (vsock in the guest): the accept/serve loop over a unix socket (the
// same code, any stream family), and AF_VSOCK listening on this host's kernel. This host has no
// vsock transport that routes a connection back to itself (no vsock_loopback, no vhost-vsock), so
// an AF_VSOCK connection end to end is not tested here (docs/guest.md says so).
#include "agent/socket_server.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <linux/vm_sockets.h>
#include <sys/un.h>
#include <unistd.h>

#include <capnp/rpc-twoparty.h>
#include <kj/async-io.h>

#include "agent/agent_server.h"
#include "agent/container_manager.h"
#include "agent/reaper.h"
#include "common/error.h"
#include "common/fs.h"

namespace kata::agent {
namespace {

class NoPowerOff final : public AgentHost {
 public:
  void requestPowerOff() override {}
};

class SocketServerTest : public ::testing::Test {
 protected:
  ~SocketServerTest() noexcept override {}
  void SetUp() override {
    path_ = ::testing::TempDir() + "/agent-socket-test-" + std::to_string(::getpid()) + ".sock";
    (void)::unlink(path_.c_str());
    UniqueFd fd(KATA_SYSCALL(::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0), "socket"));
    struct sockaddr_un addr {};
    addr.sun_family = AF_UNIX;
    std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", path_.c_str());
    KATA_SYSCALL(::bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr), "bind");
    KATA_SYSCALL(::listen(fd.get(), 8), "listen");
    boot_.identity = {"9.9.9", "abc", "feed", "6.1.0-test"};
    server_ = kj::heap<SocketServer>(
        *io_.lowLevelProvider, io_.provider->getTimer(), std::move(fd),
        [this]() -> capnp::Capability::Client { return kj::heap<AgentServer>(boot_, host_, containers_); }, log_, 2);
    serving_ = server_->run().eagerlyEvaluate(nullptr);
  }
  void TearDown() override { (void)::unlink(path_.c_str()); }

  struct Client {
    kj::Own<kj::AsyncIoStream> stream;
    kj::Own<capnp::TwoPartyClient> rpc;
    ipc::agent::Agent::Client agent = nullptr;
  };
  Client connect() {
    Client c;
    auto addr = io_.provider->getNetwork().parseAddress(std::string("unix:" + path_).c_str()).wait(io_.waitScope);
    c.stream = addr->connect().wait(io_.waitScope);
    c.rpc = kj::heap<capnp::TwoPartyClient>(*c.stream);
    c.agent = c.rpc->bootstrap().castAs<ipc::agent::Agent>();
    return c;
  }
  std::string ping(Client& c, const char* text) {
    auto req = c.agent.pingRequest();
    req.setPayload(kj::StringPtr(text).asBytes());
    auto timed = io_.provider->getTimer().timeoutAfter(10 * kj::SECONDS, req.send());
    return kj::str(timed.wait(io_.waitScope).getPayload().asChars()).cStr();
  }

  bool captured_ = (Reaper::captureSigchld(), true);
  kj::AsyncIoContext io_ = kj::setupAsyncIo();
  std::string path_;
  ConsoleLog log_{-1};
  AgentBootInfo boot_;
  NoPowerOff host_;
  Reaper reaper_{io_.unixEventPort, log_};
  ContainerManager containers_{*io_.lowLevelProvider, io_.provider->getTimer(), reaper_, boot_.modules,
                               makeProcessLauncher(), log_};
  kj::Own<SocketServer> server_;
  kj::Promise<void> serving_ = nullptr;
};

TEST_F(SocketServerTest, ServesSessionsSideBySideAndRefusesBeyondTheLimit) {
  Client a = connect(), b = connect();
  EXPECT_EQ(ping(a, "a"), "a");
  EXPECT_EQ(ping(b, "b"), "b");  // a is still connected: sessions do not wait for each other
  EXPECT_EQ(server_->active(), 2u);
  Client c = connect();  // the limit is 2: closed at once
  EXPECT_THROW(ping(c, "c"), kj::Exception);
  EXPECT_EQ(server_->refused(), 1u);
  // A session that ends frees its place; the server goes on accepting.
  a = Client{};
  for (int i = 0; i < 200 && server_->active() != 1; ++i)
    io_.provider->getTimer().afterDelay(5 * kj::MILLISECONDS).wait(io_.waitScope);
  EXPECT_EQ(server_->active(), 1u);
  Client d = connect();
  EXPECT_EQ(ping(d, "d"), "d");
  EXPECT_EQ(ping(b, "b2"), "b2");
  EXPECT_EQ(server_->sessions(), 3u);
  EXPECT_FALSE(serving_.poll(io_.waitScope));
}

TEST_F(SocketServerTest, GarbageEndsOnlyThatSession) {
  Client good = connect();
  Client bad = connect();
  const char garbage[] = "\xff\xff\xff\x7f\x00\x00\x00\x00garbage";
  bad.stream->write(garbage, sizeof garbage).wait(io_.waitScope);
  EXPECT_THROW(ping(bad, "x"), kj::Exception);
  EXPECT_EQ(ping(good, "still"), "still");
}

TEST(VsockListenerTest, ListensOnAVsockPortOfThisKernel) {
  int probe = ::socket(AF_VSOCK, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (probe < 0) GTEST_SKIP() << "this kernel has no AF_VSOCK: " << std::strerror(errno);
  ::close(probe);
  // A port unlikely to be in use by anyone else on this machine.
  uint32_t port = 40000 + static_cast<uint32_t>(::getpid() % 20000);
  UniqueFd fd = listenVsock(port);
  struct sockaddr_vm addr {};
  socklen_t len = sizeof addr;
  ASSERT_EQ(::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&addr), &len), 0);
  EXPECT_EQ(addr.svm_family, AF_VSOCK);
  EXPECT_EQ(addr.svm_port, port);
  int accepting = 0;
  socklen_t alen = sizeof accepting;
  ASSERT_EQ(::getsockopt(fd.get(), SOL_SOCKET, SO_ACCEPTCONN, &accepting, &alen), 0);
  EXPECT_EQ(accepting, 1);
  try {
    (void)listenVsock(port);
    FAIL() << "a second listener on the same port was accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.sysErrno(), EADDRINUSE) << e.what();
    EXPECT_NE(std::string(e.what()).find("vsock port " + std::to_string(port)), std::string::npos) << e.what();
  }
  // The server takes the listening socket as it takes a unix one.
  auto io = kj::setupAsyncIo();
  ConsoleLog log(-1);
  SocketServer server(*io.lowLevelProvider, io.provider->getTimer(), std::move(fd),
                      []() -> capnp::Capability::Client { return nullptr; }, log);
  auto running = server.run();
  EXPECT_FALSE(running.poll(io.waitScope));  // waits in accept, no error
}

TEST(VsockListenerTest, PortComesFromTheKernelCommandLine) {
  EXPECT_EQ(vsockPortFromCmdline("console=ttyS0 quiet"), kDefaultVsockPort);
  EXPECT_EQ(vsockPortFromCmdline("kata.agent_vsock_port=2048 quiet"), 2048u);
  EXPECT_EQ(vsockPortFromCmdline("kata.agent_vsock_port=0"), 0u);
  EXPECT_THROW(vsockPortFromCmdline("kata.agent_vsock_port=abc"), Error);
  EXPECT_THROW(vsockPortFromCmdline("kata.agent_vsock_port=4294967295"), Error);
  EXPECT_THROW(vsockPortFromCmdline("kata.agent_vsock_port=99999999999"), Error);
}

TEST(VsockListenerTest, FindsTheVirtioVsockDeviceInSysfs) {
  std::string sys = ::testing::TempDir() + "/agent-vsock-sys-" + std::to_string(::getpid());
  EXPECT_FALSE(hasVirtioVsockDevice(sys));
  for (const auto& [dev, id] : {std::pair{"virtio0", "0x0003\n"}, std::pair{"virtio1", "0x0002\n"}}) {
    makeDirs(sys + "/bus/virtio/devices/" + dev, 0755);
    writeFileAtomic(openDir(sys + "/bus/virtio/devices/" + dev).get(), "device", id, 0644);
  }
  EXPECT_FALSE(hasVirtioVsockDevice(sys));  // console and block only
  makeDirs(sys + "/bus/virtio/devices/virtio2", 0755);
  writeFileAtomic(openDir(sys + "/bus/virtio/devices/virtio2").get(), "device", "0x0013\n", 0644);
  EXPECT_TRUE(hasVirtioVsockDevice(sys));
  removeTree(AT_FDCWD, sys);
}

}  // namespace
}  // namespace kata::agent
