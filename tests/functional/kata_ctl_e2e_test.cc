// kata-ctl end to end against real VMs: a private kata-vmmd (scripts/private-vmmd.sh), the real guest
// image under QEMU (TCG here), and the built kata-ctl driven as an engine drives runc.
//
// VM boots are few: one pod sandbox (its container "pod") is created for the suite, and most cases
// run their containers inside it by carrying the CRI annotations that join a sandbox. Only the cases
// about a sandbox's own life (rollback of a failed create, an unprivileged user's sandbox) boot
// another VM.
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <thread>

#include "common/error.h"
#include "common/fs.h"
#include "common/log.h"
#include "runtime/sandbox/sandbox.h"
#include "runtime/store/fs_store.h"
#include "tests/support/busybox_rootfs.h"
#include "tests/support/run_support.h"

namespace kata::test {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

constexpr uid_t kUser = 65534;  // nobody: the unprivileged case

bool waitFor(const std::function<bool()>& cond, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (cond()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return cond();
}

std::string readOrEmpty(const std::string& path) {
  std::ifstream in(path);
  return std::string((std::istreambuf_iterator<char>(in)), {});
}

size_t countEntries(const std::string& dir) {
  if (!fs::exists(dir)) return 0;
  size_t n = 0;
  for (const auto& e : fs::directory_iterator(dir)) n += e.path().filename().string().front() != '@';
  return n;
}

class KataCtlE2E : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (::geteuid() != 0) return;
    char tmpl[] = "/tmp/kata-e2e-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    ASSERT_EQ(::chmod(dir_.c_str(), 0755), 0);
    auto r = runProgram("/bin/sh", {"-c", std::string(KATA_SOURCE_DIR) + "/scripts/private-vmmd.sh start " + vmmdDir() +
                                              " " + std::to_string(kUser) + " 2>&1"});
    ASSERT_EQ(r.status, 0) << r.out;
    started_ = true;
    writeBundle("pod", json::array({"sleep", "1000000"}), false);
    auto c = ctl({"create", "-b", dir_ + "/pod", "pod"});
    ASSERT_EQ(c.status, 0) << c.err;
    auto s = ctl({"start", "pod"});
    ASSERT_EQ(s.status, 0) << s.err;
    podReady_ = true;
  }

  static void TearDownTestSuite() {
    if (!started_) return;
    ctl({"delete", "--force", "pod"});
    if (!dir_.empty()) {
      auto r = runProgram("/bin/sh", {"-c", std::string(KATA_SOURCE_DIR) + "/scripts/private-vmmd.sh stop " + vmmdDir()});
      EXPECT_EQ(r.status, 0) << r.err;
      removeTree(AT_FDCWD, dir_);
    }
  }

  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root (kata-vmmd is a root process)";
    ASSERT_TRUE(podReady_) << "the suite's pod sandbox did not start";
  }

  static std::string vmmdDir() { return dir_ + "/vmmd"; }
  static std::string stateRoot() { return dir_ + "/state"; }
  static std::string config() { return vmmdDir() + "/kata-ctl.toml"; }

  static RunResult ctl(std::vector<std::string> args, RunOptions opts = {}) {
    args.insert(args.begin(), {"--root", stateRoot(), "--config", config()});
    return runProgramWith(kataCtlPath(), args, opts);
  }

  // A bundle dir_/<name>: busybox rootfs, the given args; `join` puts it in the suite's pod.
  static std::string writeBundle(const std::string& name, const json& args, bool join = true,
                                 const std::function<void(json&)>& edit = {}) {
    const std::string b = dir_ + "/" + name;
    writeBusyboxBundle(b, args.dump());
    json spec = json::parse(readFile(b + "/config.json", 1 << 20));
    if (join) {
      spec["annotations"]["io.kubernetes.cri.container-type"] = "container";
      spec["annotations"]["io.kubernetes.cri.sandbox-id"] = "pod";
    }
    if (edit) edit(spec);
    std::ofstream(b + "/config.json", std::ios::trunc) << spec.dump(2);
    return b;
  }

  // `kata-ctl create` with the container's stdio going to a file (the shim keeps it open).
  static RunResult createTo(const std::string& bundle, const std::string& id, const std::string& outFile,
                            const std::vector<std::string>& extra = {}) {
    std::string cmd = "exec " + kataCtlPath() + " --root " + stateRoot() + " --config " + config() + " create -b " + bundle;
    for (const auto& e : extra) cmd += " " + e;
    cmd += " " + id + " >" + outFile + " 2>&1 </dev/null";
    return runProgram("/bin/sh", {"-c", cmd});
  }

  static std::string status(const std::string& id) {
    auto r = ctl({"state", id});
    if (r.status != 0) return "<" + r.err + ">";
    return json::parse(r.out).value("status", "?");
  }

  static std::string dir_;
  static bool started_;
  static bool podReady_;
};

std::string KataCtlE2E::dir_;
bool KataCtlE2E::started_ = false;
bool KataCtlE2E::podReady_ = false;

