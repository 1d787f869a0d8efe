// Containers and processes in the real guest: one VM for the whole suite (TCG boots cost seconds),
// a minimal root file system (Debian's static busybox) shared over virtio-9p, and the agent's
// Container/Process/ByteStream RPC driven as the per-sandbox monitor will drive it.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <functional>
#include <map>
#include <optional>
#include <iostream>
#include <kj/async-io.h>
#include <kj/debug.h>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <thread>

#include "common/error.h"
#include "common/fs.h"
#include "runtime/oci/spec.h"
#include "tests/support/agent_client.h"
#include "tests/support/qemu_vm.h"

namespace kata::test {
namespace {

using std::chrono::seconds;
namespace rpc = ipc::agent;

constexpr auto kBootTimeout = seconds(120);
constexpr const char* kBusybox = "/bin/busybox";
constexpr const char* kShareTag = "ctrshare";
const char* const kApplets[] = {"sh", "echo", "cat", "sleep", "id", "ps", "stty", "hostname", "true", "kill", "wait", "head", "grep", "touch", "mkdir"};

// Output the agent streams to us, kept in a shared state the test reads.
struct Captured {
  std::string data;
  bool ended = false;
  size_t writes = 0;
};

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wnon-virtual-dtor"
class CollectingStream final : public rpc::ByteStream::Server {
 public:
  explicit CollectingStream(std::shared_ptr<Captured> c) : c_(std::move(c)) {}
  kj::Promise<void> write(WriteContext context) override {
    auto d = context.getParams().getData();
    c_->data.append(reinterpret_cast<const char*>(d.begin()), d.size());
    ++c_->writes;
    return kj::READY_NOW;
  }
  kj::Promise<void> end(EndContext) override {
    c_->ended = true;
    return kj::READY_NOW;
  }

 private:
  std::shared_ptr<Captured> c_;
};
#pragma GCC diagnostic pop

std::string vmDiagnostics(const QemuVm& vm) {
  return "\n--- guest console ---\n" + vm.console() + "\n--- qemu ---\n" + vm.qemuLog();
}

nlohmann::json processJson(std::vector<std::string> args, bool terminal = false) {
  nlohmann::json p = {{"args", args}, {"cwd", "/"}, {"env", {"PATH=/bin", "TERM=xterm"}},
                      {"user", {{"uid", 0}, {"gid", 0}}}};
  if (terminal) p["terminal"] = true;
  return p;
}

std::string containerSpec(std::vector<std::string> args, const std::string& hostname, bool terminal = false) {
  nlohmann::json spec = oci::defaultSpec(false);
  spec["process"] = processJson(std::move(args), terminal);
  if (terminal) spec["process"]["consoleSize"] = {{"height", 24}, {"width", 80}};
  spec["hostname"] = hostname;
  auto& ns = spec["linux"]["namespaces"];
  nlohmann::json kept = nlohmann::json::array();
  for (auto& n : ns)
    if (n["type"] != "network") kept.push_back(n);
  ns = kept;
  return spec.dump();
}

class AgentContainerTest : public ::testing::Test {
 protected:
  template <typename T>
  static auto waitFor(kj::Promise<T>&& p, std::chrono::seconds timeout = kBootTimeout) {
    return io_->provider->getTimer().timeoutAfter(timeout.count() * kj::SECONDS, kj::mv(p)).wait(io_->waitScope);
  }
  // Runs the event loop until pred() holds (output arriving) or the timeout passes.
  static bool waitUntil(const std::function<bool()>& pred, std::chrono::seconds timeout = seconds(30)) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!pred()) {
      if (std::chrono::steady_clock::now() >= deadline) return false;
      io_->provider->getTimer().afterDelay(20 * kj::MILLISECONDS).wait(io_->waitScope);
    }
    return true;
  }

  static void SetUpTestSuite() {
    image_ = GuestImage::load(defaultGuestImageDir());
    if (!image_ || ::access(kBusybox, X_OK) != 0) return;
    char tmpl[] = "/tmp/kata-ctr-share-XXXXXX";
    if (::mkdtemp(tmpl) == nullptr) throwSysError(errno, "mkdtemp");
    shareDir_ = tmpl;
    // mkdtemp makes it 0700: a container's user namespace maps root elsewhere and must traverse it.
    if (::chmod(tmpl, 0755) != 0) throwSysError(errno, "chmod");
    buildRootfs(shareDir_ + "/rootfs");
    io_ = std::make_unique<kj::AsyncIoContext>(kj::setupAsyncIo());
    QemuVmOptions opts;
    opts.shares.push_back({kShareTag, shareDir_});
    vm_ = QemuVm::start(*image_, opts);
    conn_ = std::make_unique<AgentConnection>(*io_, vm_->agentSocket(), seconds(30));
    auto req = conn_->agent().createSandboxRequest();
    auto cfg = req.initConfig();
    cfg.setId("pod1");
    cfg.setHostname("podhost");
    cfg.initSharedMounts(1).set(0, kShareTag);
    try {
      waitFor(req.send());
    } catch (const kj::Exception& e) {
      setupError_ = std::string("createSandbox: ") + e.getDescription().cStr() + vmDiagnostics(*vm_);
    }
  }
  static void TearDownTestSuite() {
    if (vm_ && ::testing::UnitTest::GetInstance()->current_test_suite()->failed_test_count() > 0)
      std::cerr << vmDiagnostics(*vm_);
    conn_.reset();
    vm_.reset();
    io_.reset();
    if (!shareDir_.empty()) removeTree(AT_FDCWD, shareDir_);
  }
  static void buildRootfs(const std::string& root) {
    for (const char* d : {"", "/bin", "/proc", "/dev", "/tmp", "/etc", "/sys", "/dev/pts", "/dev/shm", "/dev/mqueue"})
      makeDirs(root + d, 0755);
    std::string bb = readFile(kBusybox, 16 << 20);
    UniqueFd dir = openDir(root + "/bin");
    writeFileAtomic(dir.get(), "busybox", bb, 0755);
    for (const char* a : kApplets)
      if (::symlink("busybox", (root + "/bin/" + a).c_str()) != 0) throwSysError(errno, "symlink");
  }

