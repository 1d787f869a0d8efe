#include "runtime/hooks/hooks.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <set>
#include <sstream>
#include <thread>

#include "common/error.h"
#include "common/fs.h"

namespace kata::hooks {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

oci::Hook sh(const std::string& script, std::vector<std::string> env = {}, std::optional<int> timeout = std::nullopt) {
  oci::Hook h;
  h.path = "/bin/sh";
  h.args = {"sh", "-c", script};
  h.env = std::move(env);
  h.timeout = timeout;
  return h;
}

// True once pid is gone or a zombie (reaped or not by someone else, it no longer runs).
bool processGone(pid_t pid) {
  for (int i = 0; i < 100; ++i) {
    std::string stat;
    try {
      stat = readFile("/proc/" + std::to_string(pid) + "/stat", 4096);
    } catch (const Error&) {
      return true;
    }
    auto close = stat.rfind(')');
    if (close != std::string::npos && close + 2 < stat.size() && stat[close + 2] == 'Z') return true;
    std::this_thread::sleep_for(10ms);
  }
  return false;
}

class HooksTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/kata-hooks-test-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    removeTree(AT_FDCWD, dir_);
    // every hook was reaped: we have no children left
    EXPECT_EQ(waitpid(-1, nullptr, WNOHANG), -1);
    EXPECT_EQ(errno, ECHILD);
  }
  std::string file(const std::string& name) const { return dir_ + "/" + name; }
  std::string dir_;
  const std::string state_ = R"({"ociVersion":"1.0.2-dev","id":"c1","status":"creating","pid":7,"bundle":"/b"})";
};

TEST_F(HooksTest, StateArrivesOnStdin) {
  runHook("prestart", 0, sh("cat > " + file("stdin")), state_);
  EXPECT_EQ(readFile(file("stdin"), 1 << 20), state_);
}

TEST_F(HooksTest, EnvironmentIsExactlyTheHooksEnv) {
  ::setenv("KATA_HOOK_TEST_LEAK", "1", 1);
  runHook("createRuntime", 0, sh("env > " + file("env"), {"FOO=bar", "EMPTY="}), state_);
  ::unsetenv("KATA_HOOK_TEST_LEAK");
  std::set<std::string> vars;
  std::istringstream in(readFile(file("env"), 1 << 20));
  for (std::string line; std::getline(in, line);)
    if (!line.starts_with("PWD=")) vars.insert(line);  // the shell itself sets PWD, as with runc
  EXPECT_EQ(vars, (std::set<std::string>{"FOO=bar", "EMPTY="}));
}

TEST_F(HooksTest, Argv0ComesFromArgsAndWorkingDirIsApplied) {
  oci::Hook h = sh("echo \"$0\" > " + file("argv0") + "; pwd > " + file("cwd"));
  h.args[0] = "custom-name";
  HookOptions opts;
  opts.workingDir = dir_;
  runHook("poststart", 0, h, state_, opts);
  EXPECT_EQ(readFile(file("argv0"), 100), "custom-name\n");
  EXPECT_EQ(readFile(file("cwd"), 4096), dir_ + "\n");
  oci::Hook bare;
  bare.path = "/bin/true";  // no args: argv = { path }
  EXPECT_NO_THROW(runHook("poststart", 1, bare, state_));
}

TEST_F(HooksTest, NonZeroExitNamesPhasePathStatusAndStderr) {
  try {
    runHook("prestart", 2, sh("echo to-stdout; echo 'something broke' >&2; exit 3"), state_);
    ADD_FAILURE();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kFailedPrecondition);
    EXPECT_STREQ(e.what(),
                 "prestart hook #2 (/bin/sh) failed: exit status 3; stderr: \"something broke\"; stdout: \"to-stdout\"");
  }
}

TEST_F(HooksTest, DeathBySignalIsReported) {
  try {
    runHook("poststop", 0, sh("kill -TERM $$"), state_);
    ADD_FAILURE();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("poststop hook #0 (/bin/sh) failed: killed by signal 15 (SIGTERM)"),
              std::string::npos)
        << e.what();
  }
}