TEST_F(KataCtlE2E, RunInThePodRelaysStdioAndExitsWithTheStatus) {
  auto b = writeBundle("run1", json::array({"sh", "-c", "echo out; echo err >&2; read line; echo \"in:$line\"; exit 5"}));
  RunOptions o;
  o.input = "hello\n";
  auto r = ctl({"run", "-b", b, "run1"}, o);
  EXPECT_EQ(r.status, 5) << r.err;
  EXPECT_NE(r.out.find("out\nin:hello\n"), std::string::npos) << r.out;
  EXPECT_NE(r.err.find("err"), std::string::npos) << r.err;
  EXPECT_EQ(ctl({"state", "run1"}).status, 1) << "run removes the container after it exits";
}

TEST_F(KataCtlE2E, AKilledProcessExitsWith128PlusTheSignal) {
  // A container's init (PID 1 of its pid namespace) can only be killed from outside it.
  auto b = writeBundle("run2", json::array({"sleep", "1000"}));
  RunResult r;
  std::thread runner([&] { r = ctl({"run", "--keep", "-b", b, "run2"}); });
  bool running = waitFor([] { return status("run2") == "running"; }, std::chrono::seconds(20));
  EXPECT_TRUE(running);
  EXPECT_EQ(ctl({"kill", "run2", "KILL"}).status, 0);
  runner.join();
  EXPECT_EQ(r.status, 137) << r.err;
  EXPECT_EQ(status("run2"), "stopped") << "--keep leaves the stopped container";
  EXPECT_EQ(ctl({"delete", "run2"}).status, 0);
  // Any other process dies of a signal of its own.
  EXPECT_EQ(ctl({"exec", "pod", "sh", "-c", "kill -15 $$; sleep 5"}).status, 143);
}

TEST_F(KataCtlE2E, CreateStartKillDeleteWithPidFile) {
  // The init is PID 1 of its pid namespace: a signal without a handler is ignored, so the trap is set
  // before "ready" is printed, and the test waits for it.
  auto b = writeBundle("c1", json::array({"sh", "-c", "trap 'echo term; exit 3' TERM; echo ready; while true; do sleep 0.2; done"}));
  const std::string pidFile = dir_ + "/c1.pid", out = dir_ + "/c1.out";
  auto c = createTo(b, "c1", out, {"--pid-file", pidFile});
  ASSERT_EQ(c.status, 0) << readOrEmpty(out);
  std::string pidText = readOrEmpty(pidFile);
  ASSERT_FALSE(pidText.empty());
  EXPECT_EQ(pidText.find_first_not_of("0123456789"), std::string::npos) << "decimal, no newline: '" << pidText << "'";
  auto st = json::parse(ctl({"state", "c1"}).out);
  EXPECT_EQ(st["status"], "created");
  EXPECT_EQ(std::to_string(st["pid"].get<int>()), pidText);
  EXPECT_EQ(st["bundle"], b);
  EXPECT_EQ(::kill(std::stoi(pidText), 0), 0) << "the shim stands for the container";
  EXPECT_EQ(ctl({"start", "c1"}).status, 0);
  EXPECT_EQ(status("c1"), "running");
  EXPECT_EQ(ctl({"start", "c1"}).status, 1) << "a second start is refused";
  auto list = ctl({"list", "--format", "json"});
  EXPECT_NE(list.out.find("\"id\":\"c1\""), std::string::npos) << list.out;
  ASSERT_TRUE(waitFor([&] { return readOrEmpty(out).find("ready") != std::string::npos; }, std::chrono::seconds(10)));
  auto del = ctl({"delete", "c1"});
  EXPECT_EQ(del.status, 1);
  EXPECT_NE(del.err.find("not stopped: running"), std::string::npos) << del.err;
  ASSERT_EQ(ctl({"kill", "c1", "TERM"}).status, 0);
  EXPECT_TRUE(waitFor([] { return status("c1") == "stopped"; }, std::chrono::seconds(15)));
  EXPECT_TRUE(waitFor([&] { return readOrEmpty(out).find("term") != std::string::npos; }, std::chrono::seconds(5)))
      << readOrEmpty(out);
  EXPECT_NE(readOrEmpty(out).find("ready"), std::string::npos);
  EXPECT_EQ(ctl({"kill", "c1"}).status, 1) << "container not running";
  EXPECT_EQ(ctl({"delete", "c1"}).status, 0);
  EXPECT_EQ(ctl({"state", "c1"}).status, 1);
}

TEST_F(KataCtlE2E, KillAllReachesEveryProcessAndDeleteForceStopsARunningOne) {
  auto b = writeBundle("c2", json::array({"sh", "-c", "trap '' TERM; sleep 1000 & sleep 1000 & wait"}));
  ASSERT_EQ(createTo(b, "c2", dir_ + "/c2.out").status, 0) << readOrEmpty(dir_ + "/c2.out");
  ASSERT_EQ(ctl({"start", "c2"}).status, 0);
  ASSERT_TRUE(waitFor([] { return ctl({"ps", "--format", "json", "c2"}).out.find(',') != std::string::npos; },
                      std::chrono::seconds(10)));
  EXPECT_EQ(ctl({"kill", "--all", "c2", "KILL"}).status, 0);
  EXPECT_TRUE(waitFor([] { return status("c2") == "stopped"; }, std::chrono::seconds(15)));
  EXPECT_EQ(ctl({"delete", "c2"}).status, 0);

  auto f = writeBundle("c3", json::array({"sleep", "1000"}));
  ASSERT_EQ(createTo(f, "c3", dir_ + "/c3.out").status, 0);
  ASSERT_EQ(ctl({"start", "c3"}).status, 0);
  EXPECT_EQ(ctl({"delete", "--force", "c3"}).status, 0);
  EXPECT_EQ(ctl({"state", "c3"}).status, 1);
  EXPECT_EQ(status("pod"), "running") << "the pod's own container is untouched";
}

