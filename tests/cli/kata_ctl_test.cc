// kata-ctl driven as an engine drives runc: argv in, stdout/stderr/exit status out, state under a
// temporary --root. Where runc can produce the same output without side effects, it runs too and
// the outputs are compared.
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "runtime/state/container_store.h"
#include "runtime/store/fs_store.h"
#include "tests/support/run_support.h"

namespace kata::test {
namespace {

namespace fs = std::filesystem;

// The msg of the last logfmt line of stderr (runc's and ours), unescaped.
std::string logMsg(const std::string& err) {
  auto pos = err.rfind("msg=\"");
  if (pos == std::string::npos) return "<no msg in: " + err + ">";
  std::string out;
  for (size_t i = pos + 5; i < err.size(); ++i) {
    if (err[i] == '\\' && i + 1 < err.size()) {
      char c = err[++i];
      out += c == 'n' ? '\n' : c;
    } else if (err[i] == '"') {
      break;
    } else {
      out += err[i];
    }
  }
  return out;
}

std::string replaceAll(std::string s, const std::string& from, const std::string& to) {
  if (from.empty()) return s;
  for (size_t p = 0; (p = s.find(from, p)) != std::string::npos; p += to.size()) s.replace(p, from.size(), to);
  return s;
}

class KataCtl : public ::testing::Test {
 protected:
  // No kata-vmmd runs for this tier: the configuration names a socket nobody listens on, so every
  // path that needs a VM fails at the same, known point.
  void SetUp() override {
    std::ofstream(config()) << "[runtime]\nvmmd_socket = \"" << vmmdSocket() << "\"\n";
  }
  std::string config() const { return configDir_.path() + "/kata-ctl.toml"; }
  std::string vmmdSocket() const { return root_.path() + "/no-vmmd.sock"; }
  RunResult ctl(std::vector<std::string> args, const std::string& input = "", const std::string& cwd = "") {
    args.insert(args.begin(), {"--root", root_.path(), "--config", config()});
    return runProgram(kataCtlPath(), args, input, cwd);
  }
  RunResult runc(std::vector<std::string> args, const std::string& cwd = "") {
    args.insert(args.begin(), {"--root", runcRoot_.path()});
    return runProgram(runcPath(), args, "", cwd);
  }
  bool haveRunc() { return !runcPath().empty(); }

  // Our message with our program path replaced, and runc's likewise, must be equal.
  void expectSameError(const std::vector<std::string>& args) {
    auto ours = ctl(args);
    auto theirs = runc(args);
    EXPECT_EQ(ours.status, theirs.status) << ours.err << "\n" << theirs.err;
    EXPECT_EQ(replaceAll(logMsg(ours.err), kataCtlPath(), "PROG"), replaceAll(logMsg(theirs.err), runcPath(), "PROG"));
    // Usage errors print "Incorrect Usage..." and the command's help on stdout, as runc does.
    auto firstLine = [](const std::string& s) { return s.substr(0, s.find('\n')); };
    EXPECT_EQ(firstLine(ours.out), firstLine(theirs.out));
  }

  state::ContainerStore store() {
    return state::ContainerStore(std::make_unique<store::FsMetadataStore>(root_.path()));
  }
  state::ContainerState seed(const std::string& id, state::ContainerStatus status, int pid,
                             nlohmann::json extra = nlohmann::json::object()) {
    state::ContainerState s;
    s.id = id;
    s.pid = pid;
    s.status = status;
    s.bundle = bundle_.path();
    s.rootfs = bundle_.path() + "/rootfs";
    s.created = std::chrono::system_clock::now();
    s.owner = "root";
    s.extra = std::move(extra);
    store().create(s);
    return s;
  }
  // A pid that certainly names no process: a child that has exited and been reaped.
  static int deadPid() {
    pid_t p = fork();
    if (p == 0) _exit(0);
    int st;
    waitpid(p, &st, 0);
    return p;
  }
  void writeBundle(bool terminal, bool withRootfs = true) {
    fs::remove(bundle_.path() + "/config.json");
    auto r = runProgram(kataCtlPath(), {"spec", "-b", bundle_.path()});
    ASSERT_EQ(r.status, 0) << r.err;
    auto path = bundle_.path() + "/config.json";
    auto j = nlohmann::json::parse(readWhole(path));
    j["process"]["terminal"] = terminal;
    std::ofstream(path) << j.dump();
    if (withRootfs) fs::create_directories(bundle_.path() + "/rootfs");
  }

