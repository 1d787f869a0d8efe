// The Sandbox API's own logic (records, shares, rollback, stdio, the agent calls it makes) with a
// test VmFactory (tests/support/test_vm.h), a test agent on its own thread
// (tests/support/test_agent.h), a filesystem metadata store and a fake guest image in a temporary
// directory. In-process mode (no monitor), as a CRI shim uses it; the monitor mode runs in the cli
// tier, where kata-ctl's __monitor is built.
#include "runtime/sandbox/sandbox.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include "common/error.h"
#include "runtime/store/fs_store.h"
#include "tests/support/run_support.h"
#include "tests/support/test_agent.h"
#include "tests/support/test_vm.h"

namespace kata::sandbox {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using nlohmann::json;

constexpr const char* kBuildId = "0123456789abcdef0123456789abcdef01234567";  // the test agent's default

template <typename F>
Error errorOf(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    return e;
  }
  ADD_FAILURE() << "no error was thrown";
  return Error(ErrorKind::kInternal, "<none>");
}

bool has(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

class SandboxTest : public ::testing::Test {
 protected:
  ~SandboxTest() noexcept override {}
  void SetUp() override {
    fs::create_directories(imageDir());
    test::writeGuestImage(imageDir(), kBuildId);
    fs::create_directories(bundle() + "/rootfs");
    fs::create_directories(bundle() + "/data");
    std::ofstream(bundle() + "/app.conf") << "k=v\n";
  }

  std::string imageDir() const { return tmp_.path() + "/guest"; }
  std::string bundle() const { return tmp_.path() + "/bundle"; }
  std::string runRoot() const { return tmp_.path() + "/run"; }

  SandboxConfig config(const std::string& id) {
    SandboxConfig c;
    c.id = id;
    c.vcpus = 2;
    c.memoryMiB = 256;
    c.guestImageDir = imageDir();
    c.kernelParams = "loglevel=3";
    c.dns = {"10.0.0.2", "10.0.0.3"};
    c.agentTimeout = 5s;
    return c;
  }
  json spec() const {
    return json{{"ociVersion", "1.0.2"},
                {"process", {{"args", {"sleep", "1000"}}, {"cwd", "/"}}},
                {"root", {{"path", "rootfs"}}},
                {"mounts",
                 {{{"destination", "/data"}, {"type", "bind"}, {"source", bundle() + "/data"}, {"options", {"rbind", "ro"}}},
                  {{"destination", "/etc/app.conf"}, {"type", "bind"}, {"source", "app.conf"}}}},
                {"linux", {{"cgroupsPath", "/kata/c1"}}}};
  }
  ContainerConfig container(const std::string& id, ProcessIo io = {}) { return ContainerConfig{id, spec(), bundle(), io}; }

  std::optional<json> record(const std::string& key) {
    auto t = store_.load(key);
    if (!t) return std::nullopt;
    return json::parse(*t);
  }
  // Runs the loop until pred holds (bounded).
  bool until(const std::function<bool()>& pred, std::chrono::milliseconds timeout = 5s) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!pred()) {
      if (std::chrono::steady_clock::now() > deadline) return false;
      loop_.wait(loop_.timer().afterDelay(5 * kj::MILLISECONDS), 1s, "a tick");
    }
    return true;
  }
  std::vector<std::string> calls() {
    return agent_.with([](test::TestAgentState& s) { return s.calls; });
  }
  bool called(const std::string& call) {
    auto c = calls();
    return std::find(c.begin(), c.end(), call) != c.end();
  }
  test::TestContainerRecord guestContainer(const std::string& id) {
    return agent_.with([&](test::TestAgentState& s) { return s.containers.at(id); });
  }
  static std::string readAvailable(int fd) {
    int fl = ::fcntl(fd, F_GETFL);
    ::fcntl(fd, F_SETFL, fl | O_NONBLOCK);
    std::string out;
    char buf[4096];
    for (ssize_t n; (n = ::read(fd, buf, sizeof buf)) > 0;) out.append(buf, static_cast<size_t>(n));
    ::fcntl(fd, F_SETFL, fl);
    return out;
  }

  test::TempDir tmp_;
  test::TestAgent agent_;
  test::TestVmFactory factory_{agent_};
  EventLoop loop_;
  store::FsMetadataStore store_{tmp_.path() + "/records"};
  SandboxEnv env_{loop_, factory_, store_, runRoot(),
                  Logger(LogOptions{tmp_.path() + "/sandbox.log", LogFormat::kText, LogLevel::kDebug, "test"})};
};

// --- creating and opening