TEST_F(HooksTest, TimeoutKillsTheHookAndItsChildren) {
  auto start = Clock::now();
  try {
    runHook("createContainer", 0, sh("echo $$ > " + file("pid") + "; sleep 30 & echo $! > " + file("bg") + "; wait", {}, 1),
            state_);
    ADD_FAILURE();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kTimeout);
    EXPECT_STREQ(e.what(), "createContainer hook #0 (/bin/sh) timed out after 1 s and was killed");
  }
  auto took = Clock::now() - start;
  EXPECT_GE(took, 900ms);
  EXPECT_LT(took, 3s);
  EXPECT_TRUE(processGone(std::stoi(readFile(file("pid"), 100))));
  EXPECT_TRUE(processGone(std::stoi(readFile(file("bg"), 100))));
}

TEST_F(HooksTest, DefaultTimeoutAppliesToHooksWithoutOne) {
  HookOptions opts;
  opts.defaultTimeout = 200ms;
  try {
    runHook("prestart", 0, sh("sleep 30"), state_, opts);
    ADD_FAILURE();
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "prestart hook #0 (/bin/sh) timed out after 0.2 s and was killed");
  }
}

TEST_F(HooksTest, HookThatDoesNotReadStdinIsFine) {
  std::string big(1 << 20, 'x');  // far more than a pipe holds
  EXPECT_NO_THROW(runHook("prestart", 0, sh("exit 0"), big));
  EXPECT_NO_THROW(runHook("prestart", 0, sh("exec 0<&-; sleep 0.1"), big));
  EXPECT_NO_THROW(runHook("prestart", 0, sh("head -c 10 > /dev/null"), big));
}

TEST_F(HooksTest, LeftoverChildHoldingOutputDoesNotStallUs) {
  auto start = Clock::now();
  runHook("poststart", 0, sh("sleep 2 >&2 & exit 0"), state_);
  EXPECT_LT(Clock::now() - start, 1500ms);
  // let the orphan finish so it is not counted as our child (it is not: its parent was the hook)
}

TEST_F(HooksTest, CapturedStderrIsBounded) {
  try {
    runHook("prestart", 0, sh("head -c 100000 /dev/zero | tr '\\0' e >&2; exit 1"), state_);
    ADD_FAILURE();
  } catch (const Error& e) {
    std::string msg = e.what();
    EXPECT_LT(msg.size(), 5000u);
    EXPECT_NE(msg.find("eeee...(truncated)\""), std::string::npos);
  }
}

TEST_F(HooksTest, UnrunnableHooks) {
  oci::Hook missing;
  missing.path = "/nonexistent/hook";
  try {
    runHook("prestart", 0, missing, state_);
    ADD_FAILURE();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kInvalidArgument);
    EXPECT_STREQ(e.what(), "prestart hook #0 (/nonexistent/hook): cannot execute: No such file or directory");
  }
  oci::Hook relative;
  relative.path = "bin/true";
  EXPECT_THROW(runHook("prestart", 0, relative, state_), Error);
  oci::Hook badTimeout = sh("true", {}, 0);
  EXPECT_THROW(runHook("prestart", 0, badTimeout, state_), Error);
}

TEST_F(HooksTest, PhaseStopsAtTheFirstFailure) {
  std::vector<oci::Hook> hooks = {sh("touch " + file("first")), sh("exit 7"), sh("touch " + file("third"))};
  try {
    runHooks("createRuntime", hooks, state_);
    ADD_FAILURE();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("createRuntime hook #1 (/bin/sh) failed: exit status 7"), std::string::npos);
  }
  EXPECT_TRUE(pathExists(file("first")));
  EXPECT_FALSE(pathExists(file("third")));
  EXPECT_NO_THROW(runHooks("poststop", {}, state_));
}

}  // namespace
}  // namespace kata::hooks