  void SetUp() override {
    if (!image_)
      GTEST_SKIP() << "guest image missing in " << defaultGuestImageDir() << ": build it with `ninja -C "
                   << KATA_BINARY_DIR << " guest-image`";
    if (::access(kBusybox, X_OK) != 0) GTEST_SKIP() << kBusybox << " missing: install busybox-static";
    ASSERT_TRUE(vm_);
    ASSERT_EQ(setupError_, "");
  }

  struct Created {
    rpc::Container::Client container;
    rpc::Process::Client init;
    std::shared_ptr<Captured> out, err;
  };

  static void setStdio(rpc::Stdio::Builder stdio, std::shared_ptr<Captured> out, std::shared_ptr<Captured> err) {
    stdio.setStdout(kj::heap<CollectingStream>(out));
    stdio.setStderr(kj::heap<CollectingStream>(err));
  }

  static Created create(const std::string& id, std::vector<std::string> args, const std::string& hostname = "ctr",
                        bool terminal = false) {
    return createWithSpec(id, containerSpec(std::move(args), hostname, terminal));
  }

  static Created createWithSpec(const std::string& id, const std::string& spec) {
    auto out = std::make_shared<Captured>(), err = std::make_shared<Captured>();
    auto req = conn_->agent().createContainerRequest();
    auto cfg = req.initConfig();
    cfg.setId(id);
    cfg.setOciSpecJson(kj::arrayPtr(reinterpret_cast<const kj::byte*>(spec.data()), spec.size()));
    cfg.setRootfsShare(kShareTag);
    cfg.setRootfsPath("rootfs");
    setStdio(req.initStdio(), out, err);
    auto resp = waitFor(req.send(), seconds(60));
    return {resp.getContainer(), resp.getInit(), out, err};
  }

  static Created run(const std::string& id, std::vector<std::string> args, const std::string& hostname = "ctr") {
    Created c = create(id, std::move(args), hostname);
    waitFor(c.container.startRequest().send(), seconds(60));
    return c;
  }

  struct Execed {
    rpc::Process::Client process;
    std::shared_ptr<Captured> out, err;
  };
  static Execed exec(rpc::Container::Client& c, const std::string& execId, std::vector<std::string> args,
                     bool terminal = false) {
    auto out = std::make_shared<Captured>(), err = std::make_shared<Captured>();
    auto req = c.execRequest();
    auto spec = req.initSpec();
    spec.setExecId(execId);
    nlohmann::json p = processJson(std::move(args), terminal);
    if (terminal) p["consoleSize"] = {{"height", 24}, {"width", 80}};
    std::string text = p.dump();
    spec.setProcessJson(kj::arrayPtr(reinterpret_cast<const kj::byte*>(text.data()), text.size()));
    setStdio(req.initStdio(), out, err);
    auto resp = waitFor(req.send(), seconds(60));
    return {resp.getProcess(), out, err};
  }

  struct Exit {
    int code;
    bool signaled;
    int value;
  };
  static Exit wait(rpc::Process::Client& p) {
    auto resp = waitFor(p.waitRequest().send(), seconds(60));
    auto st = resp.getStatus();
    bool sig = st.isSignaled();
    return {st.getCode(), sig, sig ? st.getSignaled() : st.getExited()};
  }

  static void removeForce(rpc::Container::Client& c) {
    auto req = c.removeRequest();
    req.setForce(true);
    waitFor(req.send(), seconds(60));
  }

  static std::vector<int> ps(rpc::Container::Client& c) {
    auto resp = waitFor(c.psRequest().send(), seconds(30));
    std::vector<int> pids;
    for (auto p : resp.getPids()) pids.push_back(p);
    return pids;
  }

  static inline std::optional<GuestImage> image_;
  static inline std::string shareDir_;
  static inline std::string setupError_;
  static inline std::unique_ptr<kj::AsyncIoContext> io_;
  static inline std::unique_ptr<QemuVm> vm_;
  static inline std::unique_ptr<AgentConnection> conn_;
};