TEST_F(SandboxTest, CreateWritesTheRecordAndRefusesASecondWithTheSameId) {
  auto sb = createSandbox(env_, config("sb1"));
  EXPECT_EQ(sb->id(), "sb1");
  EXPECT_TRUE(Sandbox::exists(env_, "sb1"));
  auto r = record("sb1/sandbox.json");
  ASSERT_TRUE(r);
  EXPECT_EQ((*r)["id"], "sb1");
  EXPECT_EQ((*r)["monitor"], false);
  EXPECT_EQ((*r)["agentBuildId"], kBuildId);
  EXPECT_EQ((*r)["hostname"], "sb1");
  EXPECT_EQ((*r)["dns"], json({"10.0.0.2", "10.0.0.3"}));
  EXPECT_EQ((*r)["started"], false);
  EXPECT_TRUE(fs::is_directory(runRoot() + "/sb1"));
  // What the factory was asked for.
  auto& vm = factory_.vm("sb1");
  EXPECT_EQ(vm.request.sandboxId, "sb1");
  EXPECT_EQ(vm.request.vcpus, 2u);
  EXPECT_EQ(vm.request.memoryMiB, 256u);
  EXPECT_EQ(vm.request.kernelParams, "loglevel=3");
  EXPECT_EQ(vm.imageKernel, imageDir() + "/vmlinux");

  Error e = errorOf([&] { createSandbox(env_, config("sb1")); });
  EXPECT_EQ(e.kind(), ErrorKind::kAlreadyExists);
  EXPECT_STREQ(e.what(), "sandbox with given ID already exists: sb1");
  EXPECT_EQ(factory_.creates, 1);
  EXPECT_TRUE(Sandbox::exists(env_, "sb1"));
}

TEST_F(SandboxTest, RefusesABadIdAndAMissingImageBeforeAskingForAVm) {
  EXPECT_EQ(errorOf([&] { createSandbox(env_, config("../escape")); }).kind(), ErrorKind::kInvalidArgument);
  auto c = config("sb1");
  c.guestImageDir = tmp_.path() + "/no-image";
  EXPECT_EQ(errorOf([&] { createSandbox(env_, c); }).kind(), ErrorKind::kNotFound);
  // A kernel that is not the manifest's, when the hashes are checked.
  c = config("sb1");
  c.verifyImageHashes = true;
  std::ofstream(imageDir() + "/vmlinux", std::ios::trunc) << "not a kernEL\n";
  Error e = errorOf([&] { createSandbox(env_, c); });
  EXPECT_EQ(e.kind(), ErrorKind::kInvalidArgument);
  EXPECT_TRUE(has(e.what(), "has SHA-256")) << e.what();
  EXPECT_EQ(factory_.creates, 0);
  EXPECT_FALSE(Sandbox::exists(env_, "sb1"));
}

TEST_F(SandboxTest, AFactoryFailureLeavesNothingBehind) {
  factory_.createError = "uid 1000 may not create more sandboxes";
  Error e = errorOf([&] { createSandbox(env_, config("sb1")); });
  EXPECT_EQ(e.kind(), ErrorKind::kPermissionDenied);
  EXPECT_STREQ(e.what(), "uid 1000 may not create more sandboxes");
  EXPECT_FALSE(Sandbox::exists(env_, "sb1"));
  EXPECT_FALSE(fs::exists(runRoot() + "/sb1"));
  EXPECT_TRUE(has(test::readWhole(tmp_.path() + "/sandbox.log"), "creating the sandbox failed, rolling back"));
}

TEST_F(SandboxTest, AMonitorThatFailsToStartIsRolledBack) {
  auto c = config("sb1");
  // The library appends its flags ($1...); this monitor reports an error on its readiness pipe.
  c.monitor = MonitorCommand{{"/bin/sh", "-c", "echo 'error: no agent here' >&4; exit 1", "monitor"}};
  Error e = errorOf([&] { createSandbox(env_, c); });
  EXPECT_EQ(e.kind(), ErrorKind::kFailedPrecondition);
  EXPECT_TRUE(has(e.what(), "the sandbox monitor failed to start: error: no agent here")) << e.what();
  ASSERT_TRUE(factory_.hasVm("sb1"));
  EXPECT_TRUE(factory_.vm("sb1").destroyed);
  EXPECT_FALSE(Sandbox::exists(env_, "sb1"));
  EXPECT_FALSE(fs::exists(runRoot() + "/sb1"));
}

TEST_F(SandboxTest, TheMonitorGetsItsArgumentsAndTheAgentChannel) {
  auto c = config("sb1");
  const std::string argsFile = tmp_.path() + "/monitor-args";
  // Writes its arguments, proves fd 3 is a connected socket (the agent channel), reports an error.
  c.monitor = MonitorCommand{{"/bin/sh", "-c",
                              "echo \"$@\" > " + argsFile + "; readlink /proc/$$/fd/3 >> " + argsFile +
                                  "; echo 'error: test' >&4",
                              "monitor"}};
  errorOf([&] { createSandbox(env_, c); });
  std::string got = test::readWhole(argsFile);
  EXPECT_TRUE(has(got, "--sandbox sb1 --run-dir " + runRoot() + "/sb1 --agent-fd 3 --ready-fd 4 --agent-timeout-ms 5000"))
      << got;
  EXPECT_TRUE(has(got, "socket:[")) << got;
}

TEST_F(SandboxTest, OpeningAMissingSandboxIsNotFound) {
  Error e = errorOf([&] { Sandbox::open(env_, "ghost"); });
  EXPECT_EQ(e.kind(), ErrorKind::kNotFound);
  EXPECT_STREQ(e.what(), "sandbox ghost does not exist");
  EXPECT_FALSE(Sandbox::exists(env_, "ghost"));
  store_.save("bad/sandbox.json", "{ not json");
  EXPECT_EQ(errorOf([&] { Sandbox::open(env_, "bad"); }).kind(), ErrorKind::kInvalidArgument);
}