TEST_F(KataCtlE2E, ExecInTheForegroundDetachedAndFromProcessJson) {
  RunOptions in;
  in.input = "via stdin";
  auto r = ctl({"exec", "pod", "sh", "-c", "cat; exit 7"}, in);
  EXPECT_EQ(r.status, 7) << r.err;
  EXPECT_EQ(r.out, "via stdin");
  EXPECT_EQ(ctl({"exec", "--cwd", "/tmp", "-e", "FOO=bar", "pod", "sh", "-c", "echo $FOO $(pwd)"}).out, "bar /tmp\n");
  auto id = ctl({"exec", "-u", "1000:1000", "--additional-gids", "2000", "pod", "id"});
  EXPECT_NE(id.out.find("uid=1000(user) gid=1000(user)"), std::string::npos) << id.out << id.err;
  EXPECT_NE(id.out.find("2000(extra)"), std::string::npos) << id.out;

  const std::string pidFile = dir_ + "/exec.pid";
  auto d = ctl({"exec", "-d", "--pid-file", pidFile, "pod", "sh", "-c", "echo detached > /tmp/d; sleep 3"});
  EXPECT_EQ(d.status, 0) << d.err;
  int shim = std::stoi(readOrEmpty(pidFile));
  EXPECT_EQ(::kill(shim, 0), 0) << "a shim stands for the detached process";
  EXPECT_TRUE(waitFor([] { return ctl({"exec", "pod", "cat", "/tmp/d"}).out == "detached\n"; }, std::chrono::seconds(10)));
  EXPECT_TRUE(waitFor([&] { return ::kill(shim, 0) != 0; }, std::chrono::seconds(15))) << "the shim exits with it";

  json p = {{"args", {"sh", "-c", "echo from json $X"}}, {"env", {"X=1", "PATH=/bin"}}, {"cwd", "/"},
            {"user", {{"uid", 0}, {"gid", 0}}}};
  std::ofstream(dir_ + "/process.json") << p.dump();
  EXPECT_EQ(ctl({"exec", "--process", dir_ + "/process.json", "pod"}).out, "from json 1\n");
  auto missing = ctl({"exec", "pod", "/no/such/binary"});
  EXPECT_EQ(missing.status, 255);
  EXPECT_NE(missing.err.find("exec failed:"), std::string::npos) << missing.err;
}

TEST_F(KataCtlE2E, PsEventsAndUpdateReachTheGuest) {
  auto table = ctl({"ps", "pod"});
  ASSERT_EQ(table.status, 0) << table.err;
  EXPECT_EQ(table.out.rfind("UID          PID    PPID  C STIME TTY          TIME CMD\n", 0), 0u) << table.out;
  EXPECT_NE(table.out.find("sleep 1000000"), std::string::npos) << table.out;
  auto pids = json::parse(ctl({"ps", "--format", "json", "pod"}).out);
  ASSERT_TRUE(pids.is_array());
  EXPECT_GE(pids.size(), 1u);

  auto ev = ctl({"events", "--stats", "pod"});
  ASSERT_EQ(ev.status, 0) << ev.err;
  auto e = json::parse(ev.out);
  EXPECT_EQ(e["type"], "stats");
  EXPECT_EQ(e["id"], "pod");
  EXPECT_GE(e["data"]["pids"]["current"].get<int>(), 1);
  EXPECT_GT(e["data"]["memory"]["usage"]["usage"].get<uint64_t>(), 0u);

  // runc's default spec has no cgroup namespace: the container's cgroup is named in /proc/self/cgroup.
  const std::vector<std::string> pidsMax = {"exec", "pod", "sh", "-c", "cat /sys/fs/cgroup$(cut -d: -f3 /proc/self/cgroup)/pids.max"};
  EXPECT_EQ(ctl({"update", "--pids-limit", "42", "pod"}).status, 0);
  EXPECT_EQ(ctl(pidsMax).out, "42\n");
  RunOptions r;
  r.input = R"({"pids":{"limit":43}})";
  EXPECT_EQ(ctl({"update", "-r", "-", "pod"}, r).status, 0);
  EXPECT_EQ(ctl(pidsMax).out, "43\n");

  // The pod's spec has a network namespace without a path (runc's default): loopback only.
  auto links = ctl({"exec", "pod", "sh", "-c", "ls /sys/class/net"});
  EXPECT_EQ(links.out, "lo\n") << links.err;
}

