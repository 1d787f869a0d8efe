// kata-vmmd as a real daemon: a private instance (temp socket, state dir, policy) started as a
// subprocess, driven over its RPC socket by clients running as ordinary uids (forked test children
// that setuid), with real QEMU under TCG. QEMU launches are few and shared: one VM for the lifecycle,
// authorization and re-adoption checks, one more that dies while the daemon is down; one boots the
// real guest image (build/guest) and talks to its agent through the channel fd vmmd hands back.
#include <dirent.h>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "common/error.h"
#include "common/fs.h"
#include "ipc/vmmd_client.h"
#include "security/cgroup.h"
#include "tests/support/agent_client.h"
#include "tests/support/qemu_vm.h"

namespace {

using kata::ipc::VmmdClient;
namespace api = kata::ipc::vmmd;

constexpr uid_t kUserA = 65534;  // in the policy, max 1 sandbox
constexpr uid_t kUserB = 4242;   // in the policy
constexpr uid_t kStranger = 4343;  // not in the policy
constexpr gid_t kClientGid = 4500;  // every test client's gid: the socket's group, not in [access]
constexpr gid_t kAllowedGroup = 4600;  // in [access] gids: admits a caller that has it as a supplementary group

bool alive(pid_t pid) { return pid > 0 && ::kill(pid, 0) == 0; }

bool isZombieOrGone(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string s((std::istreambuf_iterator<char>(in)), {});
  if (s.empty()) return true;
  return s[s.rfind(')') + 2] == 'Z';
}

// "Name:\tvalue" of /proc/<pid>/status.
std::string statusField(pid_t pid, const std::string& name) {
  std::string text = kata::readFileIfExists(AT_FDCWD, "/proc/" + std::to_string(pid) + "/status", 1 << 16).value_or("");
  auto at = text.find("\n" + name + ":");
  if (at == std::string::npos) return "";
  at += name.size() + 2;
  while (at < text.size() && (text[at] == '\t' || text[at] == ' ')) ++at;
  return text.substr(at, text.find('\n', at) - at);
}

class VmmdDaemonTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root (the daemon is a root process)";
    if (!kata::pathExists("/usr/bin/qemu-system-x86_64")) GTEST_SKIP() << "needs QEMU";
    char tmpl[] = "/tmp/vmmd-ft-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    ASSERT_EQ(::chmod(dir_.c_str(), 0711), 0);
    socket_ = dir_ + "/vmmd.sock";
    state_ = dir_ + "/state";
    policy_ = dir_ + "/policy.toml";
    std::ofstream(policy_) << "[socket]\nmode = 0o666\n"  // refused: others may not have access
                           << "";
    ::chmod(policy_.c_str(), 0600);
    cgroupParent_ = "kata-vmmd-ft-" + std::to_string(::getpid());
    layout_ = kata::security::CgroupLayout::detect("/sys/fs/cgroup");
  }
  void TearDown() override {
    if (daemon_ > 0) {
      ::kill(daemon_, SIGKILL);
      ::waitpid(daemon_, nullptr, 0);
    }
    if (dir_.empty()) return;
    // A failed run may leave VMs behind: kill what is in this test's cgroups, then remove them.
    for (const auto& h : layout_.hierarchies) {
      std::string parent = h.mountPoint + "/" + cgroupParent_;
      for (const char* id : {"ft1", "ft-root", "ftb", "ftg", "fts", "ftt"}) {
        std::string procs = kata::readFileIfExists(AT_FDCWD, parent + "/" + std::string(id) + "/cgroup.procs", 1 << 16).value_or("");
        for (size_t at = 0; at < procs.size();) {
          size_t nl = procs.find('\n', at);
          if (nl == std::string::npos) nl = procs.size();
          if (nl > at) ::kill(std::stoi(procs.substr(at, nl - at)), SIGKILL);
          at = nl + 1;
        }
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    for (const auto& h : layout_.hierarchies) {
      std::string parent = h.mountPoint + "/" + cgroupParent_;
      for (const char* id : {"ft1", "ft-root", "ftb", "ftg", "fts", "ftt"}) ::rmdir((parent + "/" + std::string(id)).c_str());
      ::rmdir(parent.c_str());
    }
    // A failed run may leave share mounts and VMs behind: clean them so the next run starts afresh.
    std::string mounts = kata::readFile("/proc/self/mountinfo", 1 << 20);
    for (size_t at = mounts.find(dir_); at != std::string::npos; at = mounts.find(dir_, at + 1)) {
      std::string path = mounts.substr(at, mounts.find(' ', at) - at);
      ::umount2(path.c_str(), MNT_DETACH);
    }
    kata::removeTree(AT_FDCWD, dir_);
  }

  void writePolicy() {
    std::ofstream out(policy_, std::ios::trunc);
    out << "[socket]\nmode = 0o666\n";
    out.close();
    std::ofstream(policy_, std::ios::trunc)
        << "[socket]\nmode = 0o660\ngroup = " << kClientGid << "\n\n[access]\nuids = [" << kUserA << ", " << kUserB << "]\n"
        << "gids = [" << kAllowedGroup << "]\n\n"
        << "[limits]\nmax_sandboxes = 4\nmax_memory_mib = 1024\nmax_vcpus = 4\n\n"
        << "[limits.uid." << kUserA << "]\nmax_sandboxes = 1\n\n"
        << "[devices]\nemulated = [\"virtio-rng-pci\"]\n\n[vm]\naccel = \"tcg\"\n";
    ::chmod(policy_.c_str(), 0600);
  }

  // Starts the daemon; returns its exit status if it exited at once (start-up refused), else -1.
  int startDaemon() {
    std::string bin = std::string(KATA_BINARY_DIR) + "/bin/kata-vmmd";
    std::string log = dir_ + "/vmmd.log";
    daemon_ = ::fork();
    if (daemon_ == 0) {
      int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
      ::dup2(fd, 2);
      ::execl(bin.c_str(), bin.c_str(), "--foreground", "--socket", socket_.c_str(), "--state-dir", state_.c_str(),
              "--policy", policy_.c_str(), "--log-level", "debug", "--cgroup-parent", cgroupParent_.c_str(),
              static_cast<char*>(nullptr));
      ::_exit(127);
    }
    for (int i = 0; i < 200; ++i) {
      int status = 0;
      if (::waitpid(daemon_, &status, WNOHANG) == daemon_) {
        daemon_ = -1;
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
      }
      if (kata::pathExists(socket_)) return -1;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    ADD_FAILURE() << "daemon did not create its socket; log:\n" << daemonLog();
    return -1;
  }

  std::string daemonLog() { return kata::readFileIfExists(AT_FDCWD, dir_ + "/vmmd.log", 1 << 20).value_or(""); }

  // Runs fn as uid (a forked child that drops to it, primary gid kClientGid, the given supplementary
  // groups) and returns what it returned, or "EXC:<msg>".
  std::string as(uid_t uid, const std::function<std::string(VmmdClient&)>& fn, std::vector<gid_t> groups = {}) {
    return collect(spawnAs(uid, fn, std::move(groups)));
  }

  // The same, without waiting: the client runs while the test does other things; collect() waits.
  struct Client {
    pid_t pid = -1;
    int out = -1;
  };
  Client spawnAs(uid_t uid, const std::function<std::string(VmmdClient&)>& fn, std::vector<gid_t> groups = {}) {
    int p[2];
    EXPECT_EQ(::pipe(p), 0);
    pid_t child = ::fork();
    if (child == 0) {
      ::close(p[0]);
      std::string out;
      try {
        if (uid != 0) {
          if (::setgroups(groups.size(), groups.data()) != 0 || ::setgid(kClientGid) != 0 || ::setuid(uid) != 0)
            throw std::runtime_error("setuid");
        }
        VmmdClient client(socket_);
        out = fn(client);
      } catch (const kata::Error& e) {
        out = std::string("EXC:") + kata::ipc::errorKindTag(e.kind()) + ": " + e.what();
      } catch (const std::exception& e) {
        out = std::string("EXC:") + e.what();
      }
      (void)!::write(p[1], out.data(), out.size());
      ::_exit(0);
    }
    ::close(p[1]);
    return Client{child, p[0]};
  }
  static std::string collect(Client c) {
    std::string out;
    char buf[4096];
    ssize_t n;
    while ((n = ::read(c.out, buf, sizeof buf)) > 0) out.append(buf, static_cast<size_t>(n));
    ::close(c.out);
    ::waitpid(c.pid, nullptr, 0);
    return out;
  }

  static std::string create(VmmdClient& c, const std::string& id, uint32_t vcpus = 1, uint64_t mib = 128) {
    auto req = c.vmmd().createVmRequest();
    auto spec = req.initSpec();
    spec.setSandboxId(id);
    spec.setVcpus(vcpus);
    spec.setMemoryMiB(mib);
    spec.setAccel("tcg");
    spec.setStartPaused(true);
    spec.setHotplugSlots(1);
    auto res = c.wait(req.send());
    auto agent = c.takeFd(res.getAgentChannel());
    auto console = c.takeFd(res.getConsole());
    return "pid=" + std::to_string(res.getInfo().getPid()) + " state=" + std::to_string(int(res.getInfo().getState())) +
           " fds=" + (agent.valid() && console.valid() ? "ok" : "missing");
  }

  static api::Vm::Client open(VmmdClient& c, const std::string& id) {
    auto req = c.vmmd().openVmRequest();
    req.setSandboxId(id);
    return c.wait(req.send()).getVm();
  }

  static std::string statusOf(VmmdClient& c, const std::string& id) {
    auto response = c.wait(open(c, id).statusRequest().send());  // owns what info reads
    auto info = response.getInfo();
    const char* names[] = {"unknown", "created", "running", "paused", "stopped"};
    return std::string(names[static_cast<int>(info.getState())]) + (info.getAdopted() ? " adopted" : "") +
           " pid=" + std::to_string(info.getPid());
  }

  // Where the daemon puts a sandbox's QEMU, in every hierarchy it uses.
  std::vector<std::string> cgroupDirs(const std::string& id) const {
    std::vector<std::string> out;
    for (const auto& h : layout_.hierarchies) out.push_back(h.mountPoint + "/" + cgroupParent_ + "/" + id);
    return out;
  }

  // The jail of a QEMU the daemon launched through RPC, seen from outside.
  void expectJailed(pid_t qemu, uid_t owner, const std::string& id, bool childOfDaemon = true) {
    SCOPED_TRACE("jail of " + id);
    std::string u = std::to_string(owner);
    EXPECT_EQ(statusField(qemu, "Uid"), u + "\t" + u + "\t" + u + "\t" + u);
    EXPECT_EQ(statusField(qemu, "Groups"), "");
    EXPECT_EQ(statusField(qemu, "CapEff"), "0000000000000000");
    EXPECT_EQ(statusField(qemu, "CapPrm"), "0000000000000000");
    EXPECT_EQ(statusField(qemu, "CapBnd"), "0000000000000000");
    EXPECT_EQ(statusField(qemu, "CapAmb"), "0000000000000000");
    EXPECT_EQ(statusField(qemu, "NoNewPrivs"), "1");
    EXPECT_EQ(statusField(qemu, "Seccomp"), "2");
    // QEMU's own -sandbox filter only: the launcher process that started it has none, so the
    // daemon's filter is not inherited. The daemon is its parent all the same (CLONE_PARENT).
    EXPECT_EQ(statusField(qemu, "Seccomp_filters"), "1");
    if (childOfDaemon) {
      EXPECT_EQ(statusField(qemu, "PPid"), std::to_string(daemon_));
    }
    // Its own session: a signal to the daemon's group does not reach it.
    std::string stat = kata::readFile("/proc/" + std::to_string(qemu) + "/stat", 4096);
    EXPECT_NE(stat.find(" " + std::to_string(qemu) + " "), std::string::npos) << "not a session leader: " << stat;
    // Its cgroup exists in every hierarchy and holds exactly QEMU.
    for (const auto& d : cgroupDirs(id)) {
      EXPECT_TRUE(kata::pathExists(d)) << d;
      EXPECT_EQ(kata::readFileIfExists(AT_FDCWD, d + "/cgroup.procs", 4096).value_or(""), std::to_string(qemu) + "\n") << d;
    }
    std::string own = kata::readFile("/proc/" + std::to_string(qemu) + "/cgroup", 1 << 16);
    EXPECT_NE(own.find(":/" + cgroupParent_ + "/" + id + "\n"), std::string::npos) << own;
  }

  // After destroy: no process, cgroup, mount, socket, file or record of the sandbox is left.
  void expectNothingLeft(pid_t qemu, const std::string& id) {
    SCOPED_TRACE("after destroying " + id);
    for (int i = 0; i < 100 && !isZombieOrGone(qemu); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(20));
    EXPECT_TRUE(isZombieOrGone(qemu));
    for (const auto& d : cgroupDirs(id)) EXPECT_FALSE(kata::pathExists(d)) << d;
    EXPECT_FALSE(kata::pathExists(state_ + "/vms/" + id));  // qmp.sock, agent.sock, logs
    EXPECT_FALSE(kata::pathExists(state_ + "/shares/" + id));
    EXPECT_FALSE(kata::pathExists(state_ + "/sandboxes/" + id + ".json"));
    EXPECT_FALSE(kata::pathExists(state_ + "/sandboxes/" + id + ".json.corrupt"));
    std::string mounts = kata::readFile("/proc/self/mountinfo", 1 << 20);
    EXPECT_EQ(mounts.find(state_ + "/shares/" + id), std::string::npos);
    // No QEMU of this sandbox anywhere (its name is on the command line: "-name <id>,debug-threads=on").
    std::vector<std::string> left;
    kata::UniqueFd proc = kata::openDir("/proc");
    DIR* d = ::fdopendir(::dup(proc.get()));
    while (dirent* e = ::readdir(d)) {
      if (e->d_name[0] < '1' || e->d_name[0] > '9') continue;
      std::string cmd = kata::readFileIfExists(AT_FDCWD, std::string("/proc/") + e->d_name + "/cmdline", 1 << 16).value_or("");
      if (cmd.find(std::string("-name") + '\0' + id + ",debug-threads") != std::string::npos) left.push_back(e->d_name);
    }
    ::closedir(d);
    EXPECT_TRUE(left.empty()) << "QEMU of " << id << " still runs as pid " << left.front();
  }

  // The launcher process of the running daemon: its child named "vmmd-launcher".
  pid_t launcherOf(pid_t daemon) {
    std::string children = kata::readFileIfExists(AT_FDCWD, "/proc/" + std::to_string(daemon) + "/task/" +
                                                                std::to_string(daemon) + "/children", 1 << 16).value_or("");
    for (size_t at = 0; at < children.size();) {
      size_t sp = children.find(' ', at);
      if (sp == std::string::npos) sp = children.size();
      if (sp > at) {
        pid_t pid = std::stoi(children.substr(at, sp - at));
        if (kata::readFileIfExists(AT_FDCWD, "/proc/" + std::to_string(pid) + "/comm", 64).value_or("") == "vmmd-launcher\n")
          return pid;
      }
      at = sp + 1;
    }
    return -1;
  }

  std::string dir_, socket_, state_, policy_;
  std::string cgroupParent_;
  kata::security::CgroupLayout layout_;
  pid_t daemon_ = -1;
};

pid_t pidFrom(const std::string& s) {
  auto at = s.find("pid=");
  return at == std::string::npos ? -1 : std::stoi(s.substr(at + 4));
}

TEST_F(VmmdDaemonTest, RefusesInsecurePolicyAndSocketDir) {
  // A policy that grants the socket to everyone is refused with a clear message.
  EXPECT_EQ(startDaemon(), 1);
  EXPECT_NE(daemonLog().find("socket.mode"), std::string::npos) << daemonLog();
  writePolicy();
  ::chmod(policy_.c_str(), 0666);
  EXPECT_EQ(startDaemon(), 1);
  EXPECT_NE(daemonLog().find("writable by group or others"), std::string::npos) << daemonLog();
  ::chmod(policy_.c_str(), 0600);
  ::chmod(dir_.c_str(), 0777);
  EXPECT_EQ(startDaemon(), 1);
  ::chmod(dir_.c_str(), 0711);
}

TEST_F(VmmdDaemonTest, SupplementaryGroupAdmitsACaller) {
  writePolicy();
  ASSERT_EQ(startDaemon(), -1) << daemonLog();
  auto whoami = [](VmmdClient& c) {
    auto r = c.wait(c.vmmd().whoamiRequest().send());
    std::string out = "uid=" + std::to_string(r.getCaller().getUid()) + " gid=" + std::to_string(r.getCaller().getGid()) +
                      " groups=";
    for (auto g : r.getCaller().getGroups()) out += std::to_string(g) + ",";
    // A call beyond whoami: the admitted caller is served, it owns nothing.
    out += " vms=" + std::to_string(c.wait(c.vmmd().listVmsRequest().send()).getVms().size());
    return out;
  };
  // kStranger is not in [access] uids and its primary gid (kClientGid) is not in [access] gids; one of
  // its supplementary groups is.
  EXPECT_EQ(as(kStranger, whoami, {4599, kAllowedGroup}),
            "uid=" + std::to_string(kStranger) + " gid=" + std::to_string(kClientGid) + " groups=4599," +
                std::to_string(kAllowedGroup) + ", vms=0");
  // The same uid without that group: refused, with what the kernel reported about it.
  std::string denied = as(kStranger, whoami, {4599});
  EXPECT_NE(denied.find("EXC:permission-denied: uid " + std::to_string(kStranger) + " (gid " +
                        std::to_string(kClientGid) + ", groups 4599) is not allowed to use kata-vmmd"),
            std::string::npos)
      << denied;
  EXPECT_NE(as(kStranger, whoami).find("no supplementary groups) is not allowed"), std::string::npos);
}

// The policy names no virtiofsd (writePolicy leaves [vm] virtiofsd out): a client asking for
// virtio-fs is told so before anything is created; a value that is neither share type is refused.
TEST_F(VmmdDaemonTest, VirtioFsWithoutVirtiofsdIsRefusedClearly) {
  writePolicy();
  ASSERT_EQ(startDaemon(), -1) << daemonLog();
  auto createWith = [](const std::string& sharedFs) {
    return [sharedFs](VmmdClient& c) {
      auto req = c.vmmd().createVmRequest();
      auto spec = req.initSpec();
      spec.setSandboxId("ftv");
      spec.setVcpus(1);
      spec.setMemoryMiB(128);
      spec.setAccel("tcg");
      spec.setSharedFs(sharedFs);
      c.wait(req.send());
      return std::string("created");
    };
  };
  std::string refused = as(kUserA, createWith("virtio-fs"));
  EXPECT_NE(refused.find("EXC:failed-precondition: sandbox ftv asks for virtio-fs, but this kata-vmmd has no "
                         "virtiofsd: its policy's [vm] virtiofsd is empty"),
            std::string::npos)
      << refused;
  std::string bad = as(kUserA, createWith("nfs"));
  EXPECT_NE(bad.find("EXC:invalid-argument: sharedFs \"nfs\" is not \"virtio-9p\" or \"virtio-fs\""), std::string::npos)
      << bad;
  // Nothing was made for it, and the id is free.
  EXPECT_FALSE(kata::pathExists(state_ + "/vms/ftv"));
  EXPECT_FALSE(kata::pathExists(state_ + "/sandboxes/ftv.json"));
  EXPECT_EQ(as(kUserA, [](VmmdClient& c) { return std::to_string(c.wait(c.vmmd().listVmsRequest().send()).getVms().size()); }),
            "0");
}

TEST_F(VmmdDaemonTest, LifecycleAuthorizationLimitsAndReadoption) {
  writePolicy();
  ASSERT_EQ(startDaemon(), -1) << daemonLog();

  // A uid the policy does not name cannot use the daemon.
  std::string denied = as(kStranger, [](VmmdClient& c) {
    auto r = c.wait(c.vmmd().whoamiRequest().send());
    return "uid=" + std::to_string(r.getCaller().getUid());
  });
  EXPECT_NE(denied.find("EXC:permission-denied"), std::string::npos) << denied;
  EXPECT_NE(denied.find("not allowed to use kata-vmmd"), std::string::npos) << denied;

  // The daemon's two processes: the daemon keeps the capabilities of its own work under its seccomp
  // filter; the launcher keeps those of the launch's child steps and has no filter.
  // CAP_SYS_ADMIN(21) CAP_NET_ADMIN(12) CAP_KILL(5) CAP_CHOWN(0) CAP_DAC_OVERRIDE(1).
  EXPECT_EQ(statusField(daemon_, "CapEff"), "0000000000201023");
  EXPECT_EQ(statusField(daemon_, "CapBnd"), "0000000000201023");
  EXPECT_EQ(statusField(daemon_, "Seccomp"), "2");
  pid_t launcher = launcherOf(daemon_);
  ASSERT_GT(launcher, 0) << "no launcher process";
  // CAP_SETUID(7) CAP_SETGID(6) CAP_SETPCAP(8) CAP_SYS_ADMIN(21) CAP_SETFCAP(31); CAP_SYS_RESOURCE(24)
  // only where the host grants it (this build machine does not).
  std::string launcherCaps = statusField(launcher, "CapEff");
  EXPECT_TRUE(launcherCaps == "00000000802001c0" || launcherCaps == "00000000812001c0") << launcherCaps;
  EXPECT_EQ(statusField(launcher, "Seccomp"), "0");
  EXPECT_EQ(statusField(launcher, "NoNewPrivs"), "1");

  // whoami is the kernel's word, not the client's.
  EXPECT_EQ(as(kUserA, [](VmmdClient& c) {
              return "uid=" + std::to_string(c.wait(c.vmmd().whoamiRequest().send()).getCaller().getUid());
            }),
            "uid=" + std::to_string(kUserA));

  // Hostile input gets a clear error and the daemon keeps serving.
  std::string bad = as(kUserA, [](VmmdClient& c) { return create(c, "../../etc"); });
  EXPECT_NE(bad.find("EXC:invalid-argument: invalid sandbox id"), std::string::npos) << bad;
  bad = as(kUserA, [](VmmdClient& c) { return create(c, "big", 1, uint64_t{1} << 40); });
  EXPECT_NE(bad.find("EXC:invalid-argument"), std::string::npos) << bad;
  bad = as(kUserA, [](VmmdClient& c) { return create(c, "toobig", 1, 2048); });  // policy: 1024 MiB
  EXPECT_NE(bad.find("EXC:permission-denied"), std::string::npos) << bad;

  // Create as user A: a QEMU under TCG, CPUs stopped (no kernel yet), agent channel + console fds.
  std::string created = as(kUserA, [](VmmdClient& c) { return create(c, "ft1"); });
  ASSERT_NE(created.find("fds=ok"), std::string::npos) << created << "\n" << daemonLog();
  pid_t qemu = pidFrom(created);
  ASSERT_TRUE(alive(qemu));
  // QEMU runs jailed as the owner, not root: no capabilities, no_new_privs, its own cgroup.
  expectJailed(qemu, kUserA, "ft1");

  // The limit: user A may own one sandbox.
  bad = as(kUserA, [](VmmdClient& c) { return create(c, "ft2"); });
  EXPECT_NE(bad.find("EXC:permission-denied"), std::string::npos) << bad;
  EXPECT_NE(bad.find("limit is 1"), std::string::npos) << bad;

  // start, pause, resume, status through a new connection (as each kata-ctl call would).
  EXPECT_EQ(as(kUserA, [](VmmdClient& c) { return statusOf(c, "ft1"); }), "created pid=" + std::to_string(qemu));
  std::string seq = as(kUserA, [](VmmdClient& c) {
    auto vm = open(c, "ft1");
    c.wait(vm.startRequest().send());
    std::string out = statusOf(c, "ft1");
    c.wait(vm.pauseRequest().send());
    out += "|" + statusOf(c, "ft1");
    c.wait(vm.resumeRequest().send());
    out += "|" + statusOf(c, "ft1");
    auto statsResponse = c.wait(vm.statsRequest().send());
    auto stats = statsResponse.getStats();
    out += "|mem=" + std::to_string(stats.getMemoryBaseBytes() >> 20) + " cpus=" + std::to_string(stats.getVcpus());
    return out;
  });
  std::string p = " pid=" + std::to_string(qemu);
  EXPECT_EQ(seq, "running" + p + "|paused" + p + "|running" + p + "|mem=128 cpus=1");

  // Hot-plug: an emulated device on the allow-list goes in, one that is not is refused.
  std::string hp = as(kUserA, [](VmmdClient& c) {
    auto vm = open(c, "ft1");
    auto r = vm.hotplugRequest();
    r.initDevice().setId("rng1");
    r.getDevice().initEmulated().setDriver("virtio-rng-pci");
    c.wait(r.send());
    auto r2 = vm.hotplugRequest();
    r2.initDevice().setId("nic9");
    r2.getDevice().initEmulated().setDriver("e1000");
    try {
      c.wait(r2.send());
      return std::string("e1000 accepted");
    } catch (const kata::Error& e) {
      return std::string("ok: ") + e.what();
    }
  });
  EXPECT_NE(hp.find("ok: device driver \"e1000\" is not on the policy"), std::string::npos) << hp;

  // shareDirectory: a directory user A owns, bind-mounted into the share root.
  std::string src = dir_ + "/src";
  ASSERT_EQ(::mkdir(src.c_str(), 0755), 0);
  ASSERT_EQ(::chown(src.c_str(), kUserA, kUserA), 0);
  std::ofstream(src + "/hello") << "hi";
  std::string share = as(kUserA, [src](VmmdClient& c) {
    int fd = ::open(src.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    auto r = open(c, "ft1").shareDirectoryRequest();
    r.setDir(c.makeFd(fd));
    r.setName("data");
    r.setReadOnly(true);
    c.wait(r.send());
    ::close(fd);
    return std::string("shared");
  });
  EXPECT_EQ(share, "shared");
  std::string shareRoot = state_ + "/shares/ft1";
  EXPECT_EQ(kata::readFileIfExists(AT_FDCWD, shareRoot + "/data/hello", 16).value_or(""), "hi");

  // Another allowed uid cannot see or touch it: the same words as for an id that does not exist.
  std::string other = as(kUserB, [](VmmdClient& c) {
    std::string out = std::to_string(c.wait(c.vmmd().listVmsRequest().send()).getVms().size());
    try {
      open(c, "ft1");
    } catch (const kata::Error& e) {
      out += std::string("|") + kata::ipc::errorKindTag(e.kind()) + ": " + e.what();
    }
    return out;
  });
  EXPECT_EQ(other, "0|not-found: sandbox ft1 does not exist");

  // User B's VM: jailed as B; destroyed by a daemon that launched it leaves nothing behind.
  std::string createdB = as(kUserB, [](VmmdClient& c) { return create(c, "ftb"); });
  pid_t qemuB = pidFrom(createdB);
  ASSERT_TRUE(alive(qemuB)) << createdB << "\n" << daemonLog();
  expectJailed(qemuB, kUserB, "ftb");
  EXPECT_EQ(as(kUserB, [](VmmdClient& c) {
              auto r = open(c, "ftb").destroyRequest();
              r.setTimeoutMs(4000);
              c.wait(r.send());
              return std::string("destroyed");
            }),
            "destroyed");
  expectNothingLeft(qemuB, "ftb");

  // A second VM (root's) that will die while the daemon is down.
  std::string second = as(0, [](VmmdClient& c) { return create(c, "ft-root"); });
  pid_t qemu2 = pidFrom(second);
  ASSERT_TRUE(alive(qemu2)) << second;
  expectJailed(qemu2, 65534, "ft-root");  // root's sandboxes run as nobody

  // kill -9 the daemon: the VMs keep running; its launcher goes with it (PR_SET_PDEATHSIG).
  pid_t oldLauncher = launcherOf(daemon_);
  ::kill(daemon_, SIGKILL);
  ::waitpid(daemon_, nullptr, 0);
  daemon_ = -1;
  EXPECT_TRUE(alive(qemu));
  for (int i = 0; i < 100 && !isZombieOrGone(oldLauncher); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_TRUE(isZombieOrGone(oldLauncher)) << "the launcher outlived its daemon";
  ::kill(qemu2, SIGKILL);
  for (int i = 0; i < 100 && !isZombieOrGone(qemu2); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(20));

  ::unlink(socket_.c_str());  // the killed daemon's; the new one replaces it anyway
  ASSERT_EQ(startDaemon(), -1) << daemonLog();
  EXPECT_EQ(as(kUserA, [](VmmdClient& c) { return statusOf(c, "ft1"); }), "running adopted pid=" + std::to_string(qemu));
  expectJailed(qemu, kUserA, "ft1", false);  // the same process, still in its cgroup (now init's child)
  // The VM that died while the daemon was down left no cgroup behind.
  for (const auto& d : cgroupDirs("ft-root")) EXPECT_FALSE(kata::pathExists(d)) << d;
  EXPECT_EQ(as(0, [](VmmdClient& c) { return statusOf(c, "ft-root"); }), "stopped adopted pid=-1");

  // The re-adopted VM is driven and destroyed through the new daemon; nothing is left behind.
  std::string destroyed = as(kUserA, [](VmmdClient& c) {
    auto vm = open(c, "ft1");
    c.wait(vm.pauseRequest().send());
    std::string out = statusOf(c, "ft1");
    auto r = vm.destroyRequest();
    r.setTimeoutMs(4000);
    c.wait(r.send());
    try {
      open(c, "ft1");
    } catch (const kata::Error& e) {
      out += std::string("|") + e.what();
    }
    return out;
  });
  EXPECT_EQ(destroyed, "paused adopted pid=" + std::to_string(qemu) + "|sandbox ft1 does not exist");
  expectNothingLeft(qemu, "ft1");
  EXPECT_EQ(kata::readFile("/proc/self/mountinfo", 1 << 20).find(shareRoot), std::string::npos);

  EXPECT_EQ(as(0, [](VmmdClient& c) {
              auto r = open(c, "ft-root").destroyRequest();
              c.wait(r.send());
              return std::to_string(c.wait(c.vmmd().listVmsRequest().send()).getVms().size());
            }),
            "0");
  expectNothingLeft(qemu2, "ft-root");
  // Nothing of this daemon is left in its cgroup parent either.
  for (const auto& h : layout_.hierarchies) {
    std::string procs = kata::readFileIfExists(AT_FDCWD, h.mountPoint + "/" + cgroupParent_ + "/cgroup.procs", 4096).value_or("");
    EXPECT_EQ(procs, "") << h.mountPoint;
  }
}

// A VM whose QEMU does not answer (stopped with SIGSTOP) holds up only the calls to that VM: the
// call waits on its VM's worker thread until QMP's deadline, while the event loop answers everyone
// else at once.
TEST_F(VmmdDaemonTest, SlowVmDoesNotHoldUpOtherClients) {
  writePolicy();
  ASSERT_EQ(startDaemon(), -1) << daemonLog();
  std::string slowVm = as(kUserA, [](VmmdClient& c) { return create(c, "fts"); });
  std::string otherVm = as(kUserB, [](VmmdClient& c) { return create(c, "ftt"); });
  pid_t slow = pidFrom(slowVm), other = pidFrom(otherVm);
  ASSERT_TRUE(alive(slow)) << slowVm << "\n" << daemonLog();
  ASSERT_TRUE(alive(other)) << otherVm << "\n" << daemonLog();

  using Clock = std::chrono::steady_clock;
  auto ms = [](Clock::time_point since) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - since).count();
  };
  ASSERT_EQ(::kill(slow, SIGSTOP), 0);
  // Client 1 asks the stopped QEMU for its status: QMP does not answer, the call waits for QMP's
  // deadline (10 s) and then fails with a timeout.
  Client waiting = spawnAs(kUserA, [ms](VmmdClient& c) {
    auto t0 = Clock::now();
    try {
      return "answered: " + statusOf(c, "fts");
    } catch (const kata::Error& e) {
      return std::string("EXC:") + kata::ipc::errorKindTag(e.kind()) + ": " + e.what() + " after " +
             std::to_string(ms(t0)) + " ms";
    }
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));  // the call is on the VM's worker by now

  // Meanwhile another uid's calls, each on a new connection as kata-ctl makes them.
  auto t0 = Clock::now();
  std::string others = as(kUserB, [ms](VmmdClient& c) {
    std::string out;
    auto t = Clock::now();
    out += "whoami=" + std::to_string(c.wait(c.vmmd().whoamiRequest().send()).getCaller().getUid());
    out += " listVms=" + std::to_string(c.wait(c.vmmd().listVmsRequest().send()).getVms().size());
    auto vm = open(c, "ftt");
    auto info = c.wait(vm.infoRequest().send());
    out += " info=" + std::string(info.getInfo().getSandboxId().cStr());
    out += " status=" + statusOf(c, "ftt").substr(0, 7);
    c.wait(vm.startRequest().send());
    out += " started=" + statusOf(c, "ftt").substr(0, 7);
    std::fprintf(stderr, "another uid's whoami, listVms, info, status, start, status: %lld ms\n",
                 static_cast<long long>(ms(t)));
    return out;
  });
  long long othersMs = ms(t0);
  EXPECT_EQ(others, "whoami=" + std::to_string(kUserB) + " listVms=1 info=ftt status=created started=running");
  // The same uid's other calls that need no answer from the stopped QEMU are served too.
  t0 = Clock::now();
  std::string same = as(kUserA, [](VmmdClient& c) {
    auto info = c.wait(open(c, "fts").infoRequest().send());
    return "listVms=" + std::to_string(c.wait(c.vmmd().listVmsRequest().send()).getVms().size()) +
           " info=" + std::to_string(int(info.getInfo().getState()));
  });
  long long sameMs = ms(t0);
  EXPECT_EQ(same, "listVms=1 info=1");  // created: from the daemon's records
  // Each client is a fork, a connection and a few round trips: well under the 10 s the slow VM takes.
  std::fprintf(stderr, "while a call waits on a stopped QEMU: other uid's client %lld ms, same uid's %lld ms\n",
               othersMs, sameMs);
  EXPECT_LT(othersMs, 3000);
  EXPECT_LT(sameMs, 3000);

  std::string slowResult = collect(waiting);
  EXPECT_NE(slowResult.find("EXC:timeout: QMP query-status got no reply before the deadline"), std::string::npos)
      << slowResult << "\n" << daemonLog();
  ASSERT_EQ(::kill(slow, SIGCONT), 0);
  // QEMU's late reply to the timed-out call is recognised and dropped; the VM answers again.
  EXPECT_EQ(as(kUserA, [](VmmdClient& c) { return statusOf(c, "fts"); }), "created pid=" + std::to_string(slow));

  for (auto [uid, id] : {std::pair<uid_t, const char*>{kUserA, "fts"}, {kUserB, "ftt"}}) {
    EXPECT_EQ(as(uid, [id = std::string(id)](VmmdClient& c) {
                auto r = open(c, id).destroyRequest();
                r.setTimeoutMs(4000);
                c.wait(r.send());
                return std::string("destroyed");
              }),
              "destroyed");
  }
  expectNothingLeft(slow, "fts");
  expectNothingLeft(other, "ftt");
}

TEST_F(VmmdDaemonTest, RealGuestAgentThroughChannelFdPauseResumeAndHotUnplug) {
  auto image = kata::test::GuestImage::load(kata::test::defaultGuestImageDir());
  if (!image)
    GTEST_SKIP() << "guest image missing in " << kata::test::defaultGuestImageDir()
                 << ": build it with `ninja -C " KATA_BINARY_DIR " guest-image`";
  writePolicy();
  ASSERT_EQ(startDaemon(), -1) << daemonLog();
  // A small raw disk the client owns, hot-plugged below through the daemon.
  std::string disk = dir_ + "/disk1.img";
  {
    kata::UniqueFd f(::open(disk.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
    ASSERT_TRUE(f.valid());
    ASSERT_EQ(::ftruncate(f.get(), 1 << 20), 0);
    ASSERT_EQ(::fchown(f.get(), kUserA, kClientGid), 0);
  }

  // Everything runs as user A in one client process: the agent channel fd lives there.
  std::string out = as(kUserA, [&image, &disk](VmmdClient& c) {
    // The client opens the image itself (it may read it) and passes descriptors, not paths.
    kata::UniqueFd kernel(::open(image->kernel.c_str(), O_RDONLY | O_CLOEXEC));
    kata::UniqueFd initrd(::open(image->initramfs.c_str(), O_RDONLY | O_CLOEXEC));
    if (!kernel.valid() || !initrd.valid()) return std::string("EXC:cannot open the guest image as the client");
    auto req = c.vmmd().createVmRequest();
    auto spec = req.initSpec();
    spec.setSandboxId("ftg");
    spec.setVcpus(1);
    spec.setMemoryMiB(512);
    // auto: the daemon probes KVM and falls back to TCG where KVM cannot run a standard guest.
    spec.setAccel("auto");
    spec.setKernel(c.makeFd(kernel.get()));
    spec.setInitrd(c.makeFd(initrd.get()));
    spec.setKernelCmdline(image->cmdline);
    spec.setStartPaused(false);
    spec.setHotplugSlots(2);
    auto created = c.wait(req.send());
    std::string log = "pid=" + std::to_string(created.getInfo().getPid()) +
                      " state=" + std::to_string(int(created.getInfo().getState()));
    api::Vm::Client vm = created.getVm();
    auto& timer = c.io().provider->getTimer();
    auto within = [&](auto&& promise, int seconds) {
      return c.wait(timer.timeoutAfter(seconds * kj::SECONDS, kj::mv(promise)));
    };
    auto ping = [](kata::test::AgentConnection& a, const std::string& text) {
      auto r = a.agent().pingRequest();
      r.setPayload(kj::arrayPtr(reinterpret_cast<const kj::byte*>(text.data()), text.size()));
      return r.send().then([](auto&& res) {
        auto p = res.getPayload();
        return std::string(reinterpret_cast<const char*>(p.begin()), p.size());
      });
    };

    // The agent, through the fd vmmd connected for us (the first and only client of the channel).
    kata::test::AgentConnection agent(c.io(), c.takeFd(created.getAgentChannel()));
    log += "|ping=" + within(ping(agent, "boot"), 120);
    {
      auto v = within(agent.agent().versionRequest().send(), 30);
      log += "|version kernel=" + std::string(v.getVersion().getKernelRelease().cStr()) +
             " build=" + std::string(v.getVersion().getBuildId().cStr());
    }

    // Paused, the guest does not answer; after resume it answers the question asked meanwhile.
    c.wait(vm.pauseRequest().send());
    log += "|" + statusOf(c, "ftg").substr(0, 6);
    auto pending = ping(agent, "while-paused");
    std::this_thread::sleep_for(std::chrono::seconds(2));
    log += pending.poll(c.waitScope()) ? "|answered-while-paused" : "|silent-while-paused";
    c.wait(vm.resumeRequest().send());
    log += "|" + statusOf(c, "ftg").substr(0, 7);
    log += "|resumed-ping=" + within(kj::mv(pending), 60);

    // Hot-plug an emulated device into a root port, then unplug it: QEMU 7.2's q35 handles root-port
    // hotplug through ACPI by default, so the guest's acpiphp ejects the device (acpiphp and pciehp
    // are both built into Debian's kernel: no module needed), QEMU emits DEVICE_DELETED, and only
    // then does unplug return (a guest that does not cooperate makes it time out).
    auto hp = vm.hotplugRequest();
    hp.initDevice().setId("rng1");
    hp.getDevice().initEmulated().setDriver("virtio-rng-pci");
    c.wait(hp.send());
    auto t0 = std::chrono::steady_clock::now();
    auto up = vm.unplugRequest();
    up.setDeviceId("rng1");
    up.setTimeoutMs(60000);
    c.wait(up.send());
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count();
    log += "|unplugged";
    std::fprintf(stderr, "unplug with guest cooperation took %lld ms\n", static_cast<long long>(ms));
    // The id is free again in QEMU (a device still present would make this a duplicate id).
    auto hp2 = vm.hotplugRequest();
    hp2.initDevice().setId("rng1");
    hp2.getDevice().initEmulated().setDriver("virtio-rng-pci");
    c.wait(hp2.send());
    log += "|replugged|ping=" + within(ping(agent, "after-unplug"), 60);

    // A block device the client opened, hot-plugged through the daemon: vmmd gives it serial=<id>,
    // and the agent finds the guest's disk by that serial (agent protocol 3, waitBlockDevice).
    {
      kata::UniqueFd img(::open(disk.c_str(), O_RDWR | O_CLOEXEC));
      if (!img.valid()) return log + "|EXC:cannot open the disk image as the client";
      auto hb = vm.hotplugRequest();
      auto dev = hb.initDevice();
      dev.setId("disk1");
      auto blk = dev.initBlock();
      blk.setFile(c.makeFd(img.get()));
      blk.setFormat("raw");
      c.wait(hb.send());
    }
    {
      auto w = agent.agent().waitBlockDeviceRequest();
      w.setSerial("disk1");
      w.setTimeoutMs(60000);
      auto asked = std::chrono::steady_clock::now();
      std::string path = within(w.send(), 90).getDevicePath().cStr();
      auto waited = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - asked).count();
      std::fprintf(stderr, "waitBlockDevice after hot-plug took %lld ms: %s\n", static_cast<long long>(waited), path.c_str());
      log += "|blk=" + std::string(path.rfind("/dev/vd", 0) == 0 && path.size() == 8 ? "/dev/vdX" : path);
    }
    {
      auto w = agent.agent().waitBlockDeviceRequest();
      w.setSerial("nosuchdisk");
      w.setTimeoutMs(500);
      try {
        within(w.send(), 30);
        log += "|unknown-serial-found";
      } catch (const std::exception& e) {  // VmmdClient::wait turns the RPC error into a kata::Error
        std::string d = e.what();
        log += d.find("no virtio-blk disk with serial \"nosuchdisk\" appeared within 500 ms") != std::string::npos
                   ? "|unknown-serial-timeout"
                   : "|unknown-serial-error=" + d;
      }
    }
    {
      auto ub = vm.unplugRequest();
      ub.setDeviceId("disk1");
      ub.setTimeoutMs(60000);
      c.wait(ub.send());
      log += "|blk-unplugged";
    }
    {
      // Read-only from a read-write descriptor: vmmd reopens it read-only, since QEMU takes from the
      // fd set only a descriptor of the mode it opens with (O_RDONLY here).
      kata::UniqueFd img(::open(disk.c_str(), O_RDWR | O_CLOEXEC));
      auto hb = vm.hotplugRequest();
      auto dev = hb.initDevice();
      dev.setId("disk2");
      auto blk = dev.initBlock();
      blk.setFile(c.makeFd(img.get()));
      blk.setReadOnly(true);
      c.wait(hb.send());
      auto w = agent.agent().waitBlockDeviceRequest();
      w.setSerial("disk2");
      w.setTimeoutMs(60000);
      std::string path = within(w.send(), 90).getDevicePath().cStr();
      log += "|ro-blk=" + std::string(path.rfind("/dev/vd", 0) == 0 && path.size() == 8 ? "/dev/vdX" : path);
      auto ub = vm.unplugRequest();
      ub.setDeviceId("disk2");
      ub.setTimeoutMs(60000);
      c.wait(ub.send());
    }

    auto d = vm.destroyRequest();
    d.setTimeoutMs(5000);
    c.wait(d.send());
    return log;
  });
  pid_t qemu = pidFrom(out);
  std::string expected = "pid=" + std::to_string(qemu) + " state=2|ping=boot|version kernel=" + image->kernelRelease +
                         " build=" + image->agentBuildId +
                         "|paused|silent-while-paused|running|resumed-ping=while-paused|unplugged|replugged|ping=after-unplug"
                         "|blk=/dev/vdX|unknown-serial-timeout|blk-unplugged|ro-blk=/dev/vdX";
  EXPECT_EQ(out, expected) << "\ndaemon log:\n" << daemonLog();
  ASSERT_GT(qemu, 0);
  expectNothingLeft(qemu, "ftg");
}

}  // namespace