TEST_F(AgentContainerTest, RunsAProcessAndDeliversStdoutStderrAndExitCode) {
  Created c = run("out", {"sh", "-c", "echo to-out; echo to-err >&2; exit 3"});
  Exit e = wait(c.init);
  EXPECT_EQ(e.code, 3) << vmDiagnostics(*vm_);
  EXPECT_FALSE(e.signaled);
  EXPECT_EQ(e.value, 3);
  // wait() answers after the output was delivered and the streams ended.
  EXPECT_EQ(c.out->data, "to-out\n");
  EXPECT_EQ(c.err->data, "to-err\n");
  EXPECT_TRUE(c.out->ended);
  EXPECT_TRUE(c.err->ended);
  auto st = waitFor(c.container.stateRequest().send(), seconds(30));
  EXPECT_EQ(st.getState().getStatus(), rpc::ContainerStatus::STOPPED);
  auto rm = c.container.removeRequest();
  waitFor(rm.send(), seconds(30));  // stopped: no force needed
  auto list = waitFor(conn_->agent().listContainersRequest().send(), seconds(30));
  for (auto id : list.getIds()) EXPECT_NE(std::string(id.cStr()), "out");
}

TEST_F(AgentContainerTest, CreateWaitsForStartAndSetupErrorsComeBack) {
  Created c = create("barrier", {"sh", "-c", "echo started"});
  auto st = waitFor(c.container.stateRequest().send(), seconds(30));
  EXPECT_EQ(st.getState().getStatus(), rpc::ContainerStatus::CREATED);
  // Nothing ran yet: no output before start().
  waitUntil([] { return false; }, seconds(1));
  EXPECT_EQ(c.out->data, "");
  waitFor(c.container.startRequest().send(), seconds(60));
  EXPECT_EQ(wait(c.init).code, 0);
  EXPECT_EQ(c.out->data, "started\n");
  removeForce(c.container);

  // An exec failure (no such binary) is this start()'s error, and says what failed.
  Created bad = create("bad", {"no-such-binary"});
  try {
    waitFor(bad.container.startRequest().send(), seconds(60));
    FAIL() << "start of a missing binary succeeded";
  } catch (const kj::Exception& e) {
    EXPECT_NE(std::string(e.getDescription().cStr()).find("no-such-binary"), std::string::npos)
        << e.getDescription().cStr();
  }
  removeForce(bad.container);
}

TEST_F(AgentContainerTest, KilledProcessReports128PlusSignal) {
  Created c = run("killed", {"sleep", "1000"});
  auto req = c.init.signalRequest();
  req.setSignal(SIGKILL);
  waitFor(req.send(), seconds(30));
  Exit e = wait(c.init);
  EXPECT_EQ(e.code, 128 + SIGKILL);
  EXPECT_TRUE(e.signaled);
  EXPECT_EQ(e.value, SIGKILL);
  removeForce(c.container);
}

TEST_F(AgentContainerTest, ExecJoinsTheContainersNamespacesAndPsListsItsProcesses) {
  Created c = run("svc", {"sleep", "1000"}, "svc-host");
  Execed h = exec(c.container, "e-host", {"hostname"});
  EXPECT_EQ(wait(h.process).code, 0);
  EXPECT_EQ(h.out->data, "svc-host\n") << h.err->data;
  // Same pid namespace: the container's init is pid 1 there, and it is the sleep.
  Execed p = exec(c.container, "e-pid", {"sh", "-c", "cat /proc/1/cmdline; echo; echo $$"});
  EXPECT_EQ(wait(p.process).code, 0);
  EXPECT_EQ(p.out->data.substr(0, p.out->data.find('\n')), std::string("sleep\0" "1000", 10) + '\0') << p.err->data;

  Execed bg = exec(c.container, "e-bg", {"sleep", "1000"});
  auto pid = waitFor(bg.process.pidRequest().send(), seconds(30)).getPid();
  auto initPid = waitFor(c.container.stateRequest().send(), seconds(30)).getState().getInitPid();
  std::vector<int> pids = ps(c.container);
  EXPECT_EQ(pids.size(), 2u);
  EXPECT_NE(std::find(pids.begin(), pids.end(), pid), pids.end());
  EXPECT_NE(std::find(pids.begin(), pids.end(), initPid), pids.end());

  // Running: remove without force is refused, with the reason.
  try {
    waitFor(c.container.removeRequest().send(), seconds(30));
    FAIL() << "remove of a running container succeeded";
  } catch (const kj::Exception& e) {
    EXPECT_NE(std::string(e.getDescription().cStr()).find("running"), std::string::npos);
  }
  removeForce(c.container);
}

TEST_F(AgentContainerTest, StdinIsPipedAndCloseStdinEndsIt) {
  Created c = run("stdin", {"sleep", "1000"});
  Execed cat = exec(c.container, "cat", {"cat"});
  auto stdinStream = waitFor(cat.process.stdinRequest().send(), seconds(30)).getStream();
  for (const char* chunk : {"hello ", "from the host\n"}) {
    auto w = stdinStream.writeRequest();
    w.setData(kj::arrayPtr(reinterpret_cast<const kj::byte*>(chunk), strlen(chunk)));
    waitFor(w.send(), seconds(30));
  }
  ASSERT_TRUE(waitUntil([&] { return cat.out->data == "hello from the host\n"; })) << cat.out->data;
  waitFor(stdinStream.endRequest().send(), seconds(30));
  EXPECT_EQ(wait(cat.process).code, 0);
  EXPECT_EQ(cat.out->data, "hello from the host\n");
  removeForce(c.container);
}