TEST_F(SandboxTest, AnInProcessSandboxIsServedOnlyByItsCreator) {
  auto sb = createSandbox(env_, config("sb1"));
  auto other = Sandbox::open(env_, "sb1");
  Error e = errorOf([&] { other->agent(); });
  EXPECT_EQ(e.kind(), ErrorKind::kFailedPrecondition);
  EXPECT_TRUE(has(e.what(), "is served in the process that created it")) << e.what();
  // Its VM is reachable through the factory all the same.
  EXPECT_EQ(other->status().vm.state, "running");
  EXPECT_EQ(factory_.opens, 1);
}

// --- start

TEST_F(SandboxTest, StartPreparesTheGuest) {
  auto c = config("sb1");
  c.hostname = "pod-host";
  auto sb = createSandbox(env_, c);
  sb->start();
  agent_.with([](test::TestAgentState& s) {
    EXPECT_EQ(s.sandboxId, "sb1");
    EXPECT_EQ(s.hostname, "pod-host");
    EXPECT_EQ(s.dns, (std::vector<std::string>{"10.0.0.2", "10.0.0.3"}));
    EXPECT_EQ(s.sharedMounts, (std::vector<std::string>{"kataShared"}));
  });
  EXPECT_EQ((*record("sb1/sandbox.json"))["started"], true);
}

TEST_F(SandboxTest, StartRefusesAnAgentThatIsNotTheImages) {
  auto sb = createSandbox(env_, config("sb1"));
  agent_.with([](test::TestAgentState& s) { s.buildId = "ffff"; });
  Error e = errorOf([&] { sb->start(); });
  EXPECT_EQ(e.kind(), ErrorKind::kFailedPrecondition);
  EXPECT_TRUE(has(e.what(), std::string("the guest agent's build id ffff is not the one in the image's manifest (") +
                                kBuildId + ")"))
      << e.what();
  EXPECT_FALSE(called("Agent.createSandbox"));

  agent_.with([](test::TestAgentState& s) {
    s.buildId = kBuildId;
    s.protocol = 1;
  });
  e = errorOf([&] { sb->start(); });
  EXPECT_EQ(e.kind(), ErrorKind::kFailedPrecondition);
  EXPECT_TRUE(has(e.what(), "the guest agent speaks protocol 1, this runtime needs 2 or later")) << e.what();
  EXPECT_FALSE(called("Agent.createSandbox"));
  EXPECT_EQ((*record("sb1/sandbox.json"))["started"], false);
}

// --- containers

TEST_F(SandboxTest, CreateContainerSharesItsFilesAndRecordsThem) {
  auto sb = createSandbox(env_, config("sb1"));
  sb->start();
  ContainerStatusInfo info = sb->createContainer(container("c1"));
  EXPECT_EQ(info.id, "c1");
  EXPECT_EQ(info.status, ContainerStatus::kCreated);
  EXPECT_EQ(info.guestPid, guestContainer("c1").initPid);

  auto& vm = factory_.vm("sb1");
  ASSERT_EQ(vm.shares.size(), 3u);
  const std::vector<std::pair<std::string, std::string>> want = {
      {"c1", bundle() + "/rootfs"}, {"c2", bundle() + "/data"}, {"c3", bundle() + "/app.conf"}};
  for (size_t i = 0; i < want.size(); ++i) {
    EXPECT_EQ(vm.shares[i].name, want[i].first);
    EXPECT_EQ(vm.shares[i].path, want[i].second);
    struct stat st {};
    ASSERT_EQ(::stat(want[i].second.c_str(), &st), 0);
    EXPECT_EQ(vm.shares[i].ino, st.st_ino) << want[i].second;
  }
  EXPECT_FALSE(vm.shares[0].readOnly);
  EXPECT_TRUE(vm.shares[1].readOnly);
  EXPECT_FALSE(vm.shares[2].dir);

  auto g = guestContainer("c1");
  EXPECT_EQ(g.rootfsShare, "kataShared");
  EXPECT_EQ(g.rootfsPath, "c1");
  EXPECT_EQ(g.spec["mounts"][0]["source"], "/run/kata/shared/kataShared/c2");
  EXPECT_EQ(g.spec["mounts"][1]["source"], "/run/kata/shared/kataShared/c3");
  EXPECT_FALSE(g.spec["linux"].contains("cgroupsPath"));
  EXPECT_FALSE(g.hadStdout) << "output with no host descriptor is discarded by the agent";

  auto r = record("sb1/containers/c1.json");
  ASSERT_TRUE(r);
  EXPECT_EQ((*r)["shares"], json({"c1", "c2", "c3"}));
  EXPECT_EQ(sb->containerIds(), std::vector<std::string>{"c1"});
  // The mount points exist in the root now.
  EXPECT_TRUE(fs::is_directory(bundle() + "/rootfs/data"));
  EXPECT_TRUE(fs::is_regular_file(bundle() + "/rootfs/etc/app.conf"));

  Error e = errorOf([&] { sb->createContainer(container("c1")); });
  EXPECT_EQ(e.kind(), ErrorKind::kAlreadyExists);
  EXPECT_STREQ(e.what(), "container c1 already exists in sandbox sb1");
  EXPECT_EQ(vm.shares.size(), 3u);
}

