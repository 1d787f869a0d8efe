// virtio-fs for real: kata-ctl with `shared_fs = "virtio-fs"` against a private kata-vmmd
// (scripts/private-vmmd.sh) whose policy names Debian 12's virtiofsd — QEMU 7.2's C one,
// /usr/lib/qemu/virtiofsd from qemu-system-common — booting the real guest image under QEMU.
//
// Two VM boots: the suite's pod (root's sandbox: the id range mapped to itself in virtiofsd's user
// namespace) and one ordinary user's `run` (only the owner mapped). What is shown:
//   - a container reads what the host wrote and the host sees what the container wrote, in the
//     container's root file system shared over virtio-fs (the guest's mount is "virtiofs"),
//     including a container created after virtiofsd started (its rootfs reaches virtiofsd's mount
//     namespace by propagation) and a root-owned directory of the image (which 9p cannot write);
//   - the running virtiofsd's jail, seen from outside (/proc);
//   - an ordinary user's sandbox: the guest's root is that user on the host, nothing more;
//   - a virtiofsd that dies stops its VM at once (recorded with the reason), and delete leaves no
//     process, cgroup, socket, mount or directory behind.
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "common/error.h"
#include "common/fs.h"
#include "tests/support/busybox_rootfs.h"
#include "tests/support/run_support.h"

namespace kata::test {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using Clock = std::chrono::steady_clock;

constexpr const char* kVirtiofsd = "/usr/lib/qemu/virtiofsd";
constexpr uid_t kUser = 65534;

bool waitFor(const std::function<bool()>& cond, std::chrono::milliseconds timeout) {
  auto deadline = Clock::now() + timeout;
  while (Clock::now() < deadline) {
    if (cond()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return cond();
}

std::string readOrEmpty(const std::string& path) {
  std::ifstream in(path);
  return std::string((std::istreambuf_iterator<char>(in)), {});
}

// A field of /proc/<pid>/status ("" when the process is gone).
std::string statusField(pid_t pid, const std::string& key) {
  std::istringstream in(readOrEmpty("/proc/" + std::to_string(pid) + "/status"));
  std::string line;
  while (std::getline(in, line))
    if (line.rfind(key + ":", 0) == 0) {
      std::string v = line.substr(key.size() + 1);
      v.erase(0, v.find_first_not_of(" \t"));
      return v;
    }
  return "";
}

std::string nsOf(pid_t pid, const char* ns) {
  std::error_code ec;
  return fs::read_symlink("/proc/" + std::to_string(pid) + "/ns/" + ns, ec).string();
}

bool alive(pid_t pid) { return pid > 0 && ::kill(pid, 0) == 0 && statusField(pid, "State").rfind("Z", 0) != 0; }

class VirtioFsE2E : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (::geteuid() != 0 || ::access(kVirtiofsd, X_OK) != 0) return;
    char tmpl[] = "/tmp/kata-vfs-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    ASSERT_EQ(::chmod(dir_.c_str(), 0755), 0);
    auto r = runProgram("/bin/sh", {"-c", "KATA_VIRTIOFSD=" + std::string(kVirtiofsd) + " " + KATA_SOURCE_DIR +
                                              "/scripts/private-vmmd.sh start " + vmmdDir() + " " +
                                              std::to_string(kUser) + " 2>&1"});
    ASSERT_EQ(r.status, 0) << r.out;
    started_ = true;
    std::ofstream(config()) << "[hypervisor]\nguest_image = \"" << KATA_BINARY_DIR << "/guest\"\n"
                            << "shared_fs = \"virtio-fs\"\n[runtime]\nvmmd_socket = \"" << vmmdDir() << "/vmmd.sock\"\n";
    ASSERT_EQ(::chmod(config().c_str(), 0644), 0);
    writeBundle("pod", json::array({"sleep", "1000000"}), false);
    auto t0 = Clock::now();
    auto c = ctl({"create", "-b", dir_ + "/pod", "pod"});
    ASSERT_EQ(c.status, 0) << c.err;
    auto s = ctl({"start", "pod"});
    ASSERT_EQ(s.status, 0) << s.err;
    std::cout << "virtio-fs pod sandbox: create + start took "
              << std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t0).count() << " ms\n";
    podReady_ = true;
  }