TEST_F(AgentContainerTest, TerminalHasTheConsoleSizeAndFollowsResize) {
  Created c = run("tty", {"sleep", "1000"});
  Execed t = exec(c.container, "tty", {"sh", "-c", "stty size; read line; stty size"}, true);
  ASSERT_TRUE(waitUntil([&] { return t.out->data.find("24 80") != std::string::npos; })) << t.out->data;
  auto r = t.process.resizeTtyRequest();
  r.setRows(40);
  r.setCols(100);
  waitFor(r.send(), seconds(30));
  auto in = waitFor(t.process.stdinRequest().send(), seconds(30)).getStream();
  auto w = in.writeRequest();
  w.setData(kj::arrayPtr(reinterpret_cast<const kj::byte*>("go\n"), 3));
  waitFor(w.send(), seconds(30));
  EXPECT_EQ(wait(t.process).code, 0);
  EXPECT_NE(t.out->data.find("40 100"), std::string::npos) << t.out->data;
  EXPECT_EQ(t.err->data, "");  // a terminal has one output stream
  removeForce(c.container);
}

TEST_F(AgentContainerTest, SignalAllReachesEveryProcessOfTheContainer) {
  Created c = run("all", {"sh", "-c", "trap '' TERM; sleep 1000 & sleep 1000 & wait"});
  ASSERT_TRUE(waitUntil([&] { return ps(c.container).size() == 3; })) << ps(c.container).size();
  auto req = c.container.signalRequest();
  req.setSignal(SIGKILL);
  req.setAll(true);
  waitFor(req.send(), seconds(30));
  Exit e = wait(c.init);
  EXPECT_EQ(e.code, 128 + SIGKILL);
  EXPECT_TRUE(ps(c.container).empty());
  removeForce(c.container);
}

TEST_F(AgentContainerTest, HostileRequestsGetErrorsNotACrash) {
  {
    auto req = conn_->agent().createContainerRequest();
    req.initConfig().setId("../etc");
    EXPECT_THROW(waitFor(req.send(), seconds(30)), kj::Exception);
  }
  {
    auto req = conn_->agent().createContainerRequest();
    auto cfg = req.initConfig();
    cfg.setId("badjson");
    std::string junk = "{\"ociVersion\": [[[[";
    cfg.setOciSpecJson(kj::arrayPtr(reinterpret_cast<const kj::byte*>(junk.data()), junk.size()));
    cfg.setRootfsShare(kShareTag);
    cfg.setRootfsPath("rootfs");
    EXPECT_THROW(waitFor(req.send(), seconds(30)), kj::Exception);
  }
  {
    auto req = conn_->agent().createContainerRequest();
    auto cfg = req.initConfig();
    cfg.setId("escape");
    std::string spec = containerSpec({"true"}, "x");
    cfg.setOciSpecJson(kj::arrayPtr(reinterpret_cast<const kj::byte*>(spec.data()), spec.size()));
    cfg.setRootfsShare(kShareTag);
    cfg.setRootfsPath("../../..");
    try {
      waitFor(req.send(), seconds(30));
      FAIL() << "a rootfs outside the share was accepted";
    } catch (const kj::Exception&) {
    }
  }
  {
    auto req = conn_->agent().containerRequest();
    req.setId("nope");
    try {
      waitFor(req.send(), seconds(30));
      FAIL();
    } catch (const kj::Exception& e) {
      EXPECT_NE(std::string(e.getDescription().cStr()).find("does not exist"), std::string::npos);
    }
  }
  EXPECT_NO_THROW(waitFor(conn_->agent().pingRequest().send(), seconds(30)));
  EXPECT_FALSE(vm_->waitExit(std::chrono::milliseconds(0))) << "QEMU exited" << vmDiagnostics(*vm_);
}

