// virtio-fs on a host without virtiofsd (Debian 12 packages none, and QEMU 7.2 no longer ships the C
// one), so no guest mounts a virtio-fs share here. What can run here is checked for real:
//   1. QEMU 7.2 takes the driver's argv for it (shared memfd RAM, vhost-user-fs-pci on a connection
//      passed as an fd) and starts the vhost-user handshake on that connection: the test reads
//      QEMU's first message, the part that does not need a virtiofsd to answer;
//   2. the launch of the virtiofsd process: with a STAND-IN program in place of virtiofsd, ONLY to
//      see the jail it runs in (uid, groups, capabilities, no_new_privs, fds, cgroup, session). The
//      stand-in serves nothing; nothing here shows a working virtio-fs share.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <thread>

#include "common/error.h"
#include "common/fs.h"
#include "ipc/peer_creds.h"
#include "kata-vmmd/arch.h"
#include "kata-vmmd/launcher.h"
#include "kata-vmmd/qemu_config.h"
#include "kata-vmmd/virtiofsd.h"
#include "security/cgroup.h"
#include "security/rlimits.h"

namespace kata::vmmd {
namespace {

using namespace std::chrono_literals;
constexpr uid_t kVmUid = 65534;
constexpr gid_t kVmGid = 65534;

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

std::string socketInode(int fd) {
  struct stat st{};
  KATA_SYSCALL(::fstat(fd, &st), "fstat socket");
  return "socket:[" + std::to_string(st.st_ino) + "]";
}

class VirtioFs : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "the launcher switches uid: needs root";
    char tmpl[] = "/tmp/kata-vfs-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    ASSERT_EQ(::chmod(dir_.c_str(), 0755), 0);
    cgroupParent_ = "kata-vfs-" + std::to_string(::getpid());
  }
  void TearDown() override {
    if (dir_.empty()) return;
    removeTree(AT_FDCWD, dir_);
    for (const auto& h : layout().hierarchies) (void)::rmdir((h.mountPoint + "/" + cgroupParent_).c_str());
  }
  security::CgroupLayout layout() { return security::CgroupLayout::detect("/sys/fs/cgroup", {"pids"}); }
  Logger log_{LogOptions{"", LogFormat::kText, LogLevel::kWarn, "vmmd"}};
  std::string dir_, cgroupParent_;
};