TEST_F(KataCtlE2E, PauseAndResume) {
  ASSERT_EQ(ctl({"pause", "pod"}).status, 0);
  EXPECT_EQ(status("pod"), "paused");
  auto refused = ctl({"exec", "pod", "true"});
  EXPECT_EQ(refused.status, 255);
  EXPECT_NE(refused.err.find("cannot exec in a paused state"), std::string::npos) << refused.err;
  ASSERT_EQ(ctl({"resume", "pod"}).status, 0);
  EXPECT_EQ(status("pod"), "running");
  EXPECT_EQ(ctl({"exec", "pod", "true"}).status, 0);
}

// An engine's console socket: receives the pty master kata-ctl sends (runc's protocol).
class ConsoleSocket {
 public:
  explicit ConsoleSocket(const std::string& path) : path_(path) {
    fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::strncpy(a.sun_path, path.c_str(), sizeof a.sun_path - 1);
    if (::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(fd_, 1) != 0)
      throw std::runtime_error("console socket " + path);
    thread_ = std::thread([this] {
      int c = ::accept(fd_, nullptr, nullptr);
      if (c < 0) return;
      char buf[256];
      alignas(cmsghdr) char ctl[CMSG_SPACE(sizeof(int))];
      iovec iov{buf, sizeof buf};
      msghdr m{};
      m.msg_iov = &iov;
      m.msg_iovlen = 1;
      m.msg_control = ctl;
      m.msg_controllen = sizeof ctl;
      if (::recvmsg(c, &m, 0) > 0) {
        for (cmsghdr* h = CMSG_FIRSTHDR(&m); h; h = CMSG_NXTHDR(&m, h))
          if (h->cmsg_type == SCM_RIGHTS) std::memcpy(&master_, CMSG_DATA(h), sizeof(int));
      }
      ::close(c);
    });
  }
  ~ConsoleSocket() {
    ::shutdown(fd_, SHUT_RDWR);
    if (thread_.joinable()) thread_.join();
    ::close(fd_);
    if (master_ >= 0) ::close(master_);
    ::unlink(path_.c_str());
  }
  int master() {
    if (thread_.joinable()) thread_.join();
    return master_;
  }

 private:
  std::string path_;
  int fd_ = -1;
  int master_ = -1;
  std::thread thread_;
};

// Reads from fd until `want` appears (or the timeout); returns what was read.
std::string readUntil(int fd, const std::string& want, std::chrono::milliseconds timeout) {
  std::string got;
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (got.find(want) == std::string::npos && std::chrono::steady_clock::now() < deadline) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 100) <= 0) continue;
    char buf[4096];
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n <= 0) break;
    got.append(buf, static_cast<size_t>(n));
  }
  return got;
}

TEST_F(KataCtlE2E, ConsoleSocketTerminalFollowsTheWindowSize) {
  auto b = writeBundle("tty1", json::array({"sh"}), true, [](json& s) { s["process"]["terminal"] = true; });
  ConsoleSocket console(dir_ + "/console.sock");
  auto c = ctl({"create", "-b", b, "--console-socket", dir_ + "/console.sock", "tty1"});
  ASSERT_EQ(c.status, 0) << c.err;
  int master = console.master();
  ASSERT_GE(master, 0) << "no pty master arrived on the console socket";
  winsize ws{33, 111, 0, 0};
  ASSERT_EQ(::ioctl(master, TIOCSWINSZ, &ws), 0);
  ASSERT_EQ(ctl({"start", "tty1"}).status, 0);
  std::string cmd = "stty size; tty; echo done-$((1+1))\n";
  ASSERT_EQ(::write(master, cmd.data(), cmd.size()), static_cast<ssize_t>(cmd.size()));
  auto out = readUntil(master, "done-2", std::chrono::seconds(20));
  EXPECT_NE(out.find("33 111"), std::string::npos) << out;
  // The pty is the container's own (its devpts instance), so tty names it.
  EXPECT_NE(out.find("\r\n/dev/pts/0\r\n"), std::string::npos) << out;
  winsize bigger{44, 120, 0, 0};
  ASSERT_EQ(::ioctl(master, TIOCSWINSZ, &bigger), 0);
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  cmd = "stty size; echo done-$((2+2))\n";
  ASSERT_EQ(::write(master, cmd.data(), cmd.size()), static_cast<ssize_t>(cmd.size()));
  out = readUntil(master, "done-4", std::chrono::seconds(20));
  EXPECT_NE(out.find("44 120"), std::string::npos) << out;
  cmd = "exit 9\n";
  ASSERT_EQ(::write(master, cmd.data(), cmd.size()), static_cast<ssize_t>(cmd.size()));
  EXPECT_TRUE(waitFor([] { return status("tty1") == "stopped"; }, std::chrono::seconds(15)));
  EXPECT_EQ(ctl({"delete", "tty1"}).status, 0);
}