TEST_F(AgentContainerTest, UserNamespaceGetsItsIdMapsFromTheAgent) {
  auto out = std::make_shared<Captured>(), err = std::make_shared<Captured>();
  nlohmann::json spec = nlohmann::json::parse(containerSpec({"sh", "-c", "id -u; cat /proc/self/uid_map"}, "userns"));
  spec["linux"]["namespaces"].push_back({{"type", "user"}});
  // cgroup2 mounts need a cgroup namespace owned by the user namespace.
  bool hasCgroupNs = false;
  for (auto& n : spec["linux"]["namespaces"]) hasCgroupNs |= n["type"] == "cgroup";
  if (!hasCgroupNs) spec["linux"]["namespaces"].push_back({{"type", "cgroup"}});
  spec["linux"]["uidMappings"] = {{{"containerID", 0}, {"hostID", 100000}, {"size", 65536}}};
  spec["linux"]["gidMappings"] = {{{"containerID", 0}, {"hostID", 100000}, {"size", 65536}}};
  // The spec `runc spec --rootless` writes: /sys bound from the guest, and (this test is about the
  // id maps) no cgroup mount. The default mounts in a user namespace: UserNamespaceGetsSysfsAndItsCgroupLikeRunc.
  nlohmann::json mounts = nlohmann::json::array();
  for (auto& m : spec["mounts"])
    if (m["destination"] != "/sys/fs/cgroup") mounts.push_back(m);
  spec["mounts"] = mounts;
  for (auto& m : spec["mounts"])
    if (m["destination"] == "/sys")
      m = {{"destination", "/sys"}, {"type", "none"}, {"source", "/sys"},
           {"options", {"rbind", "nosuid", "noexec", "nodev", "ro"}}};
  std::string text = spec.dump();
  auto req = conn_->agent().createContainerRequest();
  auto cfg = req.initConfig();
  cfg.setId("userns");
  cfg.setOciSpecJson(kj::arrayPtr(reinterpret_cast<const kj::byte*>(text.data()), text.size()));
  cfg.setRootfsShare(kShareTag);
  cfg.setRootfsPath("rootfs");
  setStdio(req.initStdio(), out, err);
  auto resp = waitFor(req.send(), seconds(60));
  auto container = resp.getContainer();
  auto init = resp.getInit();
  waitFor(container.startRequest().send(), seconds(60));
  EXPECT_EQ(wait(init).code, 0) << err->data;
  std::istringstream lines(out->data);
  std::string uid, m0, m1, m2;
  lines >> uid >> m0 >> m1 >> m2;
  EXPECT_EQ(uid, "0") << out->data << err->data;
  EXPECT_EQ(m0 + " " + m1 + " " + m2, "0 100000 65536") << out->data;
  removeForce(container);
}

TEST_F(AgentContainerTest, PauseResumeStatsAndUpdateGoThroughTheCgroup) {
  Created c = run("cg", {"sleep", "1000"});
  auto stats = waitFor(c.container.statsRequest().send(), seconds(30)).getStats();
  EXPECT_EQ(stats.getPids(), 1u);
  EXPECT_GT(stats.getMemoryUsageBytes(), 0u);
  {
    auto req = c.container.updateRequest();
    std::string res = R"({"memory":{"limit":67108864}})";
    req.setResourcesJson(kj::arrayPtr(reinterpret_cast<const kj::byte*>(res.data()), res.size()));
    waitFor(req.send(), seconds(30));
    EXPECT_EQ(waitFor(c.container.statsRequest().send(), seconds(30)).getStats().getMemoryLimitBytes(), 67108864u);
  }
  waitFor(c.container.pauseRequest().send(), seconds(30));
  EXPECT_EQ(waitFor(c.container.stateRequest().send(), seconds(30)).getState().getStatus(),
            rpc::ContainerStatus::PAUSED);
  EXPECT_THROW(waitFor(c.container.pauseRequest().send(), seconds(30)), kj::Exception);
  waitFor(c.container.resumeRequest().send(), seconds(30));
  EXPECT_EQ(waitFor(c.container.stateRequest().send(), seconds(30)).getState().getStatus(),
            rpc::ContainerStatus::RUNNING);
  // An exec'd process joins the container's cgroup too.
  Execed bg = exec(c.container, "bg", {"sleep", "1000"});
  EXPECT_EQ(waitFor(c.container.statsRequest().send(), seconds(30)).getStats().getPids(), 2u);
  EXPECT_EQ(ps(c.container).size(), 2u);
  removeForce(c.container);
}

TEST_F(AgentContainerTest, OomKillIsReportedByTheLongPoll) {
  auto out = std::make_shared<Captured>(), err = std::make_shared<Captured>();
  nlohmann::json spec = nlohmann::json::parse(
      containerSpec({"sh", "-c", "sleep 0.5; x=$(head -c 100000000 /dev/urandom); echo survived"}, "oom"));
  spec["linux"]["resources"] = {{"memory", {{"limit", 16 << 20}}}};
  std::string text = spec.dump();
  auto req = conn_->agent().createContainerRequest();
  auto cfg = req.initConfig();
  cfg.setId("oom");
  cfg.setOciSpecJson(kj::arrayPtr(reinterpret_cast<const kj::byte*>(text.data()), text.size()));
  cfg.setRootfsShare(kShareTag);
  cfg.setRootfsPath("rootfs");
  setStdio(req.initStdio(), out, err);
  auto resp = waitFor(req.send(), seconds(60));
  auto container = resp.getContainer();
  auto init = resp.getInit();
  auto poll = container.nextOomEventRequest();
  poll.setSeen(0);
  auto pending = poll.send();  // asked before anything ran: must resolve on the kill
  waitFor(container.startRequest().send(), seconds(60));
  EXPECT_GE(waitFor(kj::mv(pending), seconds(60)).getOomKills(), 1u) << out->data << err->data;
  Exit e = wait(init);
  EXPECT_EQ(e.code, 128 + SIGKILL) << out->data << err->data;
  EXPECT_EQ(out->data.find("survived"), std::string::npos);
  removeForce(container);
}

