// spawnHelper: real helpers (/bin/sh scripts) that report what they got through mapped pipes.
#include "runtime/sandbox/spawn.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "common/error.h"
#include "common/fd.h"

namespace kata::sandbox {
namespace {

struct Pipe {
  UniqueFd read, write;
  Pipe() {
    int p[2];
    if (::pipe2(p, O_CLOEXEC) != 0) throw std::runtime_error("pipe2");
    read = UniqueFd(p[0]);
    write = UniqueFd(p[1]);
  }
};

// Everything until end of file (the helper and whatever it started closed their ends).
std::string drain(int fd) {
  std::string out;
  char buf[4096];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return out;
    out.append(buf, static_cast<size_t>(n));
  }
}

std::string readlinkStr(const std::string& path) {
  std::error_code ec;
  return std::filesystem::read_symlink(path, ec).string();
}

// Waits for a pid that is not our child to be gone (bounded).
bool gone(pid_t pid) {
  for (int i = 0; i < 500; ++i) {
    if (::kill(pid, 0) != 0 && errno == ESRCH) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return false;
}

SpawnOptions shell(const std::string& script) {
  SpawnOptions o;
  o.argv = {"/bin/sh", "-c", script};
  return o;
}

TEST(SpawnTest, DetachedHelperIsNotOurChildAndReportsItsOwnPid) {
  Pipe out;
  SpawnOptions o = shell("echo $$ >&3; cat /proc/$$/stat >&3");
  o.fds = {{3, out.write.get()}};
  pid_t pid = spawnHelper(o);
  out.write.reset();
  std::string got = drain(out.read.get());
  ASSERT_FALSE(got.empty());
  EXPECT_EQ(std::stoi(got), pid);
  // Its own session: field 6 of /proc/<pid>/stat is the session id.
  std::istringstream stat(got.substr(got.find('\n') + 1));
  std::string f;
  std::vector<std::string> fields;
  while (stat >> f) fields.push_back(f);
  ASSERT_GT(fields.size(), 6u);
  EXPECT_EQ(fields[5], std::to_string(pid)) << "not a session leader";
  errno = 0;
  EXPECT_EQ(::waitpid(pid, nullptr, WNOHANG), -1);
  EXPECT_EQ(errno, ECHILD) << "the detached helper is our child";
  EXPECT_TRUE(gone(pid));
}

TEST(SpawnTest, AttachedHelperIsOurChildWithOurSessionWhenAsked) {
  Pipe out;
  SpawnOptions o = shell("echo $$ >&3; cut -d' ' -f6 /proc/$$/stat >&3; exit 7");
  o.fds = {{3, out.write.get()}};
  o.detach = false;
  o.newSession = false;
  pid_t pid = spawnHelper(o);
  out.write.reset();
  std::istringstream got(drain(out.read.get()));
  pid_t reported = 0, sid = 0;
  got >> reported >> sid;
  EXPECT_EQ(reported, pid);
  EXPECT_EQ(sid, ::getsid(0)) << "the helper left our session";
  int st = 0;
  ASSERT_EQ(::waitpid(pid, &st, 0), pid);
  ASSERT_TRUE(WIFEXITED(st));
  EXPECT_EQ(WEXITSTATUS(st), 7);
}

// A helper that reports its pid on fd 3 and becomes `sleep` (which opens nothing that stays open),
// so the test can look at the descriptors it was started with in /proc. Killed and reaped on exit.
struct Sleeper {
  explicit Sleeper(SpawnOptions o) : detached(o.detach) {
    Pipe out;
    o.argv = {"/bin/sh", "-c", "echo $$ >&3; exec sleep 30"};
    o.fds.push_back({3, out.write.get()});
    pid = spawnHelper(o);
    out.write.reset();
    std::string line;
    char c;
    while (::read(out.read.get(), &c, 1) == 1 && c != '\n') line += c;
    reported = line.empty() ? -1 : std::stoi(line);
    for (int i = 0; i < 500 && comm() != "sleep\n"; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ~Sleeper() {
    ::kill(pid, SIGKILL);
    if (!detached) ::waitpid(pid, nullptr, 0);
  }
  std::string comm() const {
    std::ifstream f("/proc/" + std::to_string(pid) + "/comm");
    std::stringstream s;
    s << f.rdbuf();
    return s.str();
  }
  std::vector<int> fds() const {
    std::vector<int> out;
    for (const auto& e : std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/fd"))
      out.push_back(std::stoi(e.path().filename().string()));
    std::sort(out.begin(), out.end());
    return out;
  }
  std::string fdTarget(int fd) const { return readlinkStr("/proc/" + std::to_string(pid) + "/fd/" + std::to_string(fd)); }
  pid_t pid = -1;
  pid_t reported = -1;
  bool detached;
};

TEST(SpawnTest, OnlyTheMappedDescriptorsAreInherited) {
  Pipe extra;
  // A descriptor without close-on-exec that the helper must not get.
  UniqueFd leaked(::dup(extra.write.get()));
  ASSERT_TRUE(leaked.valid());
  for (bool detach : {false, true}) {
    SpawnOptions o;
    o.detach = detach;
    Sleeper s(o);
    EXPECT_EQ(s.reported, s.pid);
    ASSERT_EQ(s.comm(), "sleep\n");
    // The kernel names the process before it closes the close-on-exec descriptors: poll until the
    // table settles (a descriptor that was inherited never goes away and fails the test).
    const std::vector<int> want{0, 1, 2, 3};
    std::vector<int> got = s.fds();
    for (int i = 0; i < 500 && got != want; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
      got = s.fds();
    }
    EXPECT_EQ(got, want) << "detach=" << detach;
  }
}

TEST(SpawnTest, DescriptorsLandOnTheChildsNumbersEvenWhenSwapped) {
  // Parent fds 60 and 61 go to child fds 61 and 60: each source sits on the other's target.
  Pipe a, b;
  ASSERT_EQ(::dup3(a.write.get(), 60, O_CLOEXEC), 60);
  ASSERT_EQ(::dup3(b.write.get(), 61, O_CLOEXEC), 61);
  a.write.reset();
  b.write.reset();
  SpawnOptions o;
  o.argv = {"/bin/bash", "-c", "echo to-61 >&61; echo to-60 >&60"};  // dash takes single-digit fds only
  o.fds = {{61, 60}, {60, 61}};
  o.detach = false;
  pid_t pid = spawnHelper(o);
  ::close(60);
  ::close(61);
  EXPECT_EQ(drain(a.read.get()), "to-61\n");
  EXPECT_EQ(drain(b.read.get()), "to-60\n");
  int st = 0;
  ASSERT_EQ(::waitpid(pid, &st, 0), pid);
  EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

TEST(SpawnTest, StdioIsDevNullUnlessInherited) {
  for (bool inherit : {false, true}) {
    SpawnOptions o;
    o.inheritStdio = inherit;
    o.detach = false;
    Sleeper s(o);
    ASSERT_EQ(s.comm(), "sleep\n");
    for (int i = 0; i < 3; ++i)
      EXPECT_EQ(s.fdTarget(i), inherit ? readlinkStr("/proc/self/fd/" + std::to_string(i)) : std::string("/dev/null"))
          << "fd " << i << " inheritStdio=" << inherit;
  }
}

TEST(SpawnTest, AFailingExecIsReportedAsAnError) {
  for (bool detach : {true, false}) {
    SpawnOptions o;
    o.argv = {"/nonexistent/kata-helper", "--flag"};
    o.detach = detach;
    try {
      spawnHelper(o);
      FAIL() << "exec of a missing binary succeeded (detach=" << detach << ")";
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::kSystem);
      EXPECT_EQ(e.sysErrno(), ENOENT);
      EXPECT_NE(std::string(e.what()).find("starting /nonexistent/kata-helper: exec failed"), std::string::npos)
          << e.what();
    }
  }
}

TEST(SpawnTest, RefusesBadOptions) {
  SpawnOptions empty;
  EXPECT_THROW(spawnHelper(empty), Error);
  SpawnOptions stdio = shell("true");
  stdio.fds = {{1, 1}};
  try {
    spawnHelper(stdio);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kInvalidArgument);
    EXPECT_NE(std::string(e.what()).find("descriptor 1 is stdio"), std::string::npos);
  }
  SpawnOptions many = shell("true");
  for (int i = 0; i < 65; ++i) many.fds.push_back({3 + i, 0});
  EXPECT_THROW(spawnHelper(many), Error);
}

TEST(SpawnTest, SelfExeIsTheRunningBinary) {
  EXPECT_EQ(selfExe(), std::filesystem::canonical("/proc/self/exe").string());
}

}  // namespace
}  // namespace kata::sandbox