// Streams `kata-ctl events` until a line containing `want` arrives (or the timeout), then stops it.
std::string eventsUntil(const std::vector<std::string>& args, const std::string& want, std::chrono::seconds timeout) {
  int p[2];
  if (::pipe2(p, O_CLOEXEC) != 0) return "<pipe>";
  std::vector<std::string> argv = {kataCtlPath()};
  argv.insert(argv.end(), args.begin(), args.end());
  pid_t pid = ::fork();
  if (pid == 0) {
    ::dup2(p[1], 1);
    std::vector<char*> a;
    for (auto& s : argv) a.push_back(s.data());
    a.push_back(nullptr);
    ::execv(argv[0].c_str(), a.data());
    ::_exit(127);
  }
  ::close(p[1]);
  std::string got = readUntil(p[0], want, timeout);
  ::kill(pid, SIGTERM);
  ::waitpid(pid, nullptr, 0);
  ::close(p[0]);
  return got;
}

TEST_F(KataCtlE2E, OomKillIsStreamedAsAnEvent) {
  auto b = writeBundle("oom1", json::array({"sh", "-c", "sleep 2; dd if=/dev/zero of=/dev/null bs=100M count=1; sleep 1000"}), true,
                       [](json& s) { s["linux"]["resources"]["memory"]["limit"] = 32 * 1024 * 1024; });
  ASSERT_EQ(createTo(b, "oom1", dir_ + "/oom1.out").status, 0) << readOrEmpty(dir_ + "/oom1.out");
  ASSERT_EQ(ctl({"start", "oom1"}).status, 0);
  auto got = eventsUntil({"--root", stateRoot(), "--config", config(), "events", "--interval", "1s", "oom1"},
                         "\"type\":\"oom\"", std::chrono::seconds(60));
  EXPECT_NE(got.find("{\"id\":\"oom1\",\"type\":\"oom\"}"), std::string::npos) << got;
  EXPECT_NE(got.find("\"type\":\"stats\""), std::string::npos) << "stats every interval: " << got;
  EXPECT_EQ(ctl({"delete", "--force", "oom1"}).status, 0);
}

TEST_F(KataCtlE2E, HooksRunAtTheirLifecyclePointsWithTheState) {
  const std::string hooks = dir_ + "/hooks";
  fs::create_directories(hooks);
  auto hook = [&](const std::string& phase) {
    return json{{"path", "/bin/sh"},
                {"args", {"sh", "-c", "cat > " + hooks + "/" + phase + ".json; echo " + phase + " >> " + hooks + "/order"}},
                {"env", {"PATH=/usr/bin:/bin"}}};
  };
  auto b = writeBundle("h1", json::array({"sh", "-c", "sleep 1"}), true, [&](json& s) {
    for (const char* p : {"prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"})
      s["hooks"][p] = json::array({hook(p)});
  });
  ASSERT_EQ(createTo(b, "h1", dir_ + "/h1.out").status, 0) << readOrEmpty(dir_ + "/h1.out");
  for (const char* p : {"prestart", "createRuntime", "createContainer"}) EXPECT_TRUE(fs::exists(hooks + "/" + p + ".json")) << p;
  EXPECT_FALSE(fs::exists(hooks + "/startContainer.json"));
  ASSERT_EQ(ctl({"start", "h1"}).status, 0);
  EXPECT_TRUE(fs::exists(hooks + "/startContainer.json"));
  EXPECT_TRUE(fs::exists(hooks + "/poststart.json"));
  ASSERT_TRUE(waitFor([] { return status("h1") == "stopped"; }, std::chrono::seconds(15)));
  EXPECT_FALSE(fs::exists(hooks + "/poststop.json"));
  ASSERT_EQ(ctl({"delete", "h1"}).status, 0);
  ASSERT_TRUE(fs::exists(hooks + "/poststop.json"));
  auto st = json::parse(readOrEmpty(hooks + "/createRuntime.json"));
  EXPECT_EQ(st["id"], "h1");
  EXPECT_EQ(st["bundle"], b);
  EXPECT_GT(st["pid"].get<int>(), 0);
  EXPECT_EQ(json::parse(readOrEmpty(hooks + "/poststop.json"))["status"], "stopped");
  EXPECT_EQ(readOrEmpty(hooks + "/order"),
            "prestart\ncreateRuntime\ncreateContainer\nstartContainer\npoststart\npoststop\n");
}

TEST_F(KataCtlE2E, AFailedCreateLeavesNothingBehind) {
  // A sandbox of its own (a VM boot), failing at its last step: the createRuntime hook.
  auto b = writeBundle("fail1", json::array({"true"}), false, [](json& s) {
    s["hooks"]["createRuntime"] = json::array({{{"path", "/bin/false"}}});
  });
  const size_t vmsBefore = countEntries(vmmdDir() + "/state/vms");
  auto r = ctl({"create", "-b", b, "--pid-file", dir_ + "/fail1.pid", "fail1"});
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.err.find("createRuntime hook #0 (/bin/false) failed"), std::string::npos) << r.err;
  EXPECT_EQ(ctl({"state", "fail1"}).status, 1);
  EXPECT_FALSE(fs::exists(dir_ + "/fail1.pid"));
  EXPECT_EQ(countEntries(vmmdDir() + "/state/vms"), vmsBefore) << "its VM is gone";
  EXPECT_FALSE(fs::exists(vmmdDir() + "/state/shares/fail1"));
  EXPECT_FALSE(fs::exists(stateRoot() + "/.run/fail1"));
  EXPECT_FALSE(fs::exists(stateRoot() + "/.sandboxes/fail1"));
  EXPECT_EQ(readFile("/proc/self/mountinfo", 1 << 20).find("/shares/fail1/"), std::string::npos);
}