TEST_F(SandboxTest, AFailedCreateContainerIsRolledBack) {
  auto sb = createSandbox(env_, config("sb1"));
  sb->start();
  agent_.with([](test::TestAgentState& s) { s.createContainerError = "invalid-argument: mount /data: no such device"; });
  Error e = errorOf([&] { sb->createContainer(container("c1")); });
  EXPECT_EQ(e.kind(), ErrorKind::kInvalidArgument);
  EXPECT_STREQ(e.what(), "sandbox sb1: creating container c1: mount /data: no such device");
  auto& vm = factory_.vm("sb1");
  EXPECT_TRUE(vm.shares.empty());
  EXPECT_EQ(vm.log, (std::vector<std::string>{"share c1", "share c2 ro", "share c3", "unshare c3", "unshare c2",
                                              "unshare c1"}));
  EXPECT_FALSE(record("sb1/containers/c1.json"));
  EXPECT_TRUE(sb->containerIds().empty());

  // Share names are never reused, even those of a failed attempt.
  agent_.with([](test::TestAgentState& s) { s.createContainerError.clear(); });
  sb->createContainer(container("c1"));
  EXPECT_EQ((*record("sb1/containers/c1.json"))["shares"], json({"c4", "c5", "c6"}));
  // The counter lives in the record, so another process opening the sandbox continues it.
  EXPECT_EQ((*record("sb1/sandbox.json"))["nextShare"], 7);
}

TEST_F(SandboxTest, AnUnshareableMountFailsBeforeAnythingIsShared) {
  auto sb = createSandbox(env_, config("sb1"));
  ::mkfifo((bundle() + "/fifo").c_str(), 0600);
  json s = spec();
  s["mounts"].push_back({{"destination", "/fifo"}, {"type", "bind"}, {"source", "fifo"}});
  Error e = errorOf([&] { sb->createContainer(ContainerConfig{"c1", s, bundle(), {}}); });
  EXPECT_EQ(e.kind(), ErrorKind::kNotSupported);
  EXPECT_TRUE(factory_.vm("sb1").log.empty());
  EXPECT_FALSE(called("Agent.createContainer c1"));
}

TEST_F(SandboxTest, DeleteContainerUnsharesAndForgetsIt) {
  auto sb = createSandbox(env_, config("sb1"));
  sb->createContainer(container("c1"));
  sb->deleteContainer("c1");
  EXPECT_EQ(agent_.with([](test::TestAgentState& s) { return s.removed; }), std::vector<std::string>{"c1"});
  EXPECT_TRUE(factory_.vm("sb1").shares.empty());
  EXPECT_FALSE(record("sb1/containers/c1.json"));
  Error e = errorOf([&] { sb->deleteContainer("c1"); });
  EXPECT_EQ(e.kind(), ErrorKind::kNotFound);
  EXPECT_STREQ(e.what(), "container c1 does not exist in sandbox sb1");
}

TEST_F(SandboxTest, DeleteContainerCleansTheHostWhenTheGuestNoLongerHasIt) {
  auto sb = createSandbox(env_, config("sb1"));
  sb->createContainer(container("c1"));
  agent_.with([](test::TestAgentState& s) { s.removeError = "not-found: container c1 does not exist"; });
  sb->deleteContainer("c1", true);
  EXPECT_TRUE(factory_.vm("sb1").shares.empty());
  EXPECT_FALSE(record("sb1/containers/c1.json"));

  // Any other refusal of the guest keeps the container.
  agent_.with([](test::TestAgentState& s) { s.removeError.clear(); });
  sb->createContainer(container("c2"));
  agent_.with([](test::TestAgentState& s) { s.removeError = "permission-denied: not today"; });
  EXPECT_EQ(errorOf([&] { sb->deleteContainer("c2"); }).kind(), ErrorKind::kPermissionDenied);
  EXPECT_TRUE(record("sb1/containers/c2.json"));
  EXPECT_EQ(factory_.vm("sb1").shares.size(), 3u);
}

TEST_F(SandboxTest, DeleteIfUnusedDeletesOnlyAnEmptySandbox) {
  auto sb = createSandbox(env_, config("sb1"));
  sb->start();
  sb->createContainer(container("c1"));
  EXPECT_FALSE(sb->deleteIfUnused());
  EXPECT_TRUE(Sandbox::exists(env_, "sb1"));
  EXPECT_FALSE(factory_.vm("sb1").destroyed);
  EXPECT_EQ(agent_.with([](test::TestAgentState& s) { return s.shutdowns; }), 0);

  sb->deleteContainer("c1");
  EXPECT_TRUE(sb->deleteIfUnused());
  EXPECT_FALSE(Sandbox::exists(env_, "sb1"));
  EXPECT_TRUE(factory_.vm("sb1").destroyed);
  EXPECT_EQ(agent_.with([](test::TestAgentState& s) { return s.shutdowns; }), 1) << "the guest was not powered off";
  EXPECT_FALSE(fs::exists(runRoot() + "/sb1"));
  EXPECT_FALSE(sb->deleteIfUnused()) << "deleted twice";
}

