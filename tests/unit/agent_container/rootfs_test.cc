// setupRootfs in a forked child with its own mount namespace, on a temp rootfs holding a static
// busybox; busybox, exec'd inside afterwards, reports what the container sees.
#include <fcntl.h>
#include <sched.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <string>

#include <gtest/gtest.h>

#include "agent/container/process_init.h"
#include "common/error.h"
#include "common/fs.h"
#include "tests/unit/agent_container/child_process_support.h"

namespace kata::agent {
namespace {

constexpr const char* kBusybox = "/bin/busybox";

const char* const kScript = R"(
grep -qE '^[0-9]+ [0-9]+ [0-9:]+ [^ ]+ / ro[, ]' /proc/self/mountinfo && echo ROOT-MOUNT-RO
touch /ro-file 2>/dev/null && echo ROOT-WRITABLE || echo ROOT-RO
touch /tmp/ok && echo TMP-WRITABLE
echo DATA $(cat /data/hello)
touch /data/x 2>/dev/null && echo DATA-WRITABLE || echo DATA-RO
echo HOSTFILE $(cat /etc/hostfile)
echo VERSION $(wc -c < /proc/version)
echo MASKEDDIR $(ls -A /sys/firmware | wc -l)
echo 3 > /proc/sys/vm/drop_caches 2>/dev/null && echo SYS-WRITABLE || echo SYS-RO
echo MYDEV $(stat -c '%F %t:%T %a %u:%g' /dev/mydev)
echo NULL $(stat -c '%F %t:%T %a' /dev/null)
echo PTMX $(readlink /dev/ptmx) FD $(readlink /dev/fd) STDERR $(readlink /dev/stderr)
echo hi > /dev/null && echo NULL-WORKS
echo EVIL $(ls -d /etc/evilsub)
grep -q ' /dev/mqueue .* - mqueue ' /proc/self/mountinfo && echo MQUEUE
echo ROOTLIST $(ls / | tr '\n' ' ')
)";

class Rootfs : public ::testing::TestWithParam<bool> {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root (mount namespace)";
    if (::access(kBusybox, X_OK) != 0) GTEST_SKIP() << "needs busybox-static (scripts/setup.sh)";
    char tmpl[] = "/tmp/kata-rootfs-test-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    base_ = tmpl;
    rootfs_ = base_ + "/rootfs";
    for (const char* d : {"/rootfs", "/rootfs/bin", "/rootfs/etc", "/rootfs/proc", "/rootfs/sys", "/data"})
      ASSERT_EQ(::mkdir((base_ + d).c_str(), 0755), 0) << d;
    std::string bb = readFile(kBusybox, 16 << 20);
    std::ofstream(rootfs_ + "/bin/busybox", std::ios::binary) << bb;
    ASSERT_EQ(::chmod((rootfs_ + "/bin/busybox").c_str(), 0755), 0);
    std::ofstream(base_ + "/data/hello") << "hello-from-share";
    std::ofstream(base_ + "/hostfile") << "a-file-bind";
    // An absolute symlink in the image pointing at the guest's /etc.
    ASSERT_EQ(::symlink("/etc", (rootfs_ + "/evil").c_str()), 0);
  }
  void TearDown() override {
    if (!base_.empty()) removeTree(AT_FDCWD, base_);
  }

