// The jailed launcher, for real, as root: QEMU (TCG, -S, no guest) started from a QemuConfig as an
// unprivileged uid, checked from the outside through /proc, then driven over QMP and stopped.
#include "kata-vmmd/launcher.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <map>
#include <sstream>

#include "common/error.h"
#include "common/fs.h"
#include "kata-vmmd/arch.h"
#include "kata-vmmd/qemu_config.h"
#include "kata-vmmd/qmp_client.h"
#include "security/caps.h"
#include "security/rlimits.h"

namespace kata::vmmd {
namespace {

using namespace std::chrono_literals;
constexpr uid_t kVmUid = 65534;
constexpr gid_t kVmGid = 65534;

UniqueFd listenUnix(const std::string& path) {
  UniqueFd fd(KATA_SYSCALL(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)));
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, path.c_str(), sizeof addr.sun_path - 1);
  KATA_SYSCALL(::bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr), path);
  KATA_SYSCALL(::listen(fd.get(), 4), path);
  return fd;
}

std::map<std::string, std::string> procStatus(pid_t pid) {
  std::map<std::string, std::string> out;
  std::istringstream in(readFile("/proc/" + std::to_string(pid) + "/status", 1 << 16));
  std::string line;
  while (std::getline(in, line)) {
    auto colon = line.find(':');
    if (colon == std::string::npos) continue;
    std::string v = line.substr(colon + 1);
    v.erase(0, v.find_first_not_of(" \t"));
    out[line.substr(0, colon)] = v;
  }
  return out;
}

std::map<int, std::string> procFds(pid_t pid) {
  std::map<int, std::string> out;
  for (const auto& e : std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/fd")) {
    std::error_code ec;
    out[std::stoi(e.path().filename())] = std::filesystem::read_symlink(e.path(), ec).string();
  }
  return out;
}

class Launcher : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "the launcher switches uid: needs root";
    char tmpl[] = "/tmp/kata-launch-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    // The run dir belongs to the VM's uid, as vmmd makes it: QEMU writes its console log there.
    ASSERT_EQ(::chown(dir_.c_str(), kVmUid, kVmGid), 0);
    ASSERT_EQ(::chmod(dir_.c_str(), 0700), 0);
    cgroupParent_ = "kata-test-" + std::to_string(::getpid());
  }
  void TearDown() override {
    if (dir_.empty()) return;
    removeTree(AT_FDCWD, dir_);
    // the parent cgroup the test made (the sandbox cgroup itself is removed by cleanup())
    for (const auto& h : layout().hierarchies) (void)::rmdir((h.mountPoint + "/" + cgroupParent_).c_str());
  }
  security::CgroupLayout layout() { return security::CgroupLayout::detect("/sys/fs/cgroup", {"pids"}); }
  Logger log_{LogOptions{"", LogFormat::kText, LogLevel::kWarn, "vmmd"}};
  std::string dir_, cgroupParent_;
};

