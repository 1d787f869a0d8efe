// A seccomp profile from OCI JSON, built with libseccomp and loaded in a forked child: denied calls
// fail with the profile's errnoRet, argument conditions select, everything else still works.
#include "agent/container/seccomp.h"

#include <fcntl.h>
#include <signal.h>
#include <sched.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <string>

#include <gtest/gtest.h>

#include "common/error.h"
#include "tests/unit/agent_container/child_process_support.h"

namespace kata::agent {
namespace {

oci::Seccomp profileFrom(const std::string& seccompJson) {
  std::string config = R"({"ociVersion":"1.0.2","root":{"path":"rootfs"},"process":{"cwd":"/","args":["x"],
    "user":{"uid":0,"gid":0}},"linux":{"seccomp":)" + seccompJson + "}}";
  oci::Spec spec = oci::parseSpec(config);
  return *spec.linux->seccomp;
}

TEST(Seccomp, DeniedCallsReturnErrnoRetAndOthersWork) {
  oci::Seccomp profile = profileFrom(R"({
    "defaultAction": "SCMP_ACT_ALLOW",
    "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
    "flags": ["SECCOMP_FILTER_FLAG_LOG"],
    "syscalls": [
      {"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1},
      {"names": ["unshare"], "action": "SCMP_ACT_ERRNO", "errnoRet": 95},
      {"names": ["no_such_syscall_at_all"], "action": "SCMP_ACT_ERRNO"},
      {"names": ["kill"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13,
       "args": [{"index": 1, "value": 0, "op": "SCMP_CMP_EQ"}]}
    ]})");
  std::string dir = "/tmp/kata-seccomp-" + std::to_string(::getpid());
  testing::ChildResult r = testing::runInChild([&] {
    SeccompFilter::build(profile).load();
    int e1 = ::mkdir(dir.c_str(), 0755) == 0 ? 0 : errno;
    int e2 = ::unshare(0) == 0 ? 0 : errno;
    int e3 = ::kill(::getpid(), 0) == 0 ? 0 : errno;
    int e4 = ::kill(::getpid(), SIGCONT) == 0 ? 0 : errno;
    int fd = ::open("/proc/self/status", O_RDONLY);
    std::printf("mkdir=%d unshare=%d kill0=%d killcont=%d open=%s\n", e1, e2, e3, e4, fd >= 0 ? "ok" : "fail");
    std::fflush(stdout);
  });
  EXPECT_EQ(r.exitCode, 0) << r.output;
  EXPECT_EQ(r.output, "mkdir=1 unshare=95 kill0=13 killcont=0 open=ok\n");
  EXPECT_FALSE(::access(dir.c_str(), F_OK) == 0);
}

TEST(Seccomp, DefaultErrnoAndAllowList) {
  oci::Seccomp profile = profileFrom(R"({
    "defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 77,
    "syscalls": [{"names": ["read", "write", "exit_group", "exit", "brk", "mmap", "munmap", "fstat", "newfstatat",
                            "rt_sigreturn", "rt_sigprocmask", "rt_sigaction", "sigaltstack", "futex", "lseek", "close",
                            "getpid", "gettid", "madvise", "mprotect"],
                  "action": "SCMP_ACT_ALLOW"}]})");
  testing::ChildResult r = testing::runInChild([&] {
    SeccompFilter::build(profile).load();
    // Not listed: defaultErrnoRet. (sched_yield, not getppid: glibc's getppid never sets errno.)
    int e = ::sched_yield() == 0 ? 0 : errno;
    int ok = ::getpid() > 0 ? 1 : 0;
    char line[64];
    int n = std::snprintf(line, sizeof line, "sched_yield=%d getpid=%d\n", e, ok);
    (void)!::write(1, line, static_cast<size_t>(n));
  });
  EXPECT_EQ(r.output, "sched_yield=77 getpid=1\n");
}

TEST(Seccomp, BadProfilesAreRefusedByName) {
  try {
    SeccompFilter::build(profileFrom(R"({"defaultAction":"SCMP_ACT_ALLOW","syscalls":[
        {"names":["read"],"action":"SCMP_ACT_ERRNO","args":[{"index":7,"value":0,"op":"SCMP_CMP_EQ"}]}]})"));
    ADD_FAILURE() << "arg index 7 accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("linux.seccomp.syscalls[0]"), std::string::npos) << e.what();
  }
  try {
    SeccompFilter::build(profileFrom(R"({"defaultAction":"SCMP_ACT_NOTIFY"})"));
    ADD_FAILURE() << "notify accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kNotSupported);
  }
}

}  // namespace
}  // namespace kata::agent