  TempDir root_;
  TempDir configDir_;
  TempDir runcRoot_;
  TempDir bundle_;
};

TEST_F(KataCtl, VersionLines) {
  for (const char* flag : {"--version", "-v"}) {
    auto r = ctl({flag});
    EXPECT_EQ(r.status, 0);
    EXPECT_EQ(r.out.rfind("kata-ctl version 0.1.0\ncommit: ", 0), 0u) << r.out;
    EXPECT_NE(r.out.find("\nspec: 1.2.0\n"), std::string::npos) << r.out;
  }
}

TEST_F(KataCtl, UsageErrorsMatchRunc) {
  if (!haveRunc()) GTEST_SKIP() << "runc is not installed";
  for (auto args : std::vector<std::vector<std::string>>{
           {"state"}, {"state", "a", "b"}, {"kill"}, {"kill", "a", "b", "c"}, {"list", "extra"},
           {"spec", "extra"}, {"features", "x"}, {"delete"}, {"exec"}, {"start"}, {"create"}, {"run"},
           {"pause"}, {"resume"}, {"ps"}, {"events"}, {"update"}, {"state", "--foo", "x"}, {"--foo", "state", "x"},
           {"kill", "-9", "x"}, {"exec", "-dt", "x", "ls"}, {"events", "--interval", "5x", "x"},
           {"create", "--preserve-fds", "x", "id"}, {"list", "--format"}, {"nosuchcmd"}}) {
    SCOPED_TRACE(::testing::PrintToString(args));
    expectSameError(args);
  }
}

TEST_F(KataCtl, MissingContainerMatchesRunc) {
  if (!haveRunc()) GTEST_SKIP() << "runc is not installed";
  for (auto args : std::vector<std::vector<std::string>>{
           {"state", "nosuch"}, {"kill", "nosuch"}, {"kill", "nosuch", "FOO"}, {"delete", "nosuch"},
           {"start", "nosuch"}, {"pause", "nosuch"}, {"resume", "nosuch"}, {"ps", "nosuch"},
           {"events", "nosuch"}, {"update", "nosuch"}, {"exec", "nosuch", "ls"}, {"state", "bad/id"},
           {"state", ".."}, {"delete", "-f", "bad/id"}, {"list", "-f", "yaml"}}) {
    SCOPED_TRACE(::testing::PrintToString(args));
    expectSameError(args);
  }
  auto r = ctl({"delete", "--force", "nosuch"});
  EXPECT_EQ(r.status, 0) << r.err;
}

TEST_F(KataCtl, ErrorGoesToLogAndPlainToStderrLikeRunc) {
  const std::string log = root_.path() + "-log.json";
  auto r = runProgram(kataCtlPath(), {"--root", root_.path(), "--log", log, "--log-format", "json", "state", "nosuch"});
  EXPECT_EQ(r.status, 1);
  EXPECT_EQ(r.err, "container does not exist\n");
  EXPECT_EQ(r.out, "");
  std::string text = readWhole(log);
  fs::remove(log);
  ASSERT_FALSE(text.empty());
  EXPECT_EQ(text.back(), '\n');
  auto j = nlohmann::json::parse(text);
  EXPECT_EQ(j["level"], "error");
  EXPECT_EQ(j["msg"], "container does not exist");
  EXPECT_EQ(j["component"], "kata-ctl");
  EXPECT_EQ(j["container"], "nosuch");
  EXPECT_TRUE(j["time"].is_string());
  if (haveRunc()) {
    const std::string rlog = runcRoot_.path() + "-log.json";
    auto theirs = runProgram(runcPath(), {"--root", runcRoot_.path(), "--log", rlog, "--log-format", "json", "state", "nosuch"});
    auto rj = nlohmann::json::parse(readWhole(rlog));
    fs::remove(rlog);
    EXPECT_EQ(theirs.err, r.err);
    EXPECT_EQ(rj["msg"], j["msg"]);
    EXPECT_EQ(rj["level"], j["level"]);
  }
  // Without --log the JSON line goes to stderr.
  auto s = ctl({"--log-format", "json", "state", "nosuch"});
  EXPECT_EQ(nlohmann::json::parse(s.err)["msg"], "container does not exist");
  auto bad = ctl({"--log-format", "xml", "list"});
  EXPECT_EQ(bad.status, 1);
  EXPECT_NE(logMsg(bad.err).find("invalid log-format: xml"), std::string::npos);
}

TEST_F(KataCtl, EmptyListIsRuncsByteForByte) {
  for (auto args : std::vector<std::vector<std::string>>{{"list"}, {"list", "-f", "json"}, {"list", "--format=json"},
                                                         {"list", "-q"}, {"-root", "ROOT", "list"}}) {
    SCOPED_TRACE(::testing::PrintToString(args));
    // "-root": Go's single-dash spelling of a long flag, which engines may use.
    auto ours = args[0] == "-root" ? runProgram(kataCtlPath(), {"-root", root_.path(), "list"}) : ctl(args);
    EXPECT_EQ(ours.status, 0) << ours.err;
    if (haveRunc()) {
      auto theirs = args[0] == "-root" ? runProgram(runcPath(), {"-root", runcRoot_.path(), "list"}) : runc(args);
      EXPECT_EQ(ours.out, theirs.out);
    }
  }
  EXPECT_EQ(ctl({"list", "-f", "json"}).out, "null\n");
  EXPECT_EQ(ctl({"list"}).out, "ID          PID         STATUS      BUNDLE      CREATED     OWNER\n");
  // A --root that does not exist lists nothing and is not created.
  auto missing = runProgram(kataCtlPath(), {"--root", root_.path() + "/none", "list", "-q"});
  EXPECT_EQ(missing.status, 0);
  EXPECT_FALSE(fs::exists(root_.path() + "/none"));
}

TEST_F(KataCtl, SpecIsRuncsByteForByteAndNeverOverwrites) {
  TempDir ours, theirs;
  for (bool rootless : {false, true}) {
    std::vector<std::string> args{"spec"};
    if (rootless) args.push_back("--rootless");
    fs::remove(ours.path() + "/config.json");
    fs::remove(theirs.path() + "/config.json");
    auto r = runProgram(kataCtlPath(), args, "", ours.path());
    ASSERT_EQ(r.status, 0) << r.err;
    if (haveRunc()) {
      ASSERT_EQ(runProgram(runcPath(), args, "", theirs.path()).status, 0);
      EXPECT_EQ(readWhole(ours.path() + "/config.json"), readWhole(theirs.path() + "/config.json"));
    }
  }
  std::string before = readWhole(ours.path() + "/config.json");
  auto again = runProgram(kataCtlPath(), {"spec", "-b", ours.path()});
  EXPECT_EQ(again.status, 1);
  EXPECT_EQ(logMsg(again.err), "File config.json exists. Remove it first");
  EXPECT_EQ(readWhole(ours.path() + "/config.json"), before);
  auto nodir = runProgram(kataCtlPath(), {"spec", "-b", ours.path() + "/nope"});
  EXPECT_EQ(nodir.status, 1);
  EXPECT_EQ(logMsg(nodir.err), "chdir " + ours.path() + "/nope: no such file or directory");
}

TEST_F(KataCtl, FeaturesHasRuncsShapeAndRealLists) {
  auto r = ctl({"features"});
  ASSERT_EQ(r.status, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["ociVersionMax"], "1.2.0");
  auto archs = j["linux"]["seccomp"]["archs"];
  EXPECT_NE(std::find(archs.begin(), archs.end(), "SCMP_ARCH_X86_64"), archs.end());
  auto caps = j["linux"]["capabilities"];
  EXPECT_NE(std::find(caps.begin(), caps.end(), "CAP_SYS_ADMIN"), caps.end());
  EXPECT_EQ(j["linux"]["cgroup"]["systemd"], false);
  if (haveRunc()) {
    auto theirs = nlohmann::json::parse(runProgram(runcPath(), {"features"}).out);
    for (const auto& [k, _] : theirs.items()) EXPECT_TRUE(j.contains(k)) << k;
    for (const auto& [k, _] : theirs["linux"].items()) EXPECT_TRUE(j["linux"].contains(k)) << k;
    EXPECT_EQ(j["linux"]["seccomp"]["operators"], theirs["linux"]["seccomp"]["operators"]);
    EXPECT_EQ(j["linux"]["seccomp"].size(), theirs["linux"]["seccomp"].size());
  }
}

TEST_F(KataCtl, StateAndListOfStoredContainersWithLiveStatus) {
  auto alive = seed("alive", state::ContainerStatus::kRunning, getpid());
  auto gone = seed("gone", state::ContainerStatus::kCreated, deadPid());
  auto r = ctl({"state", "alive"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, state::runcStateJson(alive));
  auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["status"], "running");
  EXPECT_EQ(j["pid"], getpid());
  EXPECT_EQ(j["owner"], "");
  auto g = nlohmann::json::parse(ctl({"state", "gone"}).out);
  EXPECT_EQ(g["status"], "stopped");  // its process is gone
  EXPECT_EQ(g["pid"], 0);
  EXPECT_EQ(ctl({"list", "-q"}).out, "alive\ngone\n");
  auto list = nlohmann::json::parse(ctl({"list", "--format", "json"}).out);
  ASSERT_EQ(list.size(), 2u);
  EXPECT_EQ(list[0]["id"], "alive");
  EXPECT_EQ(list[1]["status"], "stopped");
  EXPECT_EQ(list[1]["owner"], "root");
  auto table = ctl({"list"}).out;
  EXPECT_EQ(table.substr(0, table.find('\n')).rfind("ID", 0), 0u);
  EXPECT_NE(table.find("gone        0           stopped"), std::string::npos) << table;
}

TEST_F(KataCtl, DeleteStoppedRunsPoststopHooksAndRemovesState) {
  const std::string out = bundle_.path() + "/hook-stdin";
  nlohmann::json hooks = {{"poststop", {{{"path", "/bin/sh"}, {"args", {"sh", "-c", "cat > " + out}}}}}};
  seed("done", state::ContainerStatus::kStopped, 0, {{"hooks", hooks}});
  auto r = ctl({"delete", "done"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_FALSE(store().exists("done"));
  auto hookState = nlohmann::json::parse(readWhole(out));
  EXPECT_EQ(hookState["id"], "done");
  EXPECT_EQ(hookState["status"], "stopped");
  EXPECT_EQ(ctl({"state", "done"}).status, 1);
  // A failing poststop hook is a warning; the container is deleted all the same.
  seed("done2", state::ContainerStatus::kCreated, deadPid(),
       {{"hooks", {{"poststop", {{{"path", "/bin/false"}}}}}}});
  auto w = ctl({"delete", "done2"});
  EXPECT_EQ(w.status, 0);
  EXPECT_NE(w.err.find("level=warning"), std::string::npos) << w.err;
  EXPECT_FALSE(store().exists("done2"));
}

TEST_F(KataCtl, DeleteOfALiveContainerFailsUnlessForced) {
  // The recorded pid is alive (it is this test) but no shim of kata-ctl's: --force removes the
  // container and must not signal that pid.
  seed("busy", state::ContainerStatus::kRunning, getpid());
  auto r = ctl({"delete", "busy"});
  EXPECT_EQ(r.status, 1);
  EXPECT_EQ(logMsg(r.err), "cannot delete container busy that is not stopped: running");
  EXPECT_TRUE(store().exists("busy"));
  auto f = ctl({"delete", "-f", "busy"});
  EXPECT_EQ(f.status, 0) << f.err;
  EXPECT_FALSE(store().exists("busy"));
}

TEST_F(KataCtl, CreateValidatesTheBundleLikeRuncThenNeedsKataVmmd) {
  auto stripped = [](const RunResult& r, const std::string& prefix) {
    auto m = logMsg(r.err);
    return m.rfind(prefix, 0) == 0 ? m.substr(prefix.size()) : "<" + m + ">";
  };
  auto compare = [&](std::vector<std::string> args) {
    auto ours = ctl(args);
    EXPECT_EQ(ours.status, 1);
    if (!haveRunc()) return stripped(ours, "kata-ctl " + args[0] + " failed: ");
    auto theirs = runc(args);
    EXPECT_EQ(theirs.status, 1);
    EXPECT_EQ(replaceAll(stripped(ours, "kata-ctl " + args[0] + " failed: "), bundle_.path(), "B"),
              replaceAll(stripped(theirs, "runc " + args[0] + " failed: "), bundle_.path(), "B"));
    return stripped(ours, "kata-ctl " + args[0] + " failed: ");
  };
  const std::string b = bundle_.path();
  EXPECT_EQ(compare({"create", "-b", b, "c1"}), "JSON specification file config.json not found");
  compare({"create", "-b", b + "/nope", "c1"});
  writeBundle(/*terminal=*/true, /*withRootfs=*/false);
  EXPECT_EQ(compare({"create", "-b", b, "c1"}), "invalid rootfs: stat " + b + "/rootfs: no such file or directory");
  fs::create_directories(b + "/rootfs");
  EXPECT_EQ(compare({"create", "-b", b, "bad/id"}), "invalid container ID format");
  compare({"create", "--bundle", b, "c1"});
  compare({"create", "-b", b, "--pid-file", b + "/pid", "c1"});
  writeBundle(/*terminal=*/false);
  EXPECT_EQ(compare({"create", "-b", b, "--console-socket", b + "/sock", "c1"}),
            "cannot use console socket if runc will not detach or allocate tty");

  // A valid bundle gets to the point where the VM is needed, and leaves nothing behind.
  auto r = ctl({"create", "-b", b, "--pid-file", b + "/pid", "--no-pivot", "--no-new-keyring", "--preserve-fds",
                "0", "c1"});
  EXPECT_EQ(r.status, 1);
  EXPECT_EQ(logMsg(r.err).rfind("kata-ctl create failed: cannot reach kata-vmmd at " + vmmdSocket() + ": ", 0), 0u)
      << r.err;
  EXPECT_EQ(ctl({"list", "-q"}).out, "");
  EXPECT_FALSE(fs::exists(b + "/pid"));
  auto run = ctl({"run", "-d", "--keep", "--no-subreaper", "-b", b, "c1"});
  EXPECT_EQ(run.status, 1);
  EXPECT_NE(logMsg(run.err).find("kata-ctl run failed: cannot reach kata-vmmd"), std::string::npos) << run.err;
  EXPECT_EQ(ctl({"list", "-q"}).out, "");
  for (const char* d : {"/.sandboxes", "/.run"}) {
    if (!fs::exists(root_.path() + d)) continue;
    for (const auto& e : fs::directory_iterator(root_.path() + d))
      EXPECT_EQ(e.path().filename().string().front(), '@') << "left behind: " << e.path();
  }

  seed("taken", state::ContainerStatus::kStopped, 0);
  EXPECT_EQ(logMsg(ctl({"create", "-b", b, "taken"}).err),
            "kata-ctl create failed: container with given ID already exists");
}

TEST_F(KataCtl, VerbsOnAStoredContainerCheckStateThenNeedItsSandbox) {
  seed("c", state::ContainerStatus::kCreated, getpid());
  seed("s", state::ContainerStatus::kStopped, 0);
  seed("p", state::ContainerStatus::kPaused, getpid());
  // Seeded containers have no sandbox: a verb that needs the VM says so after its own checks.
  const std::string backend = "has no sandbox (its create did not finish)";
  struct Case {
    std::vector<std::string> args;
    int status;
    std::string msg;  // exact, or a substring when it starts with '~'
  };
  for (const auto& c : std::vector<Case>{
           {{"start", "c"}, 1, "~" + backend},
           {{"start", "s"}, 1, "cannot start a container that has stopped"},
           {{"start", "p"}, 1, "cannot start a container in the paused state"},
           {{"kill", "c", "FOO"}, 1, "unknown signal \"FOO\""},
           {{"kill", "c", "0x9"}, 1, "unknown signal \"0x9\""},
           {{"kill", "c", "KILL"}, 1, "~" + backend},
           {{"kill", "c", "sigusr1"}, 1, "~" + backend},
           {{"kill", "c"}, 1, "~" + backend},
           {{"kill", "--all", "c", "9"}, 1, "~" + backend},
           {{"kill", "s"}, 1, "container not running"},
           {{"pause", "c"}, 1, "~" + backend},
           {{"pause", "s"}, 1, "container not running"},
           {{"resume", "c"}, 1, "container not paused"},
           {{"resume", "p"}, 1, "~" + backend},
           {{"ps", "c"}, 1, "~" + backend},
           {{"ps", "-f", "json", "c"}, 1, "~" + backend},
           {{"ps", "c", "-o", "pid"}, 1, "~ps options other than -ef are not supported"},
           {{"ps", "--format", "yaml", "c"}, 1, "invalid format option"},
           {{"events", "--stats", "--interval", "500ms", "c"}, 1, "~" + backend},
           {{"events", "--interval", "0s", "c"}, 1, "duration interval must be greater than 0"},
           {{"events", "s"}, 1, "container with id s is not running"},
           {{"exec", "c", "ls", "-l"}, 255, "~exec failed: container c " + backend},
           {{"exec", "c"}, 255, "exec failed: process args cannot be empty"},
           {{"exec", "s", "ls"}, 255, "exec failed: cannot exec in a stopped state"},
           {{"exec", "p", "ls"}, 255, "exec failed: cannot exec in a paused state (use --ignore-paused to override)"},
           {{"exec", "--ignore-paused", "p", "ls"}, 255, "~" + backend},
           {{"exec", "-t", "-d", "--cwd", "/", "-e", "A=1", "--env", "B=2", "-u", "0:0", "-g", "1", "-g", "2",
             "--cap", "CAP_KILL", "-c", "CAP_CHOWN", "--no-new-privs", "--pid-file", "/tmp/x", "--console-socket",
             "/tmp/s", "--preserve-fds", "1", "--process-label", "l", "--apparmor", "a", "--cgroup", "x", "c",
             "sh"},
            255, "exec failed: --cgroup: the container's cgroups are inside the VM; sub-cgroups are not supported"},
           {{"exec", "-p", "/tmp/process.json", "c"}, 255, "~" + backend},
           {{"update", "--memory", "1x", "c"}, 1, "invalid value for memory: invalid size: '1x'"},
           {{"update", "--memory-swap", "1.5xb", "c"}, 1, "invalid value for memory-swap: invalid size: '1.5xb'"},
           {{"update", "--cpu-period", "abc", "c"}, 1,
            "invalid value for cpu-period: strconv.ParseUint: parsing \"abc\": invalid syntax"},
           {{"update", "--cpu-quota", "x", "c"}, 1,
            "invalid value for cpu-quota: strconv.ParseInt: parsing \"x\": invalid syntax"},
           {{"update", "--memory", "512m", "--memory-swap", "-1", "--memory-reservation", "1G", "--cpu-share", "2",
             "--cpu-period", "100000", "--cpu-quota", "-1", "--cpu-rt-period", "1", "--cpu-rt-runtime", "1",
             "--cpuset-cpus", "0-1", "--cpuset-mems", "0", "--pids-limit", "10", "--blkio-weight", "500",
             "--l3-cache-schema", "L3:0=f", "--mem-bw-schema", "MB:0=70", "c"},
            1, "~" + backend},
           {{"update", "-r", "-", "c"}, 1, "~" + backend},
           {{"checkpoint", "--image-path", "/tmp/i", "--leave-running", "c"}, 1, "~checkpoint is not supported"},
           {{"restore", "-b", "/tmp", "-d", "c"}, 1, "~restore is not supported"},
       }) {
    SCOPED_TRACE(::testing::PrintToString(c.args));
    auto r = ctl(c.args, "{\"memory\":{\"limit\":1024}}");
    EXPECT_EQ(r.status, c.status) << r.err;
    auto m = logMsg(r.err);
    if (!c.msg.empty() && c.msg[0] == '~') {
      EXPECT_NE(m.find(c.msg.substr(1)), std::string::npos) << m;
    } else {
      EXPECT_EQ(m, c.msg);
    }
    EXPECT_EQ(r.out, "");
  }
  // Nothing above changed the stored states.
  EXPECT_EQ(ctl({"list", "-q"}).out, "c\np\ns\n");
}

TEST_F(KataCtl, ConfigFlagIsReadAndBadConfigIsReported) {
  const std::string cfg = bundle_.path() + "/bad.toml";
  std::ofstream(cfg) << "[nosuchtable]\nx = 1\n";
  auto r = ctl({"--config", cfg, "list"});
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(logMsg(r.err).find(cfg), std::string::npos) << r.err;
  auto missing = ctl({"--config", bundle_.path() + "/none.toml", "list"});
  EXPECT_EQ(missing.status, 1);
}

}  // namespace
}  // namespace kata::test