  static void TearDownTestSuite() {
    if (!started_) return;
    ctl({"delete", "--force", "pod"});
    auto r = runProgram("/bin/sh", {"-c", std::string(KATA_SOURCE_DIR) + "/scripts/private-vmmd.sh stop " + vmmdDir()});
    EXPECT_EQ(r.status, 0) << r.err;
    removeTree(AT_FDCWD, dir_);
  }

  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root (kata-vmmd is a root process)";
    if (::access(kVirtiofsd, X_OK) != 0) GTEST_SKIP() << kVirtiofsd << " missing: install qemu-system-common";
    ASSERT_TRUE(podReady_) << "the suite's virtio-fs pod did not start";
  }

  static std::string vmmdDir() { return dir_ + "/vmmd"; }
  static std::string stateRoot() { return dir_ + "/state"; }
  static std::string config() { return dir_ + "/virtio-fs.toml"; }
  // kata-vmmd's record of a sandbox (its own JSON, docs/vmmd.md "Registry").
  static json record(const std::string& id) {
    std::string text = readOrEmpty(vmmdDir() + "/state/sandboxes/" + id + ".json");
    return text.empty() ? json::object() : json::parse(text);
  }

  static RunResult ctl(std::vector<std::string> args, RunOptions opts = {}) {
    args.insert(args.begin(), {"--root", stateRoot(), "--config", config()});
    return runProgramWith(kataCtlPath(), args, opts);
  }

  static std::string writeBundle(const std::string& name, const json& args, bool join = true) {
    const std::string b = dir_ + "/" + name;
    writeBusyboxBundle(b, args.dump());
    if (join) {
      json spec = json::parse(readFile(b + "/config.json", 1 << 20));
      spec["annotations"]["io.kubernetes.cri.container-type"] = "container";
      spec["annotations"]["io.kubernetes.cri.sandbox-id"] = "pod";
      std::ofstream(b + "/config.json", std::ios::trunc) << spec.dump(2);
    }
    return b;
  }

  static std::string dir_;
  static bool started_;
  static bool podReady_;
};

std::string VirtioFsE2E::dir_;
bool VirtioFsE2E::started_ = false;
bool VirtioFsE2E::podReady_ = false;