TEST_F(KataCtlE2E, AnOrdinaryUserRunsAContainerWithStateUnderXdgRuntimeDir) {
  const std::string xdg = dir_ + "/xdg";
  fs::create_directories(xdg);
  ASSERT_EQ(::chown(xdg.c_str(), kUser, kUser), 0);
  ASSERT_EQ(::chmod(xdg.c_str(), 0700), 0);
  auto b = writeBundle("user1", json::array({"sh", "-c", "echo hello from $(id -u) in a VM; exit 4"}), false,
                       [](json& s) { s["root"]["readonly"] = true; });
  struct group* g = ::getgrnam("kata-dev");
  ASSERT_NE(g, nullptr) << "private-vmmd.sh makes the socket's group";
  RunOptions o;
  o.uid = kUser;
  o.gid = kUser;
  o.groups = {g->gr_gid};
  o.env = {"XDG_RUNTIME_DIR=" + xdg};
  auto r = runProgramWith(kataCtlPath(), {"--config", config(), "run", "-b", b, "user1"}, o);
  EXPECT_EQ(r.status, 4) << r.err;
  EXPECT_NE(r.out.find("hello from 0 in a VM"), std::string::npos) << r.out << r.err;
  EXPECT_TRUE(fs::exists(xdg + "/kata-ctl")) << "state under $XDG_RUNTIME_DIR/kata-ctl";
  EXPECT_EQ(countEntries(xdg + "/kata-ctl/.sandboxes"), 0u) << "and nothing left in it";
  // The other user's sandbox is invisible to it.
  auto theirs = runProgramWith(kataCtlPath(), {"--config", config(), "--root", stateRoot(), "kill", "pod", "KILL"}, o);
  EXPECT_NE(theirs.status, 0);
  EXPECT_EQ(status("pod"), "running");
}

TEST_F(KataCtlE2E, TheSandboxApiExampleRunsAPodInProcess) {
  // docs/examples/sandbox_shim_example.cc: a CRI shim's use of the library, holding the agent
  // channel itself (no monitor), with library-made pipes; its own VM.
  auto b = writeBundle("api1", json::array({"sh", "-c", "echo hello through the Sandbox API; exit 3"}), false);
  auto r = runProgram(std::string(KATA_BINARY_DIR) + "/bin/kata-sandbox-example",
                      {vmmdDir() + "/vmmd.sock", b, std::string(KATA_BINARY_DIR) + "/guest"});
  EXPECT_EQ(r.status, 3) << r.err;
  EXPECT_EQ(r.out, "hello through the Sandbox API\napp exited with 3\n") << r.err;
  EXPECT_FALSE(fs::exists(vmmdDir() + "/state/vms/example-pod")) << "the example's VM is gone";
}

// A pod namespace as an engine's CNI plugins make it: Debian's bridge + host-local plugins, the
// bridge in a "host side" namespace this object owns (the machine's own network is untouched).
class CniPod {
 public:
  struct Attachment {
    json result;     // the plugin's answer
    std::string v4, v6, gw4, gw6;
  };

  CniPod(const std::string& tag, const std::string& dir)
      : tag_(tag), dir_(dir), hostNs_("kh" + tag), podNs_("kp" + tag) {
    ok_ = sh("ip netns add " + hostNs_ + " && ip netns add " + podNs_ + " && ip -n " + hostNs_ + " link set lo up").status == 0;
  }
  ~CniPod() {
    for (const auto& [ifname, conf] : added_) plugin("DEL", ifname, conf);
    sh("ip netns del " + podNs_ + "; ip netns del " + hostNs_);
  }
  bool ok() const { return ok_; }
  const std::string& hostNs() const { return hostNs_; }
  const std::string& podNs() const { return podNs_; }
  std::string podPath() const { return "/run/netns/" + podNs_; }

  // Runs CNI ADD for a bridge network `n` (10.<n>.0.0/24, fd00:<n>::/64, default routes of both
  // families) with the pod's interface `ifname`; returns its addresses and gateways.
  Attachment add(int n, const std::string& ifname, bool defaultRoutes) {
    json ipam = {{"type", "host-local"},
                 {"ranges", {{{{"subnet", "10." + std::to_string(n) + ".0.0/24"}}},
                             {{{"subnet", "fd00:" + std::to_string(n) + "::/64"}}}}},
                 {"dataDir", dir_ + "/cni"}};
    if (defaultRoutes) ipam["routes"] = {{{"dst", "0.0.0.0/0"}}, {{"dst", "::/0"}}};
    json conf = {{"cniVersion", "1.0.0"}, {"name", "kctl" + tag_ + "n" + std::to_string(n)}, {"type", "bridge"},
                 {"bridge", "kbr" + tag_ + "n" + std::to_string(n)}, {"isGateway", true}, {"ipMasq", false}, {"ipam", ipam}};
    auto out = plugin("ADD", ifname, conf.dump());
    Attachment a;
    if (out.status != 0 || out.out.find('{') == std::string::npos) {
      ADD_FAILURE() << "CNI ADD " << ifname << ": " << out.out;
      return a;
    }
    added_.emplace_back(ifname, conf.dump());
    a.result = json::parse(out.out.substr(out.out.find('{')));
    for (const auto& ip : a.result["ips"]) {
      std::string addr = ip["address"].get<std::string>();
      addr = addr.substr(0, addr.find('/'));
      bool v6 = addr.find(':') != std::string::npos;
      (v6 ? a.v6 : a.v4) = addr;
      (v6 ? a.gw6 : a.gw4) = ip["gateway"].get<std::string>();
    }
    // The host side's IPv6 addresses must be past DAD before servers bind to them.
    EXPECT_TRUE(waitFor([&] { return sh("ip -n " + hostNs_ + " -6 addr show tentative").out.empty(); },
                        std::chrono::seconds(10)));
    return a;
  }