// Last: it replaces the suite's connection. Output flows while the host hangs up; the agent must
// keep draining (the process never blocks on a full pipe), keep the container, and serve a new
// connection that finds it by id, kills it and gets its status.
TEST_F(AgentContainerTest, HostDisconnectMidStreamKeepsTheContainerAndItsStatus) {
  Created c = run("flood", {"sh", "-c", "while true; do echo 0123456789abcdef0123456789abcdef; done"});
  ASSERT_TRUE(waitUntil([&] { return c.out->writes >= 3; })) << c.out->data.size();
  c = Created{nullptr, nullptr, nullptr, nullptr};
  conn_.reset();
  std::this_thread::sleep_for(kReconnectQuietPeriod);
  conn_ = connectAgentWithRetry(*io_, vm_->agentSocket(), seconds(3), seconds(60));
  auto req = conn_->agent().containerRequest();
  req.setId("flood");
  auto container = waitFor(req.send(), seconds(30)).getContainer();
  // Still there and running; the decisive checks are that it is killed and reaped, and that wait()
  // answers although its stdout stream's host end is gone (the pump drained and ended).
  EXPECT_EQ(waitFor(container.stateRequest().send(), seconds(30)).getState().getStatus(),
            rpc::ContainerStatus::RUNNING);
  auto sig = container.signalRequest();
  sig.setSignal(SIGKILL);
  sig.setAll(true);
  waitFor(sig.send(), seconds(30));
  auto preq = container.processRequest();
  preq.setExecId("");
  auto init = waitFor(preq.send(), seconds(30)).getProcess();
  EXPECT_EQ(wait(init).code, 128 + SIGKILL) << vmDiagnostics(*vm_);
  waitFor(container.removeRequest().send(), seconds(30));
  EXPECT_EQ(waitFor(conn_->agent().listContainersRequest().send(), seconds(30)).getIds().size(), 0u);
}

}  // namespace
}  // namespace kata::test

namespace kata::test {
namespace {

// The OCI isolation settings, each observed from inside a container in the real guest: a read-only
// root, a non-root user with additional groups, a reduced bounding set, an rlimit, a masked path and
// a seccomp rule that denies mkdir (on a writable tmpfs, so EPERM can only come from the filter).
TEST_F(AgentContainerTest, IsolationSettingsApplyInsideTheVm) {
  writeFileAtomic(openDir(shareDir_ + "/rootfs/etc").get(), "secret", "topsecret\n", 0644);
  nlohmann::json spec = nlohmann::json::parse(containerSpec(
      {"sh", "-c",
       "id; grep CapBnd /proc/self/status; ulimit -n; cat /etc/secret; echo masked-end; "
       "touch /newfile 2>&1; mkdir /tmp/x 2>&1; echo done"},
      "iso"));
  spec["root"]["readonly"] = true;
  spec["process"]["user"] = {{"uid", 1000}, {"gid", 1000}, {"additionalGids", {2000, 3000}}};
  for (const char* set : {"bounding", "effective", "permitted", "inheritable"})
    spec["process"]["capabilities"][set] = {"CAP_CHOWN"};
  spec["process"]["capabilities"].erase("ambient");
  spec["process"]["rlimits"] = {{{"type", "RLIMIT_NOFILE"}, {"soft", 123}, {"hard", 456}}};
  spec["process"]["noNewPrivileges"] = true;
  spec["mounts"].push_back({{"destination", "/tmp"}, {"type", "tmpfs"}, {"source", "tmpfs"},
                            {"options", {"nosuid", "nodev", "mode=1777"}}});
  spec["linux"]["maskedPaths"] = {"/etc/secret"};
  spec["linux"]["seccomp"] = {
      {"defaultAction", "SCMP_ACT_ALLOW"},
      {"syscalls", {{{"names", {"mkdir", "mkdirat"}}, {"action", "SCMP_ACT_ERRNO"}, {"errnoRet", 1}}}}};
  Created c = createWithSpec("iso", spec.dump());
  waitFor(c.container.startRequest().send(), std::chrono::seconds(60));
  Exit e = wait(c.init);
  const std::string& out = c.out->data;
  EXPECT_EQ(e.code, 0) << out << c.err->data << vmDiagnostics(*vm_);
  EXPECT_NE(out.find("uid=1000 gid=1000"), std::string::npos) << out;
  EXPECT_NE(out.find("2000"), std::string::npos) << out;
  EXPECT_NE(out.find("3000"), std::string::npos) << out;
  EXPECT_NE(out.find("CapBnd:\t0000000000000001"), std::string::npos) << out;
  EXPECT_NE(out.find("\n123\n"), std::string::npos) << "RLIMIT_NOFILE soft limit not applied: " << out;
  EXPECT_EQ(out.find("topsecret"), std::string::npos) << "masked path readable: " << out;
  EXPECT_NE(out.find("Read-only file system"), std::string::npos) << "root not read-only: " << out;
  EXPECT_NE(out.find("Operation not permitted"), std::string::npos) << "seccomp rule not applied: " << out;
  EXPECT_NE(out.find("done"), std::string::npos) << out;
  removeForce(c.container);
}

}  // namespace
}  // namespace kata::test