TEST_F(SandboxTest, DeleteSandboxRemovesItsContainersFirst) {
  auto sb = createSandbox(env_, config("sb1"));
  sb->start();
  sb->createContainer(container("c1"));
  sb->createContainer(container("c2"));
  sb->deleteSandbox();
  auto removed = agent_.with([](test::TestAgentState& s) { return s.removed; });
  EXPECT_EQ(removed, (std::vector<std::string>{"c1 force", "c2 force"}));
  EXPECT_TRUE(factory_.vm("sb1").destroyed);
  EXPECT_TRUE(factory_.vm("sb1").shares.empty());
  EXPECT_TRUE(store_.list("sb1/").empty());
  EXPECT_FALSE(Sandbox::exists(env_, "sb1"));
}

// --- processes and their stdio

TEST_F(SandboxTest, LibraryPipesCarryTheInitsStdio) {
  agent_.with([](test::TestAgentState& s) { s.init = {"hello\n", "oops\n", 3, false, false}; });
  auto sb = createSandbox(env_, config("sb1"));
  sb->start();
  ProcessIo io;
  io.pipes = true;
  sb->createContainer(container("c1", io));
  IoStreams streams = sb->ioStream("c1", "");
  ASSERT_TRUE(streams.stdoutRead && streams.stderrRead && streams.stdinWrite);
  EXPECT_EQ(errorOf([&] { sb->ioStream("c1", ""); }).kind(), ErrorKind::kNotFound) << "handed out twice";

  ASSERT_EQ(::write(streams.stdinWrite.get(), "typed", 5), 5);
  streams.stdinWrite.reset();
  ASSERT_TRUE(until([&] { return guestContainer("c1").processes[""].stdinEnded; }));
  EXPECT_EQ(guestContainer("c1").processes[""].stdinData, "typed");

  sb->startContainer("c1");
  ExitStatus st = sb->waitProcess("c1", "");
  EXPECT_EQ(st.code, 3);
  EXPECT_FALSE(st.signal);
  EXPECT_EQ(readAvailable(streams.stdoutRead.get()), "hello\n");
  EXPECT_EQ(readAvailable(streams.stderrRead.get()), "oops\n");
  EXPECT_EQ(sb->statusContainer("c1").status, ContainerStatus::kStopped);
  EXPECT_EQ(errorOf([&] { sb->startContainer("c1"); }).kind(), ErrorKind::kFailedPrecondition);
}