  static RunResult sh(const std::string& c) { return runProgram("/bin/sh", {"-c", c + " 2>&1"}); }
  RunResult inHost(const std::string& c) const { return sh("ip netns exec " + hostNs_ + " " + c); }

 private:
  RunResult plugin(const std::string& cmd, const std::string& ifname, const std::string& conf) {
    std::string file = dir_ + "/cni-" + ifname + ".json";
    std::ofstream(file) << conf;
    return sh("CNI_COMMAND=" + cmd + " CNI_CONTAINERID=n" + tag_ + " CNI_NETNS=" + podPath() + " CNI_IFNAME=" + ifname +
              " CNI_PATH=/usr/lib/cni ip netns exec " + hostNs_ + " /usr/lib/cni/bridge < " + file);
  }
  std::string tag_, dir_, hostNs_, podNs_;
  bool ok_ = false;
  std::vector<std::pair<std::string, std::string>> added_;  // ifname, config
};

// The pod network (issue 6): a CNI pod namespace; kata-ctl carries it into the VM; TCP works both
// ways over IPv4 and IPv6; nothing of the runtime's is left in the namespace after delete. Its own VM.
TEST_F(KataCtlE2E, ThePodsCniNetworkReachesTheContainerBothWaysBothFamilies) {
  ASSERT_TRUE(fs::exists("/usr/lib/cni/bridge")) << "needs containernetworking-plugins (scripts/setup.sh installs it)";
  const std::string tag = std::to_string(::getpid() % 100000);
  CniPod pod(tag, dir_);
  ASSERT_TRUE(pod.ok());
  auto sh = CniPod::sh;
  const std::string podNs = pod.podNs(), podPath = pod.podPath();
  CniPod::Attachment net = pod.add(79, "eth0", true);
  const std::string v4 = net.v4, v6 = net.v6, gw4 = net.gw4, gw6 = net.gw6;
  ASSERT_FALSE(v4.empty());
  ASSERT_FALSE(v6.empty());

  auto b = writeBundle("net1", json::array({"sh", "-c", "while true; do echo served-by-the-guest | nc -l -p 8080; done"}),
                       false, [&](json& spec) {
                         for (auto& ns : spec["linux"]["namespaces"])
                           if (ns["type"] == "network") ns["path"] = podPath;
                       });
  ASSERT_EQ(createTo(b, "net1", dir_ + "/net1.out").status, 0) << readOrEmpty(dir_ + "/net1.out");
  ASSERT_EQ(ctl({"start", "net1"}).status, 0);

  // The guest looks like the pod's namespace: same MAC and addresses on eth0.
  std::string podMac = sh("ip -n " + podNs + " -o link show eth0").out;
  auto inGuest = ctl({"exec", "net1", "ip", "addr", "show", "eth0"});
  EXPECT_NE(inGuest.out.find(v4 + "/24"), std::string::npos) << inGuest.out;
  EXPECT_NE(inGuest.out.find(v6 + "/64"), std::string::npos) << inGuest.out;
  auto mac = inGuest.out.substr(inGuest.out.find("link/ether ") + 11, 17);
  EXPECT_NE(podMac.find(mac), std::string::npos) << podMac << " vs " << inGuest.out;

  // Its routes too: the default routes CNI gave, one per family.
  auto routes4 = ctl({"exec", "net1", "ip", "route"}), routes6 = ctl({"exec", "net1", "ip", "-6", "route"});
  EXPECT_NE(routes4.out.find("default via " + gw4 + " dev eth0"), std::string::npos) << routes4.out;
  EXPECT_NE(routes6.out.find("default via " + gw6 + " dev eth0"), std::string::npos) << routes6.out;

  // Host side → container, both families.
  auto served = [&](const std::string& addr) {
    return pod.inHost("busybox nc -w 5 " + addr + " 8080 </dev/null").out;
  };
  EXPECT_TRUE(waitFor([&] { return served(v4).find("served-by-the-guest") != std::string::npos; }, std::chrono::seconds(20)));
  EXPECT_TRUE(waitFor([&] { return served(v6).find("served-by-the-guest") != std::string::npos; }, std::chrono::seconds(20)));

  // Container → host side, both families (the bridge's addresses are the gateways).
  for (const std::string& gw : {gw4, gw6}) {
    std::thread server([&] { pod.inHost("timeout 30 busybox nc -l -p 9090 > " + dir_ + "/got." + tag); });
    // The client retries until the server listens (connection refused before that).
    auto sent = ctl({"exec", "net1", "sh", "-c",
                     "for i in $(seq 40); do echo from-the-container | nc -w 5 " + gw + " 9090 && exit 0; sleep 0.5; done; exit 1"});
    server.join();
    EXPECT_EQ(sent.status, 0) << sent.err;
    EXPECT_EQ(readOrEmpty(dir_ + "/got." + tag), "from-the-container\n") << "to " << gw;
  }

  EXPECT_EQ(ctl({"delete", "--force", "net1"}).status, 0);
  // Nothing of the runtime's is left in the pod's namespace: only lo and the CNI veth, no qdisc.
  auto links = sh("ip -n " + podNs + " -o link show").out;
  EXPECT_EQ(std::count(links.begin(), links.end(), '\n'), 2) << links;
  EXPECT_EQ(sh("tc -n " + podNs + " qdisc show dev eth0").out.find("ingress"), std::string::npos);
}