TEST_F(VirtioFs, QemuTakesTheDeviceAndStartsTheVhostUserHandshake) {
  UniqueFd k(::open((dir_ + "/vmlinuz").c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644));
  ASSERT_EQ(::ftruncate(k.get(), 8192), 0);
  ASSERT_EQ(::mkdir((dir_ + "/share").c_str(), 0755), 0);
  // Where virtiofsd would be: the other end of the connection QEMU gets.
  int sv[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
  UniqueFd backend(sv[0]), front(sv[1]);
  // QEMU needs a QMP endpoint; it never gets past the handshake to serve it.
  UniqueFd qmpListen(KATA_SYSCALL(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)));
  {
    std::string path = dir_ + "/qmp.sock";
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, path.c_str(), sizeof addr.sun_path - 1);
    ASSERT_EQ(::bind(qmpListen.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    ASSERT_EQ(::listen(qmpListen.get(), 1), 0);
  }

  QemuConfig qc;
  qc.binary = "/usr/bin/qemu-system-x86_64";
  qc.name = "vfs-test";
  qc.accel = Accel::kTcg;
  qc.memory.sizeMiB = 128;
  qc.memory.backend = MemorySpec::Backend::kMemfd;  // what the sandbox manager picks for virtio-fs
  qc.kernel.kernel = dir_ + "/vmlinuz";
  qc.qmp.listenFd = qmpListen.get();
  qc.startPaused = true;
  qc.devices.push_back(VirtioFsDevice{"share", dir_ + "/share", "kataShared", front.get(), 1024});
  LaunchSpec spec;
  spec.sandboxId = "vfs-test";
  spec.argv = buildQemuArgs(qc, *hostArch());
  spec.identity = {kVmUid, kVmGid, {}, false};
  spec.passFds = {qmpListen.get(), front.get()};
  spec.logPath = dir_ + "/qemu.log";
  spec.cgroup = CgroupSpec{layout(), cgroupParent_, {}};
  LaunchedProcess qemu = launchJailed(spec, log_);
  front.reset();

  // vhost-user's header: request (u32), flags (u32: version 1 in the low bits), size (u32). QEMU's
  // first request on a new connection is VHOST_USER_GET_FEATURES (1), sent while it realizes the
  // vhost-user-fs-pci device: the device, its chardev and the memory backend were all accepted.
  struct pollfd p {backend.get(), POLLIN, 0};
  ASSERT_EQ(::poll(&p, 1, 30000), 1) << "QEMU sent nothing; its log: " << readFileIfExists(AT_FDCWD, dir_ + "/qemu.log", 4096).value_or("");
  uint32_t header[3] = {};
  ASSERT_EQ(::recv(backend.get(), header, sizeof header, MSG_WAITALL), static_cast<ssize_t>(sizeof header));
  EXPECT_EQ(header[0], 1u) << "expected VHOST_USER_GET_FEATURES";
  EXPECT_EQ(header[1] & 0x3u, 1u) << "vhost-user protocol version";
  EXPECT_EQ(header[2], 0u);
  // No virtiofsd answers: closing the connection makes QEMU give up on the device and exit.
  backend.reset();
  ExitStatus ex = qemu.wait(deadlineIn(20s));
  EXPECT_TRUE(ex.exited);
  EXPECT_NE(ex.code, 0);
  std::string log = readFileIfExists(AT_FDCWD, dir_ + "/qemu.log", 1 << 16).value_or("");
  EXPECT_NE(log.find("vhost-user-fs-pci"), std::string::npos) << log;
  qemu.cleanup();
}

TEST_F(VirtioFs, StandInVirtiofsdOnlyShowsTheJail) {
  // STAND-IN, not virtiofsd: a shell script that records its arguments and then sleeps, so the test
  // can look at the process the launch pipeline made. It serves no file system.
  std::string out = dir_ + "/standin-out";
  ASSERT_EQ(::mkdir(out.c_str(), 0700), 0);
  ASSERT_EQ(::chown(out.c_str(), kVmUid, kVmGid), 0);
  std::string standIn = dir_ + "/virtiofsd-stand-in";
  std::ofstream(standIn) << "#!/bin/sh\n"
                         << "# STAND-IN for virtiofsd: shows the jail only, serves nothing.\n"
                         << "printf '%s\\n' \"$@\" > " << out << "/args\n"
                         << "exec /usr/bin/sleep 60\n";
  ASSERT_EQ(::chmod(standIn.c_str(), 0755), 0);
  ASSERT_EQ(::mkdir((dir_ + "/share").c_str(), 0755), 0);
  UniqueFd listen = ipc::listenUnix(dir_ + "/virtiofsd-share.sock", 0600, static_cast<gid_t>(-1), 1);
  // A descriptor the daemon holds without O_CLOEXEC: it must not reach the helper either.
  UniqueFd decoy(::open("/etc/hostname", O_RDONLY));
  ASSERT_TRUE(decoy.valid());
  // The VM's cgroup, which virtiofsd joins (QEMU's launch owns it in the driver).
  security::Cgroup cgroup = security::Cgroup::create(layout(), cgroupParent_, "vfs-standin", {});

  VirtiofsdSpec vs;
  vs.binary = standIn;
  vs.sandboxId = "vfs-standin";
  vs.deviceId = "share";
  vs.sharedDir = dir_ + "/share";
  vs.listenFd = listen.get();
  vs.identity = {kVmUid, kVmGid, {}, false};
  vs.logPath = dir_ + "/virtiofsd-share.log";
  vs.cgroup = &cgroup;
  {
    LaunchedProcess helper = launchVirtiofsd(vs, log_);
    pid_t pid = helper.pid();
    for (int i = 0; i < 200; ++i) {
      std::string cmd = readFileIfExists(AT_FDCWD, "/proc/" + std::to_string(pid) + "/cmdline", 4096).value_or("");
      if (cmd.rfind("/usr/bin/sleep", 0) == 0) break;
      std::this_thread::sleep_for(10ms);
    }
    // The arguments virtiofsd would get (the same list as the golden file).
    std::string args = readFileIfExists(AT_FDCWD, out + "/args", 4096).value_or("");
    std::string want;
    for (size_t i = 1; i < buildVirtiofsdArgs(vs).size(); ++i) want += buildVirtiofsdArgs(vs)[i] + "\n";
    EXPECT_EQ(args, want);
    EXPECT_NE(args.find("--fd=" + std::to_string(listen.get()) + "\n"), std::string::npos);

    auto st = procStatus(pid);
    EXPECT_EQ(st["Uid"], "65534\t65534\t65534\t65534");
    EXPECT_EQ(st["Gid"], "65534\t65534\t65534\t65534");
    EXPECT_EQ(st["Groups"], "");
    for (const char* set : {"CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"})
      EXPECT_EQ(st[set], "0000000000000000") << set;
    EXPECT_EQ(st["NoNewPrivs"], "1");
    // Its own session, like QEMU: a signal to the daemon's process group does not reach it.
    EXPECT_EQ(::getsid(pid), pid);
    // Exactly stdin (/dev/null), stdout/stderr (its log) and the listening socket at the same number.
    auto fds = procFds(pid);
    EXPECT_EQ(fds.size(), 4u);
    EXPECT_EQ(fds[0], "/dev/null");
    EXPECT_EQ(fds[1], vs.logPath);
    EXPECT_EQ(fds[2], vs.logPath);
    EXPECT_EQ(fds[listen.get()], socketInode(listen.get()));
    // In the VM's cgroup.
    std::string own = readFile("/proc/" + std::to_string(pid) + "/cgroup", 1 << 16);
    EXPECT_NE(own.find(":/" + cgroupParent_ + "/vfs-standin\n"), std::string::npos) << own;
    // RLIMIT_CORE 0 (a core of virtiofsd can hold guest memory), NOFILE within our hard limit.
    std::string limits = readFile("/proc/" + std::to_string(pid) + "/limits", 1 << 16);
    EXPECT_NE(limits.find("Max core file size        0                    0"), std::string::npos) << limits;
  }  // the LaunchedProcess destructor kills and reaps it
  EXPECT_TRUE(cgroup.processes().empty());
  cgroup.remove();
}

}  // namespace
}  // namespace kata::vmmd
