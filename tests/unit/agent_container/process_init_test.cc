// setupProcessAndExec in a forked child on the real host kernel (as root): the exec'd busybox
// reports what the kernel says about it.
#include "agent/container/process_init.h"

#include <unistd.h>

#include <string>

#include <gtest/gtest.h>

#include "common/error.h"
#include "common/fs.h"
#include "tests/unit/agent_container/child_process_support.h"

namespace kata::agent {
namespace {

constexpr const char* kBusybox = "/bin/busybox";

oci::Spec specFrom(const std::string& processJson, const std::string& linuxJson = "{}") {
  return oci::parseSpec(R"({"ociVersion":"1.0.2","root":{"path":"rootfs"},"process":)" + processJson +
                        R"(,"linux":)" + linuxJson + "}");
}

testing::ChildResult run(const oci::Spec& spec, bool applySysctl = false) {
  return testing::runInChild([&] {
    ProcessSetup setup;
    setup.process = &*spec.process;
    setup.spec = &spec;
    setup.applySysctl = applySysctl;
    setupProcessAndExec(setup);
  });
}

std::string statusLine(const std::string& out, const std::string& key) {
  size_t pos = out.find("\n" + key + ":");
  if (pos == std::string::npos) return "";
  size_t start = out.find_first_not_of(" \t", pos + key.size() + 2);
  return out.substr(start, out.find('\n', start) - start);
}

class ProcessInit : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root (setuid, capabilities)";
    if (::access(kBusybox, X_OK) != 0) GTEST_SKIP() << "needs busybox-static (scripts/setup.sh)";
  }
};

TEST_F(ProcessInit, UserCapabilitiesRlimitsAndNoNewPrivs) {
  oci::Spec spec = specFrom(R"({
    "user": {"uid": 1234, "gid": 2345, "additionalGids": [3001, 3002], "umask": 23},
    "args": ["busybox", "sh", "-c", "cat /proc/self/status; echo LIMIT $(ulimit -n) $(ulimit -Hn); echo OOM $(cat /proc/self/oom_score_adj); echo CWD $(pwd); env | sort"],
    "env": ["PATH=/usr/bin:/bin", "FOO=bar baz"],
    "cwd": "/tmp",
    "capabilities": {"bounding": ["CAP_NET_BIND_SERVICE", "CAP_KILL"], "effective": ["CAP_NET_BIND_SERVICE"],
                     "permitted": ["CAP_NET_BIND_SERVICE"], "inheritable": ["CAP_NET_BIND_SERVICE"],
                     "ambient": ["CAP_NET_BIND_SERVICE"]},
    "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 512, "soft": 256}],
    "noNewPrivileges": true,
    "oomScoreAdj": 500})");
  testing::ChildResult r = run(spec);
  ASSERT_EQ(r.exitCode, 0) << r.output;
  EXPECT_EQ(statusLine(r.output, "Uid"), "1234\t1234\t1234\t1234");
  EXPECT_EQ(statusLine(r.output, "Gid"), "2345\t2345\t2345\t2345");
  EXPECT_EQ(statusLine(r.output, "Groups"), "3001 3002 ");
  EXPECT_EQ(statusLine(r.output, "Umask"), "0027");  // 23 = 0o27
  EXPECT_EQ(statusLine(r.output, "NoNewPrivs"), "1");
  // CAP_NET_BIND_SERVICE is bit 10, CAP_KILL bit 5; the ambient capability survives the exec of a
  // non-root user.
  EXPECT_EQ(statusLine(r.output, "CapBnd"), "0000000000000420");
  EXPECT_EQ(statusLine(r.output, "CapInh"), "0000000000000400");
  EXPECT_EQ(statusLine(r.output, "CapPrm"), "0000000000000400");
  EXPECT_EQ(statusLine(r.output, "CapEff"), "0000000000000400");
  EXPECT_EQ(statusLine(r.output, "CapAmb"), "0000000000000400");
  EXPECT_NE(r.output.find("LIMIT 256 512\n"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("OOM 500\n"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("CWD /tmp\n"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("\nFOO=bar baz\n"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("\nHOME="), std::string::npos) << "HOME is set from /etc/passwd like runc: " << r.output;
}

TEST_F(ProcessInit, RootKeepsOnlyTheListedCapabilities) {
  oci::Spec spec = specFrom(R"({"user": {"uid": 0, "gid": 0}, "args": ["/bin/busybox", "cat", "/proc/self/status"],
    "env": [], "cwd": "/",
    "capabilities": {"bounding": ["CAP_CHOWN"], "effective": ["CAP_CHOWN"], "permitted": ["CAP_CHOWN"]}})");
  testing::ChildResult r = run(spec);
  ASSERT_EQ(r.exitCode, 0) << r.output;
  EXPECT_EQ(statusLine(r.output, "CapBnd"), "0000000000000001");
  EXPECT_EQ(statusLine(r.output, "CapEff"), "0000000000000001");
  EXPECT_EQ(statusLine(r.output, "NoNewPrivs"), "0");
  EXPECT_EQ(statusLine(r.output, "Groups"), "");
}

TEST_F(ProcessInit, PersonalityAndIoPriority) {
  oci::Spec spec = specFrom(
      R"({"user": {"uid": 0, "gid": 0}, "args": ["busybox", "sh", "-c", "echo ARCH $(uname -m); ionice"],
          "env": ["PATH=/bin"], "cwd": "/", "ioPriority": {"class": "IOPRIO_CLASS_IDLE", "priority": 0}})",
      R"({"personality": {"domain": "LINUX32"}})");
  testing::ChildResult r = run(spec);
  ASSERT_EQ(r.exitCode, 0) << r.output;
  EXPECT_NE(r.output.find("ARCH i686\n"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("idle"), std::string::npos) << r.output;
}

TEST_F(ProcessInit, SeccompFromTheSpecIsLoadedBeforeExec) {
  oci::Spec spec = specFrom(
      R"({"user": {"uid": 0, "gid": 0}, "args": ["busybox", "mkdir", "/tmp/kata-seccomp-denied"],
          "env": ["PATH=/bin"], "cwd": "/", "noNewPrivileges": true})",
      R"({"seccomp": {"defaultAction": "SCMP_ACT_ALLOW",
          "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}]}})");
  testing::ChildResult r = run(spec);
  EXPECT_NE(r.exitCode, 0);
  EXPECT_NE(r.output.find("Operation not permitted"), std::string::npos) << r.output;
  EXPECT_FALSE(pathExists("/tmp/kata-seccomp-denied"));
}