// The Sandbox API on a running pod (a CRI shim's path for a network added after the pod started):
// a second CNI network lands in the pod's namespace; addInterface hot-plugs its NIC, the guest has
// its address and on-link route and answers on it; removeInterface unplugs it and leaves the pod's
// namespace as CNI made it. Its own VM, held by this process (no monitor).
TEST_F(KataCtlE2E, TheSandboxApiHotPlugsAndRemovesAPodInterface) {
  const std::string tag = std::to_string(::getpid() % 100000 + 1);
  CniPod pod(tag, dir_);
  ASSERT_TRUE(pod.ok());
  CniPod::Attachment first = pod.add(83, "eth0", true);
  ASSERT_FALSE(first.v4.empty());

  sandbox::EventLoop loop;
  sandbox::VmmdVmFactory factory(loop, vmmdDir() + "/vmmd.sock");
  store::FsMetadataStore records(dir_ + "/api-net/records");
  Logger log(LogOptions{"", LogFormat::kText, LogLevel::kWarn, "test"});
  sandbox::SandboxEnv env{loop, factory, records, dir_ + "/api-net/run", log};
  sandbox::SandboxConfig config;
  config.id = "api-net";
  config.memoryMiB = 512;
  config.guestImageDir = std::string(KATA_BINARY_DIR) + "/guest";
  config.netnsPath = pod.podPath();
  auto sb = sandbox::createSandbox(env, config);
  sb->start();
  // The guest kernel answers ICMP itself: no container is needed to see the NICs work.
  auto pings = [&](const std::string& addr) {
    return waitFor([&] { return pod.inHost("busybox ping -c 1 -W 2 " + addr).status == 0; }, std::chrono::seconds(20));
  };
  EXPECT_TRUE(pings(first.v4));

  CniPod::Attachment second = pod.add(84, "eth1", false);
  ASSERT_FALSE(second.v4.empty());
  sandbox::Interface want;
  want.name = "eth1";
  sandbox::Interface got = sb->addInterface(want);
  EXPECT_EQ(got.name, "eth1");
  EXPECT_NE(CniPod::sh("ip -n " + pod.podNs() + " -o link show eth1").out.find(got.mac), std::string::npos) << got.mac;
  bool hasAddress = false;
  for (const auto& i : sb->listInterfaces())
    if (i.name == "eth1")
      for (const auto& a : i.addresses) hasAddress = hasAddress || a.first == second.v4;
  EXPECT_TRUE(hasAddress) << "eth1 lacks " << second.v4;
  bool onLink = false, defaultKept = false;
  for (const auto& r : sb->listRoutes()) {
    onLink = onLink || (r.destination == "10.84.0.0/24" && r.device == "eth1");
    defaultKept = defaultKept || (r.destination == "default" && r.gateway == first.gw4);
  }
  EXPECT_TRUE(onLink);
  EXPECT_TRUE(defaultKept) << "the hot-plug replaced eth0's default route";
  EXPECT_TRUE(pings(second.v4));
  EXPECT_TRUE(pings(second.v6));

  sb->removeInterface(want);
  for (const auto& i : sb->listInterfaces()) EXPECT_NE(i.name, "eth1");
  // (The pod namespace itself answers on eth1's address again: CNI's veth keeps it.)
  for (const auto& r : sb->listRoutes()) EXPECT_NE(r.device, "eth1") << r.destination;
  EXPECT_EQ(CniPod::sh("tc -n " + pod.podNs() + " qdisc show dev eth1").out.find("ingress"), std::string::npos);
  EXPECT_TRUE(pings(first.v4)) << "eth0 stopped working";
  sb->stop(true);
  sb->deleteSandbox();
  EXPECT_FALSE(fs::exists(vmmdDir() + "/state/vms/api-net"));
  auto links = CniPod::sh("ip -n " + pod.podNs() + " -o link show").out;
  EXPECT_EQ(std::count(links.begin(), links.end(), '\n'), 3) << links;  // lo and CNI's two veths
}

}  // namespace
}  // namespace kata::test