  oci::Spec spec() const {
    return oci::parseSpec(R"({"ociVersion":"1.0.2","root":{"path":"rootfs","readonly":true},
      "process":{"cwd":"/","args":["sh"],"user":{"uid":0,"gid":0}},
      "mounts":[
        {"destination":"/proc","type":"proc","source":"proc","options":["nosuid","noexec","nodev"]},
        {"destination":"/dev","type":"tmpfs","source":"tmpfs","options":["nosuid","strictatime","mode=755","size=65536k"]},
        {"destination":"/dev/pts","type":"devpts","source":"devpts","options":["nosuid","noexec","newinstance","ptmxmode=0666","mode=0620"]},
        {"destination":"/dev/mqueue","type":"mqueue","source":"mqueue","options":["nosuid","noexec","nodev"]},
        {"destination":"/sys","type":"sysfs","source":"sysfs","options":["nosuid","noexec","nodev","ro"]},
        {"destination":"/tmp","type":"tmpfs","source":"tmpfs","options":["nosuid","nodev","size=1m","mode=1777"]},
        {"destination":"/data","type":"bind","source":"data","options":["rbind","ro","rprivate"]},
        {"destination":"/etc/hostfile","type":"bind","source":")" + base_ + R"(/hostfile","options":["bind"]},
        {"destination":"/evil/evilsub","type":"tmpfs","source":"tmpfs","options":["size=64k"]}
      ],
      "linux":{
        "devices":[{"path":"/dev/mydev","type":"c","major":1,"minor":7,"fileMode":384,"uid":5,"gid":6}],
        "maskedPaths":["/proc/kcore","/proc/version","/sys/firmware","/no/such/path"],
        "readonlyPaths":["/proc/sys","/proc/no-such"]
      }})");
  }

  std::string base_, rootfs_;
};

TEST_P(Rootfs, MountsDevicesMasksAndReadonlyRoot) {
  bool noPivot = GetParam();
  oci::Spec s = spec();
  testing::ChildResult r = testing::runInChild([&] {
    KATA_SYSCALL(::unshare(CLONE_NEWNS), "unshare");
    RootfsOptions options;
    options.sourceBase = base_;
    options.noPivot = noPivot;
    setupRootfs(s, rootfs_, options);
    ::execl("/bin/busybox", "busybox", "sh", "-c", kScript, static_cast<char*>(nullptr));
    throwSysError(errno, "exec busybox");
  });
  ASSERT_EQ(r.exitCode, 0) << r.output;
  const char* expected[] = {
      "ROOT-MOUNT-RO\n", "ROOT-RO\n", "TMP-WRITABLE\n", "DATA hello-from-share\n", "DATA-RO\n",
      "HOSTFILE a-file-bind\n", "VERSION 0\n", "MASKEDDIR 0\n", "SYS-RO\n",
      "MYDEV character special file 1:7 600 5:6\n", "NULL character special file 1:3 666\n",
      "PTMX pts/ptmx FD /proc/self/fd STDERR /proc/self/fd/2\n", "NULL-WORKS\n", "EVIL /etc/evilsub\n", "MQUEUE\n",
  };
  for (const char* e : expected) EXPECT_NE(r.output.find(e), std::string::npos) << "missing " << e << r.output;
  // Only the image is visible at /: no trace of the host's root.
  EXPECT_NE(r.output.find("ROOTLIST bin data dev etc evil proc sys tmp\n"), std::string::npos) << r.output;
  // The symlinked destination was created inside the rootfs, never in the host's /etc.
  EXPECT_TRUE(pathExists(rootfs_ + "/etc/evilsub"));
  EXPECT_FALSE(pathExists("/etc/evilsub"));
  EXPECT_FALSE(pathExists(rootfs_ + "/ro-file"));
}