TEST_F(ProcessInit, FailuresNameTheSetting) {
  struct Case {
    std::string process, linux, expected;
  };
  const Case cases[] = {
      {R"({"user":{"uid":0,"gid":0},"args":["no-such-binary-anywhere"],"env":["PATH=/bin"],"cwd":"/"})", "{}",
       "exec: \"no-such-binary-anywhere\": executable file not found in $PATH"},
      {R"({"user":{"uid":0,"gid":0},"args":["/bin/busybox"],"cwd":"/no/such/dir"})", "{}",
       "process.cwd /no/such/dir: chdir"},
      {R"({"user":{"uid":0,"gid":0},"args":["/bin/busybox"],"cwd":"/",
           "rlimits":[{"type":"RLIMIT_NOFILE","hard":64,"soft":64},{"type":"RLIMIT_NOFILE","hard":1000000000,"soft":1}]})",
       "{}", "process.rlimits[1] RLIMIT_NOFILE: setrlimit"},
      {R"({"user":{"uid":0,"gid":0},"args":["/bin/busybox"],"cwd":"/"})", R"({"sysctl":{"kernel/../x":"1"}})",
       "linux.sysctl \"kernel/../x\": invalid name"},
      {R"({"user":{"uid":0,"gid":0},"args":["/bin/busybox"],"cwd":"/"})", R"({"sysctl":{"vm.swappiness":"1"}})",
       "linux.sysctl \"vm.swappiness\": not in a separate kernel namespace"},
      {R"({"user":{"uid":0,"gid":0},"args":["/bin/busybox"],"cwd":"/"})", R"({"sysctl":{"net.ipv4.ip_forward":"1"}})",
       "linux.sysctl \"net.ipv4.ip_forward\": not allowed in the pod's network namespace"},
  };
  for (const Case& c : cases) {
    testing::ChildResult r = run(specFrom(c.process, c.linux), true);
    EXPECT_EQ(r.exitCode, 100) << c.expected << ": " << r.output;
    EXPECT_NE(r.output.find("ERROR: " + c.expected), std::string::npos) << r.output;
  }
}

}  // namespace
}  // namespace kata::agent