namespace kata::test {
namespace {

// Container.processList (protocol 3): what ps -ef shows of a running container, from the guest's /proc.
TEST_F(AgentContainerTest, ProcessListShowsWhatPsShows) {
  // "; echo done": the shell must fork the sleep (a last command alone would be exec'd in its place).
  Created c = create("plist", {"sh", "-c", "sleep 100; echo done"}, "plist", true);
  waitFor(c.container.startRequest().send(), seconds(60));
  Execed other = exec(c.container, "other", {"sleep", "200"});
  auto initPid = waitFor(c.container.stateRequest().send(), seconds(30)).getState().getInitPid();
  auto otherPid = waitFor(other.process.pidRequest().send(), seconds(30)).getPid();
  auto guestNow = waitFor(conn_->agent().guestInfoRequest().send(), seconds(30)).getInfo().getWallClockNs();
  // The shell forks the sleep right after exec; wait until ps sees all three.
  ASSERT_TRUE(waitUntil([&] { return ps(c.container).size() == 3; })) << ps(c.container).size();
  // ...and until each is asleep (the shell may still be running right after its fork).
  std::optional<capnp::Response<rpc::Container::ProcessListResults>> resp;
  std::map<std::string, rpc::ProcessInfo::Reader> byArgs;
  ASSERT_TRUE(waitUntil([&] {
    byArgs.clear();
    resp.emplace(waitFor(c.container.processListRequest().send(), seconds(30)));
    bool asleep = true;
    for (auto p : resp->getProcesses()) {
      std::string args;
      for (auto a : p.getCmdline()) args += std::string(args.empty() ? "" : " ") + a.cStr();
      byArgs.emplace(args, p);
      asleep = asleep && std::string(p.getState().cStr()) == "S";
    }
    return asleep;
  }));
  ASSERT_EQ(resp->getProcesses().size(), 3u);
  ASSERT_EQ(byArgs.count("sh -c sleep 100; echo done"), 1u);
  ASSERT_EQ(byArgs.count("sleep 100"), 1u);
  ASSERT_EQ(byArgs.count("sleep 200"), 1u);
  auto sh = byArgs.at("sh -c sleep 100; echo done"), sleep = byArgs.at("sleep 100"), second = byArgs.at("sleep 200");
  EXPECT_EQ(sh.getPid(), initPid);
  EXPECT_EQ(sh.getPpid(), 1);  // the agent cloned it
  EXPECT_EQ(sleep.getPpid(), sh.getPid());
  EXPECT_EQ(second.getPid(), otherPid);
  EXPECT_EQ(second.getPpid(), 1);  // exec'd processes are the agent's children too
  EXPECT_EQ(std::string(sh.getComm().cStr()), "sh");
  EXPECT_EQ(std::string(sleep.getComm().cStr()), "sleep");
  for (auto p : {sh, sleep, second}) {
    EXPECT_EQ(std::string(p.getState().cStr()), "S") << p.getComm().cStr();
    EXPECT_EQ(p.getUid(), 0u);
    // Started in the last two minutes by the guest's clock, and not in the future.
    EXPECT_LE(p.getStartWallNs(), guestNow + 1'000'000'000) << p.getComm().cStr();
    EXPECT_GT(p.getStartWallNs(), guestNow - 120'000'000'000) << p.getComm().cStr();
    EXPECT_LT(p.getCpuTimeNs(), 10'000'000'000u);
  }
  // The init has the pty as its controlling terminal, and the sleep inherits it; the exec has none.
  std::string tty = sh.getTty().cStr();
  EXPECT_EQ(tty.rfind("pts/", 0), 0u) << tty;
  EXPECT_EQ(std::string(sleep.getTty().cStr()), tty);
  EXPECT_EQ(std::string(second.getTty().cStr()), "?");
  removeForce(c.container);
  // Gone: the call says so.
  EXPECT_THROW(waitFor(c.container.processListRequest().send(), seconds(30)), kj::Exception);
}

// Runs python3's prometheus_client parser (Debian's python3-prometheus-client) on the text; returns
// one JSON array per sample: [name, {labels}, value].
nlohmann::json parsePrometheus(const std::string& text) {
  char tmpl[] = "/tmp/kata-metrics-XXXXXX";
  int fd = ::mkstemp(tmpl);
  if (fd < 0) throwSysError(errno, "mkstemp");
  (void)!::write(fd, text.data(), text.size());
  ::close(fd);
  std::string cmd = std::string("/usr/bin/python3 -c '") +
                    "import json,sys\n"
                    "from prometheus_client.parser import text_string_to_metric_families as parse\n"
                    "out=[]\n"
                    "for f in parse(open(sys.argv[1]).read()):\n"
                    "  for s in f.samples: out.append([s.name, s.labels, s.value, f.type])\n"
                    "print(json.dumps(out))' " + tmpl + " 2>&1";
  std::string out;
  if (FILE* p = ::popen(cmd.c_str(), "r")) {
    char buf[4096];
    size_t n;
    while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
    ::pclose(p);
  }
  ::unlink(tmpl);
  auto j = nlohmann::json::parse(out, nullptr, false);
  if (j.is_discarded()) throw std::runtime_error("the Prometheus parser refused the text (python3-prometheus-client installed?): " + out);
  return j;
}

TEST_F(AgentContainerTest, MetricsAreValidPrometheusTextWithPlausibleValues) {
  Created c = run("metrics", {"sleep", "1000"});
  std::string text = waitFor(conn_->agent().metricsRequest().send(), seconds(30)).getText().cStr();
  nlohmann::json samples = parsePrometheus(text);
  ASSERT_TRUE(samples.is_array()) << samples.dump();
  std::map<std::string, double> v;
  for (const auto& s : samples) {
    std::string key = s[0];
    for (const auto& [k, val] : s[1].items()) key += std::string("{") + k + "=" + val.get<std::string>() + "}";
    v[key] = s[2];
  }
  auto has = [&](const std::string& k) { return v.count(k) == 1; };
  ASSERT_TRUE(has("kata_guest_memory_total_bytes")) << text;
  // The VM has 256 MiB; the kernel keeps some.
  EXPECT_GT(v["kata_guest_memory_total_bytes"], 150.0 * (1 << 20)) << text;
  EXPECT_LE(v["kata_guest_memory_total_bytes"], 256.0 * (1 << 20));
  EXPECT_GT(v["kata_guest_memory_available_bytes"], 0);
  EXPECT_LE(v["kata_guest_memory_available_bytes"], v["kata_guest_memory_total_bytes"]);
  EXPECT_EQ(v["kata_guest_cpus_online"], 1);
  EXPECT_GT(v["kata_guest_uptime_seconds"], 1);
  EXPECT_LT(v["kata_guest_uptime_seconds"], 3600);
  EXPECT_GE(v["kata_guest_load_average{period=1m}"], 0);
  EXPECT_GT(v["kata_guest_cpu_seconds_total{mode=idle}"] + v["kata_guest_cpu_seconds_total{mode=system}"], 0);
  EXPECT_GT(v["kata_guest_forks_total"], 10);
  EXPECT_GT(v["kata_agent_resident_memory_bytes"], 256.0 * 1024);
  EXPECT_LT(v["kata_agent_resident_memory_bytes"], 64.0 * (1 << 20));
  EXPECT_GE(v["kata_agent_threads"], 1);
  EXPECT_GE(v["kata_agent_open_fds"], 3);
  EXPECT_GT(v["kata_agent_ready_seconds"], v["kata_agent_start_seconds"]);
  EXPECT_GE(v["kata_agent_containers{status=running}"], 1);
  EXPECT_EQ(v["kata_container_processes{container=metrics}"], 1);
  EXPECT_GT(v["kata_container_memory_usage_bytes{container=metrics}"], 0);
  bool info = false;
  for (const auto& s : samples)
    if (s[0] == "kata_agent_info" && s[1].value("protocol", "") == std::to_string(rpc::PROTOCOL_VERSION) &&
        s[1].value("kernel", "") == image_->kernelRelease && s[2] == 1)
      info = true;
  EXPECT_TRUE(info) << text;
  // Counters are typed as such (the parser read the TYPE lines).
  for (const auto& s : samples)
    if (s[0] == "kata_guest_context_switches_total") {
      EXPECT_EQ(s[3], "counter");
    }
  removeForce(c.container);
}

// A user namespace with id maps and the default mounts (fresh sysfs, cgroup): the kernel refuses
// both fresh mounts there, and the agent falls back as runc does: /sys bound from the guest, the
// container's own cgroup bound at /sys/fs/cgroup (with or without a cgroup namespace).
TEST_F(AgentContainerTest, UserNamespaceGetsSysfsAndItsCgroupLikeRunc) {
  for (bool cgroupNs : {false, true}) {
    SCOPED_TRACE(cgroupNs ? "with a cgroup namespace" : "without a cgroup namespace");
    std::string id = cgroupNs ? "usermnt-cgns" : "usermnt";
    nlohmann::json spec = nlohmann::json::parse(containerSpec(
        {"sh", "-c",
         "cat /sys/class/net/lo/mtu; echo procs:$(cat /sys/fs/cgroup/cgroup.procs); "
         "cat /sys/fs/cgroup/kata/cgroup.procs 2>&1; grep -c ' /sys ' /proc/self/mountinfo"},
        id));
    spec["linux"]["namespaces"].push_back({{"type", "user"}});
    if (cgroupNs) spec["linux"]["namespaces"].push_back({{"type", "cgroup"}});
    spec["linux"]["uidMappings"] = {{{"containerID", 0}, {"hostID", 100000}, {"size", 65536}}};
    spec["linux"]["gidMappings"] = {{{"containerID", 0}, {"hostID", 100000}, {"size", 65536}}};
    Created c = createWithSpec(id, spec.dump());
    waitFor(c.container.startRequest().send(), seconds(60));
    Exit e = wait(c.init);
    const std::string& out = c.out->data;
    EXPECT_EQ(e.code, 0) << out << c.err->data;
    EXPECT_EQ(out.rfind("65536\n", 0), 0u) << "sysfs missing: " << out << c.err->data;
    // The container's cgroup, not the guest's root (which has the kata/ parent of every container).
    // (The init is pid 1 of the container; the other pid is the $(cat) running.)
    EXPECT_NE(out.find("procs:1 "), std::string::npos) << out;
    EXPECT_NE(out.find("No such file or directory"), std::string::npos) << out;
    removeForce(c.container);
  }
}

}  // namespace
}  // namespace kata::test