TEST_F(SandboxTest, EnterContainerRelaysIntoHostDescriptors) {
  agent_.with([](test::TestAgentState& s) {
    s.init.runs = true;
    s.exec = {"listing\n", "", 0, false, false};
  });
  auto sb = createSandbox(env_, config("sb1"));
  sb->start();
  sb->createContainer(container("c1"));
  sb->startContainer("c1");
  EXPECT_EQ(sb->statusContainer("c1").status, ContainerStatus::kRunning);

  const std::string outPath = tmp_.path() + "/exec.out";
  UniqueFd out(::open(outPath.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
  ProcessIo io;
  io.host = HostStdio{-1, out.get(), -1};
  EXPECT_EQ(sb->enterContainer("c1", "e1", json{{"args", {"ls", "/"}}, {"cwd", "/"}}, io), "e1");
  EXPECT_EQ(sb->waitProcess("c1", "e1").code, 0);
  EXPECT_EQ(test::readWhole(outPath), "listing\n");
  auto g = guestContainer("c1");
  EXPECT_EQ(g.processes["e1"].spec["args"], json({"ls", "/"}));
  EXPECT_TRUE(g.processes["e1"].stdinEnded) << "no stdin: closed at once";

  Error e = errorOf([&] { sb->enterContainer("c1", "e1", json{{"args", {"true"}}}, io); });
  EXPECT_EQ(e.kind(), ErrorKind::kAlreadyExists);

  // A refused exec leaves no trace: the same id may be used again.
  agent_.with([](test::TestAgentState& s) { s.execError = "invalid-argument: process.args must not be empty"; });
  e = errorOf([&] { sb->enterContainer("c1", "e2", json{{"args", json::array()}}, io); });
  EXPECT_EQ(e.kind(), ErrorKind::kInvalidArgument);
  EXPECT_TRUE(has(e.what(), "process.args must not be empty")) << e.what();
  agent_.with([](test::TestAgentState& s) { s.execError.clear(); });
  EXPECT_EQ(sb->enterContainer("c1", "e2", json{{"args", {"true"}}}, io), "e2");
}

TEST_F(SandboxTest, ATerminalIsOneDescriptorForBothDirections) {
  agent_.with([](test::TestAgentState& s) {
    s.init.runs = true;
    s.exec = {"prompt$ ", "", 0, true, false};
  });
  // Borrowed by the relay: open for as long as the sandbox object lives.
  int sv[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
  UniqueFd ours(sv[0]), term(sv[1]);
  auto sb = createSandbox(env_, config("sb1"));
  sb->createContainer(container("c1"));
  sb->startContainer("c1");
  ProcessIo io;
  io.host = HostStdio{term.get(), term.get(), -1};
  sb->enterContainer("c1", "t1", json{{"args", {"sh"}}, {"terminal", true}}, io);
  ASSERT_EQ(::write(ours.get(), "ls\n", 3), 3);
  ASSERT_TRUE(until([&] { return guestContainer("c1").processes["t1"].stdinData == "ls\n"; }));
  std::string shown;
  ASSERT_TRUE(until([&] {
    shown += readAvailable(ours.get());
    return shown == "prompt$ ";
  })) << shown;
  sb->winsizeProcess("c1", "t1", 50, 70000);  // beyond 16 bits: the largest size the guest takes
  EXPECT_EQ(guestContainer("c1").processes["t1"].resizes,
            (std::vector<std::pair<unsigned, unsigned>>{{50, 65535}}));
  sb->signalProcess("c1", "t1", SIGTERM);
  EXPECT_EQ(sb->waitProcess("c1", "t1").code, 128 + SIGTERM);
}

TEST_F(SandboxTest, StopContainerEscalatesToSigkillAfterTheGracePeriod) {
  agent_.with([](test::TestAgentState& s) { s.init.runs = true; });
  auto sb = createSandbox(env_, config("sb1"));
  sb->createContainer(container("c1"));
  sb->startContainer("c1");
  sb->stopContainer("c1", false, 2s);
  EXPECT_EQ(guestContainer("c1").signals, (std::vector<std::pair<int, bool>>{{SIGTERM, false}}));
  EXPECT_EQ(sb->statusContainer("c1").status, ContainerStatus::kStopped);
  sb->stopContainer("c1", false, 2s);  // stopped already: nothing is sent
  EXPECT_EQ(guestContainer("c1").signals.size(), 1u);

  agent_.with([](test::TestAgentState& s) { s.init.ignoresSigterm = true; });
  sb->createContainer(container("c2"));
  sb->startContainer("c2");
  sb->pauseContainer("c2");
  auto start = std::chrono::steady_clock::now();
  sb->stopContainer("c2", false, 300ms);
  EXPECT_GE(std::chrono::steady_clock::now() - start, 250ms);
  EXPECT_EQ(guestContainer("c2").signals, (std::vector<std::pair<int, bool>>{{SIGTERM, false}, {SIGKILL, true}}));
  EXPECT_TRUE(called("Container.resume c2")) << "a paused container cannot take a signal";
  EXPECT_EQ(sb->waitProcess("c2", "").signal, SIGKILL);

  sb->createContainer(container("c3"));
  sb->startContainer("c3");
  sb->stopContainer("c3", true);
  EXPECT_EQ(guestContainer("c3").signals, (std::vector<std::pair<int, bool>>{{SIGKILL, false}}));
}

TEST_F(SandboxTest, ContainerCallsReachTheGuestAndTheirAnswersComeBack) {
  agent_.with([](test::TestAgentState& s) { s.init.runs = true; });
  auto sb = createSandbox(env_, config("sb1"));
  sb->createContainer(container("c1"));
  sb->startContainer("c1");
  int pid = guestContainer("c1").initPid;
  EXPECT_EQ(sb->pidsContainer("c1"), (std::vector<int>{pid, pid + 1}));
  ContainerStats cs = sb->statsContainer("c1");
  EXPECT_EQ(cs.cpuUsageNs, 1500u);
  EXPECT_EQ(cs.memoryUsageBytes, 4096u);
  EXPECT_EQ(cs.memoryLimitBytes, 1u << 20);
  EXPECT_EQ(cs.pids, 2u);
  auto procs = sb->processListContainer("c1");
  ASSERT_EQ(procs.size(), 1u);
  EXPECT_EQ(procs[0].pid, pid);
  EXPECT_EQ(procs[0].cmdline, (std::vector<std::string>{"sleep", "1000"}));
  EXPECT_EQ(procs[0].comm, "sleep");
  EXPECT_EQ(procs[0].state, "S");
  EXPECT_EQ(procs[0].tty, "?");
  EXPECT_EQ(procs[0].cpuTimeNs, 250u);

  sb->updateContainer("c1", json{{"memory", {{"limit", 1 << 28}}}});
  EXPECT_EQ(guestContainer("c1").updates, std::vector<json>{json({{"memory", {{"limit", 1 << 28}}}})});
  sb->pauseContainer("c1");
  EXPECT_EQ(sb->statusContainer("c1").status, ContainerStatus::kPaused);
  EXPECT_EQ(errorOf([&] { sb->pauseContainer("c1"); }).kind(), ErrorKind::kFailedPrecondition);
  sb->resumeContainer("c1");
  EXPECT_EQ(sb->statusContainer("c1").status, ContainerStatus::kRunning);
  sb->killContainer("c1", SIGUSR1, true);
  EXPECT_EQ(guestContainer("c1").signals, (std::vector<std::pair<int, bool>>{{SIGUSR1, true}}));

  // The calls that do not wait for their answer arrive all the same.
  sb->signalProcessAsync("c1", "", SIGHUP);
  sb->winsizeProcessAsync("c1", "", 24, 80);
  ASSERT_TRUE(until([&] { return called("Process.resizeTty c1/"); }));
  ASSERT_TRUE(until([&] { return called("Process.signal c1/ 1"); }));
  EXPECT_EQ(guestContainer("c1").processes[""].resizes, (std::vector<std::pair<unsigned, unsigned>>{{24, 80}}));
  sb->closeStdin("c1", "");
  EXPECT_TRUE(guestContainer("c1").processes[""].stdinEnded);

  // A container the guest does not know.
  Error e = errorOf([&] { sb->statusContainer("nope"); });
  EXPECT_EQ(e.kind(), ErrorKind::kNotFound);
  EXPECT_STREQ(e.what(), "sandbox sb1: reading the state of container nope: container nope does not exist");
  // An async call that fails is logged, not thrown.
  sb->signalProcessAsync("nope", "", SIGHUP);
  ASSERT_TRUE(until([&] { return has(test::readWhole(tmp_.path() + "/sandbox.log"), "sandbox call failed"); }));
}

TEST_F(SandboxTest, SandboxStatusStatsAndMetrics) {
  agent_.with([](test::TestAgentState& s) { s.init.runs = true; });
  auto sb = createSandbox(env_, config("sb1"));
  sb->createContainer(container("c1"));
  sb->startContainer("c1");
  sb->createContainer(container("c2"));
  SandboxStatusInfo st = sb->status();
  EXPECT_EQ(st.id, "sb1");
  EXPECT_EQ(st.vm.state, "running");
  EXPECT_EQ(st.vm.vcpus, 2u);
  ASSERT_EQ(st.containers.size(), 2u);
  EXPECT_EQ(st.containers[0].id, "c1");
  EXPECT_EQ(st.containers[0].status, ContainerStatus::kRunning);
  EXPECT_EQ(st.containers[1].status, ContainerStatus::kCreated);
  // A VM that is not running has no containers to ask.
  factory_.vm("sb1").state = "stopped";
  EXPECT_TRUE(sb->status().containers.empty());
  factory_.vm("sb1").state = "running";

  SandboxStats stats = sb->stats();
  EXPECT_EQ(stats.vm.memoryBaseBytes, 256u << 20);
  EXPECT_EQ(stats.containers.size(), 2u);
  EXPECT_EQ(stats.containers["c1"].pids, 2u);

  std::string m = sb->updateRuntimeMetrics();
  EXPECT_TRUE(has(m, "kata_vm_memory_base_bytes{sandbox=\"sb1\"} 268435456\n")) << m;
  EXPECT_TRUE(has(m, "kata_vm_vcpus{sandbox=\"sb1\"} 2\n")) << m;
  EXPECT_TRUE(has(m, "kata_vm_running{sandbox=\"sb1\"} 1\n")) << m;
  EXPECT_EQ(sb->getAgentMetrics(), "# TYPE kata_agent_test gauge\nkata_agent_test 1\n");
  EXPECT_EQ(containerStatusName(ContainerStatus::kPaused), "paused");
  EXPECT_EQ(containerStatusName(ContainerStatus::kCreated), "created");
}

TEST_F(SandboxTest, OomEventsNameTheContainer) {
  agent_.with([](test::TestAgentState& s) { s.init.runs = true; });
  auto sb = createSandbox(env_, config("sb1"));
  EXPECT_EQ(errorOf([&] { sb->getOOMEvent(); }).kind(), ErrorKind::kFailedPrecondition);
  sb->createContainer(container("c1"));
  sb->startContainer("c1");
  std::thread killer([&] {
    agent_.waitForCall("Container.nextOomEvent c1 0", 5s);
    agent_.oomKill("c1");
  });
  EXPECT_EQ(sb->getOOMEvent(), "c1");
  killer.join();
  EXPECT_EQ(sb->nextOomCount("c1", 0), 1u);
  // A container that stops answers with its final count.
  sb->stopContainer("c1", true);
  EXPECT_EQ(sb->nextOomCount("c1", 1), 1u);
}

// An interface as a caller names it: by its name in the pod's namespace.
Interface byName(const std::string& name) {
  Interface i;
  i.name = name;
  return i;
}

TEST_F(SandboxTest, DevicesAndNetwork) {
  auto sb = createSandbox(env_, config("sb1"));
  HotplugDevice rng;
  rng.id = "rng0";
  rng.driver = "virtio-rng-pci";
  EXPECT_EQ(sb->addDevice(rng), "");
  HotplugDevice disk;
  disk.id = "disk1";
  disk.kind = HotplugDevice::Kind::kBlock;
  EXPECT_EQ(sb->addDevice(disk), "/dev/vdb");
  EXPECT_TRUE(called("Agent.waitBlockDevice disk1"));
  // The guest never sees it: unplugged again.
  agent_.with([](test::TestAgentState& s) { s.blockDeviceError = "timeout: no block device with serial disk2"; });
  disk.id = "disk2";
  EXPECT_EQ(errorOf([&] { sb->addDevice(disk); }).kind(), ErrorKind::kTimeout);
  EXPECT_EQ(factory_.vm("sb1").log, (std::vector<std::string>{"hotplug rng0", "hotplug disk1", "hotplug disk2", "unplug disk2"}));

  auto ifs = sb->listInterfaces();
  ASSERT_EQ(ifs.size(), 2u);
  EXPECT_EQ(ifs[1].name, "eth0");
  EXPECT_EQ(ifs[1].mac, "02:00:00:00:00:01");
  EXPECT_EQ(ifs[1].mtu, 1500u);
  EXPECT_EQ(ifs[1].addresses, (std::vector<std::pair<std::string, int>>{{"10.88.0.5", 16}, {"fd00::5", 64}}));
  auto routes = sb->updateRoutes({Route{"default", "10.88.0.1", "eth0", "", 4, 0}, Route{"10.88.0.0/16", "", "eth0", "", 4, 0}});
  ASSERT_EQ(routes.size(), 2u);
  EXPECT_EQ(routes[0].gateway, "10.88.0.1");
  auto listed = sb->listRoutes();
  ASSERT_EQ(listed.size(), 2u);
  EXPECT_EQ(listed[1].destination, "10.88.0.0/16");
  // Created without a network namespace: nothing to carry an interface from.
  Error noNet = errorOf([&] { sb->addInterface(byName("eth1")); });
  EXPECT_EQ(noNet.kind(), ErrorKind::kFailedPrecondition);
  EXPECT_NE(std::string(noNet.what()).find("without a network namespace"), std::string::npos) << noNet.what();
  EXPECT_EQ(errorOf([&] { sb->removeInterface(byName("eth1")); }).kind(), ErrorKind::kNotFound);
}

// A sandbox with a pod network: start configures every carried interface in the guest (same name,
// MAC, MTU, addresses) and then all their routes at once; an interface added later is attached,
// configured and routed; removing it deconfigures the guest before kata-vmmd unplugs the NIC.
TEST_F(SandboxTest, PodNetworkIsConfiguredAtStartAndHotPlugged) {
  auto cfg = config("sbn");
  cfg.netnsPath = "/proc/self/ns/net";
  auto sb = createSandbox(env_, cfg);
  auto& vm = factory_.vm("sbn");
  EXPECT_GE(vm.request.netnsFd, 0);
  Interface eth0{"eth0", "02:00:00:00:00:01", 1500, {{"10.88.0.5", 16}, {"fd00::5", 64}},
                 {Route{"default", "10.88.0.1", "eth0", "", 4, 0}, Route{"10.88.0.0/16", "", "eth0", "", 4, 0}}, "veth"};
  Interface eth1{"eth1", "02:00:00:00:00:02", 9000, {{"192.168.7.2", 24}}, {Route{"192.168.7.0/24", "", "eth1", "", 4, 0}},
                 "veth"};
  vm.carried = {eth0};
  vm.uncarried = {eth1};
  sb->start();
  EXPECT_TRUE(called("Agent.updateInterface eth0 02:00:00:00:00:01"));
  ASSERT_EQ(sb->listRoutes().size(), 2u);

  EXPECT_EQ(errorOf([&] { sb->addInterface(byName("eth9")); }).kind(), ErrorKind::kNotFound);
  sb->addInterface(byName("eth1"));
  EXPECT_TRUE(called("Agent.updateInterface eth1 02:00:00:00:00:02"));
  auto routes = sb->listRoutes();
  ASSERT_EQ(routes.size(), 3u);
  EXPECT_EQ(routes[2].destination, "192.168.7.0/24");

  sb->removeInterface(byName("eth1"));
  EXPECT_TRUE(called("Agent.removeInterface 02:00:00:00:00:02"));
  EXPECT_EQ(vm.log, (std::vector<std::string>{"attach eth1", "detach eth1"}));
  ASSERT_EQ(vm.carried.size(), 1u);

  // A guest that cannot configure the new NIC: the attachment is undone.
  agent_.with([](test::TestAgentState& s) { s.interfaceError = "timeout: no interface with MAC 02:00:00:00:00:02"; });
  EXPECT_EQ(errorOf([&] { sb->addInterface(byName("eth1")); }).kind(), ErrorKind::kTimeout);
  EXPECT_EQ(vm.log, (std::vector<std::string>{"attach eth1", "detach eth1", "attach eth1", "detach eth1"}));
  EXPECT_EQ(vm.carried.size(), 1u);
  sb->deleteSandbox();
}

TEST_F(SandboxTest, StopEndsTheContainersAndPowersTheGuestOff) {
  agent_.with([](test::TestAgentState& s) { s.init.runs = true; });
  auto sb = createSandbox(env_, config("sb1"));
  sb->createContainer(container("c1"));
  sb->startContainer("c1");
  bool ended = false;
  std::string why;
  auto watching = sb->monitor().then([&](std::string r) {
    ended = true;
    why = r;
  }).eagerlyEvaluate(nullptr);
  sb->stop(false, 2s);
  EXPECT_EQ(guestContainer("c1").signals, (std::vector<std::pair<int, bool>>{{SIGTERM, false}}));
  EXPECT_EQ(agent_.with([](test::TestAgentState& s) { return s.shutdowns; }), 1);
  ASSERT_TRUE(until([&] { return ended; }));
  EXPECT_EQ(why, "the connection to the sandbox's agent ended");
  EXPECT_TRUE(Sandbox::exists(env_, "sb1")) << "stop keeps the records";
  // The guest is gone; delete still removes what the host has.
  sb->deleteSandbox();
  EXPECT_TRUE(factory_.vm("sb1").destroyed);
  EXPECT_FALSE(Sandbox::exists(env_, "sb1"));
}

TEST_F(SandboxTest, ReleaseDropsTheConnectionsOnly) {
  auto sb = createSandbox(env_, config("sb1"));
  sb->release();
  EXPECT_EQ(errorOf([&] { sb->agent(); }).kind(), ErrorKind::kFailedPrecondition);
  EXPECT_TRUE(Sandbox::exists(env_, "sb1"));
  EXPECT_FALSE(factory_.vm("sb1").destroyed);
  // Deleting without an agent still destroys the VM and the records.
  sb->deleteSandbox();
  EXPECT_TRUE(factory_.vm("sb1").destroyed);
  EXPECT_FALSE(Sandbox::exists(env_, "sb1"));
}

}  // namespace
}  // namespace kata::sandbox