TEST_F(VirtioFsE2E, ContainersAndTheHostSeeEachOthersFilesRootOwnedDirectoriesIncluded) {
  // A container created now, after virtiofsd started: its rootfs is mounted into the share root
  // and reaches virtiofsd's mount namespace by propagation.
  auto b = writeBundle("rw1", json::array({"sh", "-c",
                                           "cat /etc/from-host; echo from-guest > /root/from-guest && mkdir /etc/made && "
                                           "echo wrote; grep ' / / ' /proc/self/mountinfo"}));
  UniqueFd etc = openDir(b + "/rootfs/etc");
  writeFileAtomic(etc.get(), "from-host", "hello from the host\n", 0644);
  struct stat st {};
  ASSERT_EQ(::stat((b + "/rootfs/root").c_str(), &st), 0);
  ASSERT_EQ(st.st_uid, 0u);
  ASSERT_EQ(st.st_mode & 0777, 0755u) << "root-owned, not writable by others: 9p's QEMU (uid 65534) cannot write it";

  auto r = ctl({"run", "-b", b, "rw1"});
  ASSERT_EQ(r.status, 0) << r.out << r.err;
  EXPECT_EQ(r.out.rfind("hello from the host\nwrote\n", 0), 0u) << r.out;
  EXPECT_NE(r.out.find(" - virtiofs "), std::string::npos) << "the container's / is virtio-fs: " << r.out;
  // The host sees it, owned as the guest's root made it: host root (the id map of root's sandboxes).
  EXPECT_EQ(readOrEmpty(b + "/rootfs/root/from-guest"), "from-guest\n");
  ASSERT_EQ(::stat((b + "/rootfs/root/from-guest").c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, 0u);
  EXPECT_EQ(st.st_gid, 0u);
  EXPECT_TRUE(fs::is_directory(b + "/rootfs/etc/made"));
  // Its rootfs left the share root with it.
  EXPECT_FALSE(fs::exists(vmmdDir() + "/state/shares/pod/rw1")) << "the container's mount point is gone";

  // Another guest uid's file is that uid's on the host too (the whole id range maps to itself).
  auto u = ctl({"exec", "-u", "1000:1000", "pod", "sh", "-c", "echo by-user > /tmp/by-user; id -u"});
  ASSERT_EQ(u.status, 0) << u.err;
  EXPECT_EQ(u.out, "1000\n");
  ASSERT_EQ(::stat((dir_ + "/pod/rootfs/tmp/by-user").c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, 1000u);
  EXPECT_EQ(st.st_gid, 1000u);
  // And an unprivileged guest uid gets no more than its own permissions.
  auto denied = ctl({"exec", "-u", "1000:1000", "pod", "sh", "-c", "echo x > /root/x"});
  EXPECT_NE(denied.status, 0);
  EXPECT_NE(denied.err.find("Permission denied"), std::string::npos) << denied.err;
  EXPECT_FALSE(fs::exists(dir_ + "/pod/rootfs/root/x"));
}

TEST_F(VirtioFsE2E, VirtiofsdRunsInItsOwnUserNamespaceWithAFileServersCapabilitiesOnly) {
  json rec = record("pod");
  ASSERT_EQ(rec.value("sharedFs", ""), "virtio-fs") << rec.dump();
  pid_t vfsd = rec.value("virtiofsdPid", -1), qemu = rec.value("pid", -1);
  ASSERT_TRUE(alive(vfsd) && alive(qemu)) << rec.dump();
  pid_t vmmd = std::stoi(readOrEmpty(vmmdDir() + "/vmmd.pid"));
  // The process kata-vmmd tracks: its child (the launcher clones with CLONE_PARENT), in its own
  // session, waiting for the server it forked into new pid/mount/net namespaces.
  EXPECT_EQ(statusField(vfsd, "PPid"), std::to_string(vmmd));
  EXPECT_EQ(::getsid(vfsd), vfsd);
  std::string children = readOrEmpty("/proc/" + std::to_string(vfsd) + "/task/" + std::to_string(vfsd) + "/children");
  ASSERT_FALSE(children.empty()) << "virtiofsd's namespace sandbox forks its server";
  pid_t server = std::stoi(children);
  for (pid_t p : {vfsd, server}) {
    SCOPED_TRACE("pid " + std::to_string(p));
    // Root of a user namespace of its own whose ids are the host's (root's sandbox).
    EXPECT_EQ(readOrEmpty("/proc/" + std::to_string(p) + "/uid_map"), "         0          0 4294967295\n");
    EXPECT_NE(nsOf(p, "user"), nsOf(::getpid(), "user"));
    EXPECT_EQ(statusField(p, "Uid"), "0\t0\t0\t0");
    EXPECT_EQ(statusField(p, "Groups"), "");
    EXPECT_EQ(statusField(p, "NoNewPrivs"), "1");
    EXPECT_EQ(statusField(p, "CapBnd"), "0000000000000000") << "it empties its bounding set itself";
    EXPECT_EQ(statusField(p, "CapInh"), "0000000000000000");
    EXPECT_EQ(statusField(p, "CapAmb"), "0000000000000000");
    // In the VM's cgroup (QEMU's).
    EXPECT_EQ(readOrEmpty("/proc/" + std::to_string(p) + "/cgroup"), readOrEmpty("/proc/" + std::to_string(qemu) + "/cgroup"));
  }
  // The server: chown, dac_override, fowner, fsetid, setgid, setuid — no CAP_SYS_ADMIN any more, no
  // mknod, no setfcap; its own seccomp filter; own pid, mount and net namespaces.
  EXPECT_EQ(statusField(server, "CapEff"), "00000000000000db");
  EXPECT_EQ(statusField(server, "CapPrm"), "00000000000000db");
  EXPECT_EQ(statusField(server, "Seccomp"), "2");
  EXPECT_EQ(statusField(server, "NSpid"), std::to_string(server) + "\t1");
  for (const char* ns : {"mnt", "net", "pid"}) EXPECT_NE(nsOf(server, ns), nsOf(::getpid(), ns)) << ns;
  EXPECT_EQ(statusField(vfsd, "CapEff"), "0000000000000000") << "the waiting parent keeps nothing";
  // Its descriptors: /dev/null, its log twice, the vhost-user listening socket kata-vmmd made.
  std::map<int, std::string> fds;
  for (const auto& e : fs::directory_iterator("/proc/" + std::to_string(vfsd) + "/fd"))
    fds[std::stoi(e.path().filename())] = fs::read_symlink(e.path()).string();
  ASSERT_EQ(fds.size(), 4u);
  EXPECT_EQ(fds[0], "/dev/null");
  EXPECT_EQ(fds[1], vmmdDir() + "/state/vms/pod/virtiofsd-share.log");
  EXPECT_EQ(fds[2], fds[1]);
  EXPECT_EQ(fds.rbegin()->second.rfind("socket:[", 0), 0u);
  // The share root: root's 0700 (the guest's root may create files in it), a mount of its own,
  // nosuid,nodev, shared (what is mounted below it propagates into virtiofsd's namespace).
  const std::string share = vmmdDir() + "/state/shares/pod";
  struct stat st {};
  ASSERT_EQ(::stat(share.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0700u);
  EXPECT_EQ(st.st_uid, 0u);
  std::string mount;
  std::istringstream mi(readOrEmpty("/proc/self/mountinfo"));
  for (std::string line; std::getline(mi, line);)
    if (line.find(" " + share + " ") != std::string::npos) mount = line;
  EXPECT_NE(mount.find("nosuid,nodev"), std::string::npos) << mount;
  EXPECT_NE(mount.find(" shared:"), std::string::npos) << mount;
}

TEST_F(VirtioFsE2E, AnOrdinaryUsersGuestRootIsThatUserOnTheHost) {
  // The user's bundle: the rootfs theirs (shareDirectory lets only the owner share read-write), /etc
  // left root's.
  auto b = writeBundle("user1", json::array({"sh", "-c",
                                             "echo mine > /home/user/mine && echo ok; echo no > /etc/no; "
                                             "ls -ln / | grep -w etc; sleep 4"}),
                       false);
  for (const auto& e : fs::recursive_directory_iterator(b)) {
    if (e.path().string().find("/rootfs/etc") != std::string::npos) continue;
    ASSERT_EQ(::lchown(e.path().c_str(), kUser, kUser), 0) << e.path();
  }
  ASSERT_EQ(::chown(b.c_str(), kUser, kUser), 0);
  const std::string xdg = dir_ + "/xdg";
  fs::create_directories(xdg);
  ASSERT_EQ(::chown(xdg.c_str(), kUser, kUser), 0);
  ASSERT_EQ(::chmod(xdg.c_str(), 0700), 0);
  struct group* g = ::getgrnam("kata-dev");
  ASSERT_NE(g, nullptr) << "private-vmmd.sh makes the socket's group";
  RunOptions o;
  o.uid = kUser;
  o.gid = kUser;
  o.groups = {g->gr_gid};
  o.env = {"XDG_RUNTIME_DIR=" + xdg};
  RunResult r;
  std::thread run([&] { r = runProgramWith(kataCtlPath(), {"--config", config(), "run", "-b", b, "user1"}, o); });
  // While it sleeps: its virtiofsd maps only the owner, as its uid and gid 0.
  std::string uidMap, gidMap;
  bool seen = waitFor(
      [&] {
        pid_t p = record("user1").value("virtiofsdPid", -1);
        if (p <= 0) return false;
        uidMap = readOrEmpty("/proc/" + std::to_string(p) + "/uid_map");
        gidMap = readOrEmpty("/proc/" + std::to_string(p) + "/gid_map");
        return !uidMap.empty();
      },
      std::chrono::seconds(60));
  run.join();
  EXPECT_TRUE(seen) << "no virtiofsd seen for the user's sandbox";
  EXPECT_EQ(uidMap, "         0      65534          1\n");
  EXPECT_EQ(gidMap, "         0      65534          1\n");
  EXPECT_EQ(r.status, 0) << r.out << r.err;
  EXPECT_EQ(r.out.rfind("ok\n", 0), 0u) << r.out << r.err;
  // What the guest's root made is the user's; a root-owned directory is not writable through it
  // (host root is outside the map: the guest sees it as the overflow uid).
  struct stat st {};
  ASSERT_EQ(::stat((b + "/rootfs/home/user/mine").c_str(), &st), 0) << r.out << r.err;
  EXPECT_EQ(st.st_uid, kUser);
  EXPECT_EQ(st.st_gid, kUser);
  EXPECT_FALSE(fs::exists(b + "/rootfs/etc/no"));
  EXPECT_NE(r.err.find("/etc/no: Permission denied"), std::string::npos) << r.err;
  EXPECT_NE(r.out.find(" 65534 "), std::string::npos) << "host root shows as the overflow uid: " << r.out;
  EXPECT_FALSE(fs::exists(vmmdDir() + "/state/vms/user1")) << "the user's VM is gone";
}

TEST_F(VirtioFsE2E, AVirtioFsVmAndItsVirtiofsdOutliveADaemonRestart) {
  json before = record("pod");
  pid_t vfsd = before.value("virtiofsdPid", -1);
  ASSERT_TRUE(alive(vfsd));
  pid_t vmmd = std::stoi(readOrEmpty(vmmdDir() + "/vmmd.pid"));
  ASSERT_EQ(::kill(vmmd, SIGKILL), 0);
  ASSERT_TRUE(waitFor([&] { return !alive(vmmd); }, std::chrono::seconds(5)));
  EXPECT_TRUE(alive(vfsd)) << "virtiofsd is in its own session: the daemon's death does not reach it";
  auto r = runProgram("/bin/sh", {"-c", "KATA_VIRTIOFSD=" + std::string(kVirtiofsd) + " " + KATA_SOURCE_DIR +
                                            "/scripts/private-vmmd.sh start " + vmmdDir() + " " + std::to_string(kUser) +
                                            " 2>&1"});
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_NE(readOrEmpty(vmmdDir() + "/vmmd.log").find("re-adopted VM process " + std::to_string(before.value("pid", -1))),
            std::string::npos);
  EXPECT_EQ(record("pod").value("virtiofsdPid", -1), vfsd);
  // The share still answers, and what is shared after the restart reaches virtiofsd too.
  auto b = writeBundle("rw2", json::array({"sh", "-c", "echo after-restart > /root/after"}));
  auto run = ctl({"run", "-b", b, "rw2"});
  EXPECT_EQ(run.status, 0) << run.err;
  EXPECT_EQ(readOrEmpty(b + "/rootfs/root/after"), "after-restart\n");
}

// Last: it stops the suite's pod (a VM the restarted daemon adopted: its virtiofsd is watched too).
TEST_F(VirtioFsE2E, ADeadVirtiofsdStopsItsVmAndDeleteLeavesNothing) {
  json rec = record("pod");
  pid_t vfsd = rec.value("virtiofsdPid", -1), qemu = rec.value("pid", -1);
  ASSERT_TRUE(alive(vfsd) && alive(qemu)) << rec.dump();
  std::string server = readOrEmpty("/proc/" + std::to_string(vfsd) + "/task/" + std::to_string(vfsd) + "/children");
  std::string cgroupLine;
  std::istringstream cg(readOrEmpty("/proc/" + std::to_string(qemu) + "/cgroup"));
  for (std::string line; std::getline(cg, line);)
    if (line.rfind("0::", 0) == 0) cgroupLine = line.substr(3);
  ASSERT_FALSE(cgroupLine.empty());
  const std::string unified = fs::exists("/sys/fs/cgroup/unified") ? "/sys/fs/cgroup/unified" : "/sys/fs/cgroup";
  ASSERT_TRUE(fs::is_directory(unified + cgroupLine)) << unified + cgroupLine;

  podReady_ = false;
  ASSERT_EQ(::kill(vfsd, SIGKILL), 0);
  // Noticed without anyone asking (kata-vmmd watches its pidfd): QEMU is killed, the record says why.
  EXPECT_TRUE(waitFor([&] { return record("pod").value("stopped", false); }, std::chrono::seconds(10)));
  // (An adopted virtiofsd is not the daemon's child: its exit is seen, its status is not.)
  std::string reason = record("pod").value("stopReason", "");
  EXPECT_EQ(reason.rfind("virtiofsd of device share (pid " + std::to_string(vfsd) + ") ", 0), 0u) << reason;
  EXPECT_NE(reason.find("so the VM was stopped"), std::string::npos) << reason;
  EXPECT_FALSE(alive(qemu));
  EXPECT_NE(readOrEmpty(vmmdDir() + "/vmmd.log").find("the guest's virtio-fs share cannot answer any more"),
            std::string::npos);

  auto d = ctl({"delete", "--force", "pod"});
  EXPECT_EQ(d.status, 0) << d.err;
  EXPECT_TRUE(waitFor([&] { return !alive(vfsd) && (server.empty() || !alive(std::stoi(server))); },
                      std::chrono::seconds(5)));
  EXPECT_FALSE(fs::exists(unified + cgroupLine)) << "the VM's cgroup";
  EXPECT_FALSE(fs::exists(vmmdDir() + "/state/vms/pod")) << "run dir, virtiofsd's socket and log";
  EXPECT_FALSE(fs::exists(vmmdDir() + "/state/shares/pod")) << "the share root";
  EXPECT_FALSE(fs::exists(vmmdDir() + "/state/sandboxes/pod.json"));
  EXPECT_EQ(readOrEmpty("/proc/self/mountinfo").find(vmmdDir()), std::string::npos) << "a mount left behind";
}

}  // namespace
}  // namespace kata::test