TEST_F(Launcher, QemuRunsJailedAndAnswersQmp) {
  // A zero-filled "kernel" is enough for -S: QEMU loads it but the CPUs never start.
  {
    UniqueFd k(::open((dir_ + "/vmlinuz").c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644));
    ASSERT_EQ(::ftruncate(k.get(), 8192), 0);
    UniqueFd img(::open((dir_ + "/disk.img").c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644));
    ASSERT_EQ(::ftruncate(img.get(), 1 << 20), 0);
    ASSERT_EQ(::mkdir((dir_ + "/share").c_str(), 0755), 0);
  }
  UniqueFd qmpListen = listenUnix(dir_ + "/qmp.sock");
  UniqueFd agentListen = listenUnix(dir_ + "/agent.sock");
  // A descriptor the daemon holds without O_CLOEXEC: it must not leak into QEMU.
  UniqueFd decoy(::open("/etc/hostname", O_RDONLY));
  ASSERT_TRUE(decoy.valid());

  QemuConfig qc;
  qc.binary = "/usr/bin/qemu-system-x86_64";
  qc.name = "launch-test";
  qc.accel = Accel::kTcg;
  qc.memory.sizeMiB = 128;
  qc.memory.backend = MemorySpec::Backend::kMemfd;
  qc.kernel.kernel = dir_ + "/vmlinuz";
  qc.qmp.listenFd = qmpListen.get();
  qc.consoleLogPath = dir_ + "/console.log";
  qc.hotplugRootPorts = 1;
  qc.startPaused = true;
  qc.devices.push_back(SerialPortDevice{"agent", "agent.channel.0", "", agentListen.get()});
  qc.devices.push_back(FsShareDevice{"shared", dir_ + "/share", "kataShared", FsShareDevice::SecurityModel::kNone, true});
  qc.devices.push_back(BlockDevice{"disk0", dir_ + "/disk.img", "raw", true, "disk0"});
  qc.devices.push_back(GenericDevice{"rng0", "virtio-rng-pci", {}});
  auto arch = hostArch();

  LaunchSpec spec;
  spec.sandboxId = "sb-launch";
  spec.argv = buildQemuArgs(qc, *arch);
  spec.identity = {kVmUid, kVmGid, {}, false};
  spec.passFds = {qmpListen.get(), agentListen.get()};
  spec.logPath = dir_ + "/qemu.log";
  spec.cgroup = CgroupSpec{layout(), cgroupParent_, {}};
  spec.cgroup->limits.pidsMax = 256;
  spec.rlimits = security::defaultQemuRlimits();

  LaunchedProcess proc = launchJailed(spec, log_);
  QmpClient qmp = QmpClient::connect(dir_ + "/qmp.sock", deadlineIn(30s));
  EXPECT_EQ(qmp.queryStatus().status, "prelaunch");

  auto st = procStatus(proc.pid());
  EXPECT_EQ(st["Uid"], "65534\t65534\t65534\t65534");
  EXPECT_EQ(st["Gid"], "65534\t65534\t65534\t65534");
  EXPECT_EQ(st["Groups"], "");
  EXPECT_EQ(st["CapInh"], "0000000000000000");
  EXPECT_EQ(st["CapPrm"], "0000000000000000");
  EXPECT_EQ(st["CapEff"], "0000000000000000");
  EXPECT_EQ(st["CapBnd"], "0000000000000000");
  EXPECT_EQ(st["CapAmb"], "0000000000000000");
  EXPECT_EQ(st["NoNewPrivs"], "1");
  EXPECT_EQ(st["Seccomp"], "2") << "QEMU's -sandbox filter is not active";
  EXPECT_EQ(security::capabilityText(proc.pid()), "=");

  std::string cg = readFile("/proc/" + std::to_string(proc.pid()) + "/cgroup", 1 << 16);
  std::string rel = "/" + cgroupParent_ + "/sb-launch";
  EXPECT_NE(cg.find("0::" + rel + "\n"), std::string::npos) << cg;
  EXPECT_NE(cg.find(":pids:" + rel + "\n"), std::string::npos) << cg;
  ASSERT_TRUE(proc.cgroup().has_value());
  auto members = proc.cgroup()->processes();
  EXPECT_NE(std::find(members.begin(), members.end(), proc.pid()), members.end());
  EXPECT_EQ(readFile("/sys/fs/cgroup/pids" + rel + "/pids.max", 64), "256\n");

  auto fds = procFds(proc.pid());
  EXPECT_EQ(fds[0], "/dev/null");
  EXPECT_EQ(fds[1], dir_ + "/qemu.log");
  EXPECT_EQ(fds[2], dir_ + "/qemu.log");
  EXPECT_EQ(fds[qmpListen.get()].rfind("socket:", 0), 0u) << "passed QMP socket missing";
  EXPECT_EQ(fds[agentListen.get()].rfind("socket:", 0), 0u) << "passed agent socket missing";
  for (const auto& [num, target] : fds) EXPECT_NE(target, "/etc/hostname") << "inherited fd " << num << " leaked";

  // The devices the config asked for are there.
  std::string pci = qmp.queryPci().dump();
  for (const char* id : {"\"rp0\"", "\"vserial0\"", "\"shared\"", "\"disk0\"", "\"rng0\""})
    EXPECT_NE(pci.find(std::string("\"qdev_id\":") + id), std::string::npos) << id;
  EXPECT_EQ(qmp.queryMemorySizeSummary().baseMemory, 128u << 20);

  qmp.quit();
  ExitStatus ex = proc.wait(deadlineIn(10s));
  ASSERT_TRUE(ex.exited);
  EXPECT_EQ(ex.code, 0);
  proc.cleanup();
  EXPECT_FALSE(pathExists("/sys/fs/cgroup/unified" + rel));
  EXPECT_FALSE(pathExists("/sys/fs/cgroup/pids" + rel));
}

TEST_F(Launcher, JoinsTheGivenNetworkNamespace) {
  std::string ns = "kata-test-" + std::to_string(::getpid());
  ASSERT_EQ(std::system(("ip netns add " + ns).c_str()), 0);
  UniqueFd nsFd(::open(("/run/netns/" + ns).c_str(), O_RDONLY | O_CLOEXEC));
  ASSERT_TRUE(nsFd.valid());
  LaunchSpec spec;
  spec.sandboxId = "sb-netns";
  spec.argv = {"/bin/sleep", "30"};
  spec.identity = {kVmUid, kVmGid, {}, false};
  spec.logPath = dir_ + "/sleep.log";
  spec.netnsFd = nsFd.get();
  LaunchedProcess proc = launchJailed(spec, log_);
  struct stat want {}, got {};
  ASSERT_EQ(::fstat(nsFd.get(), &want), 0);
  ASSERT_EQ(::stat(("/proc/" + std::to_string(proc.pid()) + "/ns/net").c_str(), &got), 0);
  EXPECT_EQ(want.st_ino, got.st_ino);
  proc.signal(SIGTERM);
  ExitStatus ex = proc.wait(deadlineIn(5s));
  EXPECT_TRUE(ex.exited);
  EXPECT_EQ(ex.signal, SIGTERM);
  EXPECT_EQ(std::system(("ip netns delete " + ns).c_str()), 0);
}

TEST_F(Launcher, AFailingStepIsReportedByNameAndLeavesNoCgroup) {
  UniqueFd notNs(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  LaunchSpec spec;
  spec.sandboxId = "sb-fail";
  spec.argv = {"/bin/true"};
  spec.identity = {kVmUid, kVmGid, {}, false};
  spec.logPath = dir_ + "/fail.log";
  spec.netnsFd = notNs.get();
  spec.cgroup = CgroupSpec{layout(), cgroupParent_, {}};
  try {
    launchJailed(spec, log_);
    FAIL() << "launch with a bogus netns fd succeeded";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("joining the network namespace (setns): Invalid argument"), std::string::npos)
        << e.what();
  }
  EXPECT_FALSE(pathExists("/sys/fs/cgroup/unified/" + cgroupParent_ + "/sb-fail"));
  // and running as root is refused before anything happens
  spec.netnsFd = -1;
  spec.identity = {0, 0, {}, false};
  EXPECT_THROW(launchJailed(spec, log_), Error);
}

}  // namespace
}  // namespace kata::vmmd