// The container init's whole pipeline: rootfs, then the process as the image's user, with groups
// and HOME from the image's /etc files, no capabilities, and seccomp loaded last.
TEST_P(Rootfs, ThenProcessRunsAsTheImageUser) {
  std::ofstream(rootfs_ + "/etc/passwd") << "root:x:0:0:root:/root:/bin/sh\napp:x:1234:2345::/home/app:/bin/sh\n";
  std::ofstream(rootfs_ + "/etc/group") << "root:x:0:\nextra:x:4000:bob,app\nother:x:4001:bob\n";
  oci::Spec s = spec();
  oci::Spec p = oci::parseSpec(R"({"ociVersion":"1.0.2","root":{"path":"rootfs"},
    "process":{"cwd":"/tmp","args":["busybox","sh","-c","cat /proc/self/status; echo HOME=$HOME; mkdir /tmp/denied || echo MKDIR-DENIED; touch /tmp/allowed && echo TOUCH-OK"],
      "env":["PATH=/usr/bin:/bin"],"user":{"uid":1234,"gid":2345,"additionalGids":[3001]},
      "capabilities":{"bounding":[],"effective":[],"permitted":[],"inheritable":[],"ambient":[]},
      "noNewPrivileges":true},
    "linux":{"namespaces":[{"type":"mount"}],"seccomp":{"defaultAction":"SCMP_ACT_ALLOW",
      "syscalls":[{"names":["mkdir","mkdirat"],"action":"SCMP_ACT_ERRNO","errnoRet":1}]}}})");
  s.process = p.process;
  s.linux->seccomp = p.linux->seccomp;
  bool noPivot = GetParam();
  testing::ChildResult r = testing::runInChild([&] {
    KATA_SYSCALL(::unshare(CLONE_NEWNS), "unshare");
    RootfsOptions options;
    options.sourceBase = base_;
    options.noPivot = noPivot;
    setupRootfs(s, rootfs_, options);
    ProcessSetup setup;
    setup.process = &*s.process;
    setup.spec = &s;
    setupProcessAndExec(setup);
  });
  ASSERT_EQ(r.exitCode, 0) << r.output;
  for (const char* e : {"\nUid:\t1234\t1234\t1234\t1234\n", "\nGid:\t2345\t2345\t2345\t2345\n",
                        "\nGroups:\t3001 4000 \n", "\nCapBnd:\t0000000000000000\n", "\nCapEff:\t0000000000000000\n",
                        "\nNoNewPrivs:\t1\n", "HOME=/home/app\n", "MKDIR-DENIED\n", "TOUCH-OK\n"})
    EXPECT_NE(r.output.find(e), std::string::npos) << "missing " << e << r.output;
}

INSTANTIATE_TEST_SUITE_P(PivotAndMove, Rootfs, ::testing::Values(false, true),
                         [](const auto& p) { return p.param ? std::string("NoPivot") : std::string("PivotRoot"); });

TEST(RootfsRefusals, ProcDestinationsAndEscapingSources) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root (mount namespace)";
  char tmpl[] = "/tmp/kata-rootfs-refuse-XXXXXX";
  ASSERT_NE(::mkdtemp(tmpl), nullptr);
  std::string base = tmpl;
  ASSERT_EQ(::mkdir((base + "/rootfs").c_str(), 0755), 0);
  auto attempt = [&](const std::string& mount) {
    oci::Spec s = oci::parseSpec(R"({"ociVersion":"1.0.2","root":{"path":"rootfs"},
      "process":{"cwd":"/","args":["sh"],"user":{"uid":0,"gid":0}},"mounts":[)" + mount + "]}");
    return testing::runInChild([&] {
      KATA_SYSCALL(::unshare(CLONE_NEWNS), "unshare");
      RootfsOptions options;
      options.sourceBase = base;
      setupRootfs(s, base + "/rootfs", options);
    });
  };
  testing::ChildResult proc = attempt(R"({"destination":"/proc/self/x","type":"tmpfs","source":"tmpfs"})");
  EXPECT_EQ(proc.exitCode, 100);
  EXPECT_NE(proc.output.find("mounts[0]: destination /proc/self/x is inside /proc"), std::string::npos) << proc.output;
  // The same through a symlink in the image.
  ASSERT_EQ(::symlink("/proc", (base + "/rootfs/sneaky").c_str()), 0);
  ASSERT_EQ(::mkdir((base + "/rootfs/proc").c_str(), 0755), 0);
  testing::ChildResult link = attempt(R"({"destination":"/sneaky/self","type":"tmpfs","source":"tmpfs"})");
  EXPECT_EQ(link.exitCode, 100);
  EXPECT_NE(link.output.find("destination /proc/self is inside /proc"), std::string::npos) << link.output;
  // A relative source climbing out of the share resolves inside it (and so does not exist).
  testing::ChildResult up = attempt(R"({"destination":"/x","type":"bind","source":"../../../etc","options":["bind"]})");
  EXPECT_EQ(up.exitCode, 100);
  EXPECT_NE(up.output.find("mounts[0]: source ../../../etc"), std::string::npos) << up.output;
  removeTree(AT_FDCWD, base);
}

}  // namespace
}  // namespace kata::agent
