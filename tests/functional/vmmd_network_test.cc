// The pod network end to end: Debian's CNI bridge + host-local plugins set up a pod namespace the way
// an engine would (run with CNI_COMMAND=ADD against a namespace the test creates; the bridge side
// lives in a second, "host-side" namespace of the test, so nothing touches this machine's own
// network), the real kata-vmmd daemon (hardened: its seccomp filter and capability set) carries the
// pod's interfaces into the VM, the client configures the guest through the agent, and TCP flows
// between a container in the guest and the host side of the bridge, both ways, IPv4 and IPv6.
//
// Two QEMUs in all: a firmware-only one (no guest boot) for the namespace checks, cold-plug,
// re-adoption after kill -9 and the macvtap model; one real guest for the traffic and the NIC
// hot-plug/unplug.
#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <grp.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <fstream>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <thread>

#include "common/error.h"
#include "common/fs.h"
#include "ipc/vmmd_client.h"
#include "netdev/netns.h"
#include "runtime/oci/spec.h"
#include "security/cgroup.h"
#include "tests/support/agent_client.h"
#include "tests/support/net_fixture.h"
#include "tests/support/qemu_vm.h"

namespace {

using kata::UniqueFd;
using kata::ipc::VmmdClient;
using kata::netdev::Netns;
using kata::test::NamedNetns;
using kata::test::sh;
using namespace std::chrono_literals;
namespace api = kata::ipc::vmmd;
namespace rpc = kata::ipc::agent;

constexpr uid_t kUser = 4711;   // owns the user namespace of the pod's network namespace (rootless)
constexpr uid_t kOther = 4712;  // allowed to use the daemon, not that namespace
constexpr gid_t kClientGid = 4500;

// ---- the host side of the bridge: TCP in the test's host-side namespace ------------------------

sockaddr_storage sockAddr(int family, const std::string& ip, uint16_t port, socklen_t* len) {
  sockaddr_storage ss{};
  if (family == AF_INET) {
    auto* a = reinterpret_cast<sockaddr_in*>(&ss);
    a->sin_family = AF_INET;
    a->sin_port = htons(port);
    ::inet_pton(AF_INET, ip.c_str(), &a->sin_addr);
    *len = sizeof *a;
  } else {
    auto* a = reinterpret_cast<sockaddr_in6*>(&ss);
    a->sin6_family = AF_INET6;
    a->sin6_port = htons(port);
    ::inet_pton(AF_INET6, ip.c_str(), &a->sin6_addr);
    *len = sizeof *a;
  }
  return ss;
}

UniqueFd tcpSocketIn(const Netns& ns, int family) {
  return ns.run([family] { return UniqueFd(KATA_SYSCALL(::socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0), "socket")); });
}

UniqueFd listenIn(const Netns& ns, int family, const std::string& ip, uint16_t port) {
  UniqueFd s = tcpSocketIn(ns, family);
  int one = 1;
  ::setsockopt(s.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  socklen_t len;
  sockaddr_storage a = sockAddr(family, ip, port, &len);
  KATA_SYSCALL(::bind(s.get(), reinterpret_cast<sockaddr*>(&a), len), "bind " + ip);
  KATA_SYSCALL(::listen(s.get(), 4), "listen");
  return s;
}

// Reads until `until` appears, EOF, or the timeout.
std::string readUntil(int fd, const std::string& until, std::chrono::milliseconds timeout) {
  std::string got;
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (until.empty() || got.find(until) == std::string::npos) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now()).count();
    if (left <= 0) break;
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left)) <= 0) continue;
    char buf[512];
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n <= 0) break;
    got.append(buf, static_cast<size_t>(n));
  }
  return got;
}

// The host side connecting to a server in the container: retries while the server is not
// listening yet. Returns "<what the server sent>|<what it did after we sent ours: EOF>".
std::string talkTo(const Netns& hostSide, int family, const std::string& ip, uint16_t port, const std::string& send,
                   std::chrono::seconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    UniqueFd s = tcpSocketIn(hostSide, family);
    socklen_t len;
    sockaddr_storage a = sockAddr(family, ip, port, &len);
    if (::connect(s.get(), reinterpret_cast<sockaddr*>(&a), len) == 0) {
      std::string greeting = readUntil(s.get(), "\n", 20s);
      (void)!::write(s.get(), send.data(), send.size());
      ::shutdown(s.get(), SHUT_WR);
      std::string rest = readUntil(s.get(), "", 20s);
      return greeting + "|" + rest;
    }
    if (std::chrono::steady_clock::now() >= deadline)
      return "connect to " + ip + " failed: " + std::string(strerror(errno));
    std::this_thread::sleep_for(200ms);
  }
}

// Accepts one connection on each listener in turn (the container connects in that order), reads a
// line, answers, closes. Results: "<peer address> <line>" per listener.
std::vector<std::string> serveInTurn(const std::vector<int>& listeners, const std::vector<std::string>& replies,
                                     std::chrono::seconds timeout) {
  std::vector<std::string> out;
  for (size_t k = 0; k < listeners.size(); ++k) {
    pollfd p{listeners[k], POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(std::chrono::milliseconds(timeout).count())) != 1) {
      out.push_back("no connection");
      continue;
    }
    sockaddr_storage peer{};
    socklen_t len = sizeof peer;
    UniqueFd c(::accept4(listeners[k], reinterpret_cast<sockaddr*>(&peer), &len, SOCK_CLOEXEC));
    char addr[INET6_ADDRSTRLEN] = "?";
    if (peer.ss_family == AF_INET)
      ::inet_ntop(AF_INET, &reinterpret_cast<sockaddr_in*>(&peer)->sin_addr, addr, sizeof addr);
    else
      ::inet_ntop(AF_INET6, &reinterpret_cast<sockaddr_in6*>(&peer)->sin6_addr, addr, sizeof addr);
    std::string line = readUntil(c.get(), "\n", 20s);
    (void)!::write(c.get(), replies[k].data(), replies[k].size());
    out.push_back(std::string(addr) + " " + line);
  }
  return out;
}

// ---- CNI ----------------------------------------------------------------------------------------

std::string cniConf(const std::string& bridge, const std::string& v4, const std::string& v6, bool defaults,
                    const std::string& dataDir) {
  nlohmann::json c = {{"cniVersion", "1.0.0"}, {"name", "knet-" + bridge}, {"type", "bridge"}, {"bridge", bridge},
                      {"isGateway", true}, {"ipMasq", false},
                      {"ipam", {{"type", "host-local"},
                                {"ranges", {{{{"subnet", v4}}}, {{{"subnet", v6}}}}},
                                {"dataDir", dataDir}}}};
  if (defaults) c["ipam"]["routes"] = {{{"dst", "0.0.0.0/0"}}, {{"dst", "::/0"}}};
  return c.dump();
}

// Runs the bridge plugin in the host-side namespace, as an engine runs it in the host's.
nlohmann::json cni(const std::string& command, const NamedNetns& hostSide, const std::string& podNetns,
                   const std::string& ifname, const std::string& conf) {
  auto r = kata::test::runCommand({"ip", "netns", "exec", hostSide.name(), "/usr/lib/cni/bridge"},
                                  {"CNI_COMMAND=" + command, "CNI_CONTAINERID=kata-net-" + std::to_string(::getpid()),
                                   "CNI_NETNS=" + podNetns, "CNI_IFNAME=" + ifname, "CNI_PATH=/usr/lib/cni",
                                   "PATH=/usr/sbin:/usr/bin:/sbin:/bin"},
                                  conf);
  if (r.status != 0) throw std::runtime_error("CNI " + command + " " + ifname + " failed: " + r.output);
  return command == "ADD" ? nlohmann::json::parse(r.output) : nlohmann::json();
}

// Waits until no address of `dev` in `ns` is tentative (DAD done): binding to one fails before.
void waitDad(const NamedNetns& ns, const std::string& dev) {
  for (int i = 0; i < 100; ++i) {
    if (ns.ip("-6 addr show dev " + dev).find("tentative") == std::string::npos) return;
    std::this_thread::sleep_for(100ms);
  }
}

std::string cmdlineOf(pid_t pid) {
  std::string c = kata::readFileIfExists(AT_FDCWD, "/proc/" + std::to_string(pid) + "/cmdline", 1 << 16).value_or("");
  for (char& ch : c)
    if (ch == '\0') ch = ' ';
  return c;
}

// ---- the daemon ---------------------------------------------------------------------------------

class VmmdNetworkTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root (the daemon, network namespaces, CNI)";
    if (!kata::pathExists("/usr/bin/qemu-system-x86_64")) GTEST_SKIP() << "needs QEMU";
    if (!kata::pathExists("/usr/lib/cni/bridge")) GTEST_SKIP() << "needs containernetworking-plugins (scripts/setup.sh)";
    char tmpl[] = "/tmp/vmmd-net-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    ASSERT_EQ(::chmod(dir_.c_str(), 0711), 0);
    socket_ = dir_ + "/vmmd.sock";
    state_ = dir_ + "/state";
    policy_ = dir_ + "/policy.toml";
    std::ofstream(policy_) << "[socket]\nmode = 0o660\ngroup = " << kClientGid << "\n\n[access]\nuids = [" << kUser
                           << ", " << kOther << "]\n\n[limits]\nmax_sandboxes = 2\nmax_memory_mib = 1024\n\n"
                           << "[vm]\naccel = \"tcg\"\n";
    ::chmod(policy_.c_str(), 0600);
    cgroupParent_ = "kata-vmmd-nt-" + std::to_string(::getpid());
    hostSide_ = std::make_unique<NamedNetns>(kata::test::uniqueName("knh"));
  }

  void TearDown() override {
    if (std::getenv("KATA_TEST_VERBOSE")) std::fprintf(stderr, "--- daemon log ---\n%s", daemonLog().c_str());
    if (daemon_ > 0) {
      ::kill(daemon_, SIGKILL);
      ::waitpid(daemon_, nullptr, 0);
    }
    if (auto d2 = kata::readFileIfExists(AT_FDCWD, dir_ + "/daemon2.pid", 64)) {
      // The daemon a test child restarted: not our child; the sandbox test's own id keeps it apart.
      pid_t pid = std::stoi(*d2);
      if (cmdlineOf(pid).find(socket_) != std::string::npos) ::kill(pid, SIGKILL);
    }
    if (dir_.empty()) return;
    // A failed run may leave a VM: its QEMU is in this test's cgroups.
    auto layout = kata::security::CgroupLayout::detect("/sys/fs/cgroup");
    for (const auto& h : layout.hierarchies)
      for (const char* id : {"ftn1", "ftn2", "ftg"}) {
        std::string d = h.mountPoint + "/" + cgroupParent_ + "/" + id;
        std::string procs = kata::readFileIfExists(AT_FDCWD, d + "/cgroup.procs", 1 << 16).value_or("");
        std::istringstream in(procs);
        for (pid_t p; in >> p;) ::kill(p, SIGKILL);
      }
    std::this_thread::sleep_for(100ms);
    for (const auto& h : layout.hierarchies) {
      for (const char* id : {"ftn1", "ftn2", "ftg"}) ::rmdir((h.mountPoint + "/" + cgroupParent_ + "/" + id).c_str());
      ::rmdir((h.mountPoint + "/" + cgroupParent_).c_str());
    }
    std::string mounts = kata::readFile("/proc/self/mountinfo", 1 << 20);
    for (size_t at = mounts.find(dir_); at != std::string::npos; at = mounts.find(dir_, at + 1))
      ::umount2(mounts.substr(at, mounts.find(' ', at) - at).c_str(), MNT_DETACH);
    pod_.reset();
    hostSide_.reset();
    kata::removeTree(AT_FDCWD, dir_);
  }

  // Forks and execs the daemon; its pid.
  pid_t spawnDaemon() {
    std::string bin = std::string(KATA_BINARY_DIR) + "/bin/kata-vmmd";
    std::string log = dir_ + "/vmmd.log";
    pid_t pid = ::fork();
    if (pid == 0) {
      int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
      ::dup2(fd, 2);
      ::execl(bin.c_str(), bin.c_str(), "--foreground", "--socket", socket_.c_str(), "--state-dir", state_.c_str(),
              "--policy", policy_.c_str(), "--log-level", "debug", "--cgroup-parent", cgroupParent_.c_str(),
              static_cast<char*>(nullptr));
      ::_exit(127);
    }
    return pid;
  }

  int startDaemon() {
    daemon_ = spawnDaemon();
    for (int i = 0; i < 200; ++i) {
      int status = 0;
      if (::waitpid(daemon_, &status, WNOHANG) == daemon_) {
        daemon_ = -1;
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
      }
      if (kata::pathExists(socket_)) return -1;
      std::this_thread::sleep_for(50ms);
    }
    ADD_FAILURE() << "daemon did not create its socket; log:\n" << daemonLog();
    return -1;
  }

  // From a test child: kill -9 the daemon and start another (the grandchild's pid goes to a file the
  // fixture's TearDown kills).
  bool restartDaemonFromChild(pid_t old) {
    ::kill(old, SIGKILL);
    for (int i = 0; i < 200 && kata::pathExists("/proc/" + std::to_string(old) + "/exe"); ++i) std::this_thread::sleep_for(20ms);
    ::unlink(socket_.c_str());
    pid_t d = spawnDaemon();
    std::ofstream(dir_ + "/daemon2.pid") << d;
    for (int i = 0; i < 200; ++i) {
      if (kata::pathExists(socket_)) return true;
      std::this_thread::sleep_for(50ms);
    }
    return false;
  }

  void killDaemon() {
    ::kill(daemon_, SIGKILL);
    ::waitpid(daemon_, nullptr, 0);
    daemon_ = -1;
    ::unlink(socket_.c_str());
  }

  std::string daemonLog() { return kata::readFileIfExists(AT_FDCWD, dir_ + "/vmmd.log", 1 << 20).value_or(""); }

  // Runs fn as uid in a forked child and returns what it returned, or "EXC:<kind>: <msg>".
  std::string as(uid_t uid, const std::function<std::string(VmmdClient&)>& fn) {
    int p[2];
    // Close-on-exec: a daemon the child restarts must not hold the write end (the read never ends).
    EXPECT_EQ(::pipe2(p, O_CLOEXEC), 0);
    pid_t child = ::fork();
    if (child == 0) {
      ::close(p[0]);
      std::string out;
      try {
        if (uid != 0 && (::setgroups(0, nullptr) != 0 || ::setgid(kClientGid) != 0 || ::setuid(uid) != 0))
          throw std::runtime_error("setuid");
        VmmdClient client(socket_);
        out = fn(client);
      } catch (const kata::Error& e) {
        out = std::string("EXC:") + kata::ipc::errorKindTag(e.kind()) + ": " + e.what();
      } catch (const kj::Exception& e) {
        out = std::string("EXC:") + e.getDescription().cStr();
      } catch (const std::exception& e) {
        out = std::string("EXC:") + e.what();
      }
      (void)!::write(p[1], out.data(), out.size());
      ::_exit(0);
    }
    ::close(p[1]);
    std::string out;
    char buf[4096];
    ssize_t n;
    while ((n = ::read(p[0], buf, sizeof buf)) > 0) out.append(buf, static_cast<size_t>(n));
    ::close(p[0]);
    ::waitpid(child, nullptr, 0);
    return out;
  }

  static api::Vm::Client open(VmmdClient& c, const std::string& id) {
    auto req = c.vmmd().openVmRequest();
    req.setSandboxId(id);
    return c.wait(req.send()).getVm();
  }

  // "eth0 <mac> mtu 1500 veth nic2 tcfilter tap2_kata q1 | 10.77.0.2/24 fd00:77::2/64 | <routes>"
  static std::string describe(api::NetInterface::Reader i) {
    std::string s = std::string(i.getName().cStr()) + " " + i.getMac().cStr() + " mtu " + std::to_string(i.getMtu()) +
                    " " + i.getType().cStr() + " " + i.getDeviceId().cStr() + " " + i.getModel().cStr() + " " +
                    i.getHostDevice().cStr() + " q" + std::to_string(i.getQueues()) + " |";
    for (auto a : i.getAddresses()) s += " " + std::string(a.getAddress().cStr()) + "/" + std::to_string(a.getPrefixLength());
    s += " |";
    std::vector<std::string> routes;
    for (auto r : i.getRoutes())
      routes.push_back(std::string(r.getDestination().cStr()) + (r.getGateway().size() ? " via " + std::string(r.getGateway().cStr()) : "") +
                       " v" + std::to_string(r.getFamily()));
    std::sort(routes.begin(), routes.end());
    for (const auto& r : routes) s += " " + r + ";";
    return s;
  }

  static std::string listNetwork(VmmdClient& c, api::Vm::Client vm) {
    auto resp = c.wait(vm.listNetworkRequest().send());
    std::string out;
    for (auto i : resp.getInterfaces()) out += describe(i) + "\n";
    return out;
  }

  // The pod namespace, as a rootless engine makes it: a user namespace of kUser with a network
  // namespace in it, named so the CNI plugin (run as root, like podman's rootless helper does) finds it.
  void makeUserOwnedPod() {
    podName_ = kata::test::uniqueName("knp");
    kata::test::runCommand({"ip", "netns", "del", podName_});
    int ready[2];
    ASSERT_EQ(::pipe(ready), 0);
    pid_t child = ::fork();
    if (child == 0) {
      if (::setresgid(kUser, kUser, kUser) != 0 || ::setresuid(kUser, kUser, kUser) != 0) ::_exit(1);
      if (::unshare(CLONE_NEWUSER | CLONE_NEWNET) != 0) ::_exit(2);
      (void)!::write(ready[1], "x", 1);
      ::pause();
      ::_exit(0);
    }
    ::close(ready[1]);
    char c;
    ASSERT_EQ(::read(ready[0], &c, 1), 1);
    ::close(ready[0]);
    sh("ip netns attach " + podName_ + " " + std::to_string(child));
    ::kill(child, SIGKILL);
    ::waitpid(child, nullptr, 0);
    podOwned_ = std::make_unique<PodName>(podName_);
  }

  // Removes an `ip netns attach` name (NamedNetns would try to create it).
  struct PodName {
    explicit PodName(std::string n) : name(std::move(n)) {}
    ~PodName() { kata::test::runCommand({"ip", "netns", "del", name}); }
    std::string name;
  };

  std::string podPath() const { return "/run/netns/" + podName_; }
  std::string pod(const std::string& args) const { return sh("ip -n " + podName_ + " " + args); }

  // What must hold in the pod's namespace once nothing of ours is left.
  void expectPodClean(const std::vector<std::string>& ifaces) {
    std::string links = pod("-d link show");
    EXPECT_EQ(links.find("_kata"), std::string::npos) << links;
    EXPECT_EQ(links.find("macvtap"), std::string::npos) << links;
    for (const auto& i : ifaces) {
      std::string q = sh("tc -n " + podName_ + " qdisc show dev " + i);
      EXPECT_EQ(q.find("ingress"), std::string::npos) << i << ": " << q;
      EXPECT_EQ(sh("tc -n " + podName_ + " filter show dev " + i + " ingress"), "") << i;
    }
  }

  void expectNoPin(const std::string& id) {
    EXPECT_FALSE(kata::pathExists(state_ + "/netns/" + id));
    EXPECT_EQ(kata::readFile("/proc/self/mountinfo", 1 << 20).find(state_ + "/netns/" + id), std::string::npos);
    EXPECT_FALSE(kata::pathExists(state_ + "/sandboxes/" + id + ".json"));
    EXPECT_FALSE(kata::pathExists(state_ + "/vms/" + id));
  }

  std::string dir_, socket_, state_, policy_, cgroupParent_, podName_;
  std::unique_ptr<NamedNetns> hostSide_, pod_;
  std::unique_ptr<PodName> podOwned_;
  pid_t daemon_ = -1;
};

pid_t pidFrom(const std::string& s) {
  auto at = s.find("pid=");
  return at == std::string::npos ? -1 : std::stoi(s.substr(at + 4));
}

std::string createPaused(VmmdClient& c, const std::string& id, const std::string& netnsPath, const std::string& model,
                         uint32_t queues = 0) {
  UniqueFd ns(::open(netnsPath.c_str(), O_RDONLY | O_CLOEXEC));
  if (!ns.valid()) return "EXC:cannot open " + netnsPath + " as the client";
  auto req = c.vmmd().createVmRequest();
  auto spec = req.initSpec();
  spec.setSandboxId(id);
  spec.setVcpus(1);
  spec.setMemoryMiB(128);
  spec.setAccel("tcg");
  spec.setStartPaused(true);
  spec.setHotplugSlots(1);
  spec.setNetns(c.makeFd(ns.get()));
  spec.setNetworkModel(model);
  spec.setNetQueues(queues);
  auto res = c.wait(req.send());
  return "pid=" + std::to_string(res.getInfo().getPid());
}

bool gone(pid_t pid) {
  for (int i = 0; i < 200; ++i) {
    std::string s = kata::readFileIfExists(AT_FDCWD, "/proc/" + std::to_string(pid) + "/stat", 4096).value_or("");
    if (s.empty() || s[s.rfind(')') + 2] == 'Z') return true;
    std::this_thread::sleep_for(20ms);
  }
  return false;
}

TEST_F(VmmdNetworkTest, NamespaceChecksColdPlugReadoptionAndExactTeardown) {
  makeUserOwnedPod();
  std::string data = dir_ + "/ipam";
  nlohmann::json added = cni("ADD", *hostSide_, podPath(), "eth0",
                             cniConf("kbr0", "10.77.0.0/24", "fd00:77::/64", true, data));
  std::string mac = added["interfaces"][2]["mac"];
  ASSERT_EQ(startDaemon(), -1) << daemonLog();

  // Whose namespace: the host-side one is root's; the pod's belongs to kUser's user namespace.
  std::string hostSidePath = "/run/netns/" + hostSide_->name();
  std::string r = as(kUser, [&](VmmdClient& c) { return createPaused(c, "ftn1", hostSidePath, ""); });
  EXPECT_NE(r.find("EXC:permission-denied: uid 4711 may not use network namespace net:["), std::string::npos) << r;
  EXPECT_NE(r.find("it belongs to root"), std::string::npos) << r;
  r = as(kOther, [&](VmmdClient& c) { return createPaused(c, "ftn1", podPath(), ""); });
  EXPECT_NE(r.find("it belongs to a user namespace of uid 4711"), std::string::npos) << r;
  r = as(kUser, [&](VmmdClient& c) { return createPaused(c, "ftn1", "/proc/self/ns/net", ""); });
  EXPECT_NE(r.find("is kata-vmmd's own (the host's)"), std::string::npos) << r;
  r = as(kUser, [&](VmmdClient& c) { return createPaused(c, "ftn1", "/etc/hostname", ""); });
  EXPECT_NE(r.find("EXC:invalid-argument"), std::string::npos) << r;
  EXPECT_FALSE(kata::pathExists(state_ + "/vms/ftn1")) << "a refused sandbox left its run directory";
  // Four interfaces with 16 queues each: more descriptors than a launch passes QEMU. Refused by
  // name after the plumbing was tried, and the plumbing goes again.
  for (const char* i : {"eth1", "eth2", "eth3"}) {
    pod(std::string("link add ") + i + " type veth peer name " + i + "p");
    pod(std::string("link set ") + i + " up");
  }
  r = as(kUser, [&](VmmdClient& c) { return createPaused(c, "ftn1", podPath(), "", 16); });
  EXPECT_NE(r.find("EXC:invalid-argument: sandbox ftn1: its 4 pod interfaces need 64 queue descriptors at creation"),
            std::string::npos)
      << r;
  expectPodClean({"eth0", "eth1", "eth2", "eth3"});
  expectNoPin("ftn1");
  for (const char* i : {"eth1", "eth2", "eth3"}) pod(std::string("link del ") + i);

  // kUser's own: a QEMU with the pod's eth0 as a NIC of the same MAC, running inside the pod's namespace.
  std::string created = as(kUser, [&](VmmdClient& c) { return createPaused(c, "ftn1", podPath(), ""); });
  pid_t qemu = pidFrom(created);
  ASSERT_GT(qemu, 0) << created << "\n" << daemonLog();
  std::string podIndex = pod("-o link show dev eth0").substr(0, pod("-o link show dev eth0").find(':'));
  std::string nic = "nic" + podIndex, tap = "tap" + podIndex + "_kata";
  std::string cmd = cmdlineOf(qemu);
  EXPECT_NE(cmd.find("-netdev tap,id=net-" + nic + ",fd="), std::string::npos) << cmd;
  EXPECT_NE(cmd.find("virtio-net-pci,id=" + nic + ",netdev=net-" + nic + ",mac=" + mac + ",bus=rp1,host_mtu=1500"),
            std::string::npos)
      << cmd;
  struct stat qemuNs{}, podNs{};
  ASSERT_EQ(::stat(("/proc/" + std::to_string(qemu) + "/ns/net").c_str(), &qemuNs), 0);
  ASSERT_EQ(::stat(podPath().c_str(), &podNs), 0);
  EXPECT_EQ(qemuNs.st_ino, podNs.st_ino) << "QEMU does not run in the pod's network namespace";
  std::string filters = sh("tc -n " + podName_ + " filter show dev eth0 ingress");
  EXPECT_NE(filters.find("Egress Redirect to device " + tap), std::string::npos) << filters;
  EXPECT_NE(pod("-d link show dev " + tap).find("user 4711"), std::string::npos);  // TUNSETOWNER: QEMU's uid
  EXPECT_NE(kata::readFile("/proc/self/mountinfo", 1 << 20).find(state_ + "/netns/ftn1"), std::string::npos);

  std::string want = "eth0 " + mac + " mtu 1500 veth " + nic + " tcfilter " + tap +
                     " q1 | 10.77.0.2/24 fd00:77::2/64 | 10.77.0.0/24 v4; default via 10.77.0.1 v4; default via "
                     "fd00:77::1 v6; fd00:77::/64 v6;\n";
  EXPECT_EQ(as(kUser, [](VmmdClient& c) { return listNetwork(c, open(c, "ftn1")); }), want);
  // A NIC is not a device to unplug on its own: its plumbing would stay behind.
  r = as(kUser, [&](VmmdClient& c) {
    auto up = open(c, "ftn1").unplugRequest();
    up.setDeviceId(nic);
    c.wait(up.send());
    return std::string("unplugged");
  });
  EXPECT_NE(r.find("EXC:failed-precondition: device " + nic + " of sandbox ftn1 is the NIC of pod interface eth0: "
                   "remove it with detachInterface(\"eth0\")"),
            std::string::npos)
      << r;

  // kill -9 of the daemon: the VM and its plumbing stay; the new daemon knows them from the record.
  killDaemon();
  EXPECT_NE(sh("tc -n " + podName_ + " filter show dev eth0 ingress").find(tap), std::string::npos);
  ASSERT_EQ(startDaemon(), -1) << daemonLog();
  EXPECT_EQ(as(kUser, [](VmmdClient& c) { return listNetwork(c, open(c, "ftn1")); }), want);

  // A network call waits on its VM's worker, never on the daemon's loop. With QEMU stopped
  // (SIGSTOP), hot-plugging a second pod interface gets as far as its plumbing and then waits for
  // QMP until the deadline (10 s); meanwhile listNetwork of the same sandbox and another uid's
  // calls are answered at once. The failed hot-plug takes its plumbing along and records nothing.
  pod("link add eth1 type veth peer name eth1p");
  pod("addr add 10.79.0.2/24 dev eth1");
  pod("link set eth1 up");
  std::string eth1Index = pod("-o link show dev eth1").substr(0, pod("-o link show dev eth1").find(':'));
  std::string tap1 = "tap" + eth1Index + "_kata";
  ASSERT_EQ(::kill(qemu, SIGSTOP), 0);
  std::string attachResult;
  std::thread attacher([&] {
    attachResult = as(kUser, [](VmmdClient& c) {
      auto att = open(c, "ftn1").attachNetworkRequest();
      att.setInterfaceName("eth1");
      return std::to_string(c.wait(att.send()).getInterfaces().size()) + " attached";
    });
  });
  bool plumbed = false;  // the job is past carrying eth1 and waits in QMP
  for (int i = 0; i < 200 && !plumbed; ++i) {
    plumbed = kata::test::runCommand({"ip", "-n", podName_, "link", "show", tap1}).status == 0;
    if (!plumbed) std::this_thread::sleep_for(25ms);
  }
  EXPECT_TRUE(plumbed) << "the hot-plug of eth1 never created " << tap1;
  auto t0 = std::chrono::steady_clock::now();
  std::string listedMeanwhile = as(kUser, [](VmmdClient& c) { return listNetwork(c, open(c, "ftn1")); });
  std::string otherMeanwhile = as(kOther, [](VmmdClient& c) {
    return std::to_string(c.wait(c.vmmd().listVmsRequest().send()).getVms().size()) + " vms";
  });
  auto meanwhile = std::chrono::steady_clock::now() - t0;
  attacher.join();
  ASSERT_EQ(::kill(qemu, SIGCONT), 0);
  EXPECT_EQ(listedMeanwhile, want);
  EXPECT_EQ(otherMeanwhile, "0 vms");
  EXPECT_LT(meanwhile, 4s) << "calls waited behind a VM's network job";
  EXPECT_NE(attachResult.find("EXC:timeout"), std::string::npos) << attachResult;
  EXPECT_EQ(pod("-d link show").find(tap1), std::string::npos) << "the failed hot-plug left its tap";
  EXPECT_EQ(sh("tc -n " + podName_ + " qdisc show dev eth1").find("ingress"), std::string::npos);
  EXPECT_EQ(as(kUser, [](VmmdClient& c) { return listNetwork(c, open(c, "ftn1")); }), want);
  pod("link del eth1");

  EXPECT_EQ(as(kUser, [](VmmdClient& c) {
              auto d = open(c, "ftn1").destroyRequest();
              d.setTimeoutMs(4000);
              c.wait(d.send());
              return std::string("destroyed");
            }),
            "destroyed");
  EXPECT_TRUE(gone(qemu));
  expectPodClean({"eth0"});
  expectNoPin("ftn1");

  // The macvtap model on the same interface: a passthru macvtap whose node is QEMU's descriptor.
  created = as(kUser, [&](VmmdClient& c) { return createPaused(c, "ftn2", podPath(), "macvtap"); });
  pid_t qemu2 = pidFrom(created);
  ASSERT_GT(qemu2, 0) << created << "\n" << daemonLog();
  std::string mv = pod("-d link show");
  EXPECT_NE(mv.find("macvtap mode passthru"), std::string::npos) << mv;
  std::string listed = as(kUser, [](VmmdClient& c) { return listNetwork(c, open(c, "ftn2")); });
  EXPECT_NE(listed.find(" macvtap kmvt"), std::string::npos) << listed;
  EXPECT_NE(cmdlineOf(qemu2).find("mac=" + mac), std::string::npos);
  as(kUser, [](VmmdClient& c) {
    auto d = open(c, "ftn2").destroyRequest();
    d.setTimeoutMs(4000);
    c.wait(d.send());
    return std::string();
  });
  EXPECT_TRUE(gone(qemu2));
  expectPodClean({"eth0"});
  expectNoPin("ftn2");
  cni("DEL", *hostSide_, podPath(), "eth0", cniConf("kbr0", "10.77.0.0/24", "fd00:77::/64", true, data));
}

// ---- the real guest -----------------------------------------------------------------------------

struct Captured {
  std::string data;
  bool ended = false;
};

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wnon-virtual-dtor"
class CollectingStream final : public rpc::ByteStream::Server {
 public:
  explicit CollectingStream(std::shared_ptr<Captured> c) : c_(std::move(c)) {}
  kj::Promise<void> write(WriteContext context) override {
    auto d = context.getParams().getData();
    c_->data.append(reinterpret_cast<const char*>(d.begin()), d.size());
    return kj::READY_NOW;
  }
  kj::Promise<void> end(EndContext) override {
    c_->ended = true;
    return kj::READY_NOW;
  }

 private:
  std::shared_ptr<Captured> c_;
};
#pragma GCC diagnostic pop

void buildRootfs(const std::string& root) {
  for (const char* d : {"", "/bin", "/proc", "/dev", "/tmp", "/etc", "/sys", "/dev/pts", "/dev/shm", "/dev/mqueue"})
    kata::makeDirs(root + d, 0755);
  std::string bb = kata::readFile("/bin/busybox", 16 << 20);
  kata::writeFileAtomic(kata::openDir(root + "/bin").get(), "busybox", bb, 0755);
  for (const char* a : {"sh", "echo", "cat", "nc", "sleep", "ip", "ifconfig"})
    if (::symlink("busybox", (root + "/bin/" + a).c_str()) != 0) kata::throwSysError(errno, "symlink");
}

std::string containerSpec(std::vector<std::string> args) {
  nlohmann::json spec = kata::oci::defaultSpec(false);
  spec["process"] = {{"args", args}, {"cwd", "/"}, {"env", {"PATH=/bin"}}, {"user", {{"uid", 0}, {"gid", 0}}}};
  // The pod shares the VM's network: no network namespace of its own.
  nlohmann::json kept = nlohmann::json::array();
  for (auto& n : spec["linux"]["namespaces"])
    if (n["type"] != "network") kept.push_back(n);
  spec["linux"]["namespaces"] = kept;
  return spec.dump();
}

TEST_F(VmmdNetworkTest, RealGuestCniBridgeTcpBothWaysBothFamiliesAndNicHotplug) {
  auto image = kata::test::GuestImage::load(kata::test::defaultGuestImageDir());
  if (!image) GTEST_SKIP() << "guest image missing: build it with `ninja -C " KATA_BINARY_DIR " guest-image`";
  if (::access("/bin/busybox", X_OK) != 0) GTEST_SKIP() << "needs busybox-static";
  pod_ = std::make_unique<NamedNetns>(kata::test::uniqueName("knp"));
  podName_ = pod_->name();
  std::string data = dir_ + "/ipam";
  std::string conf0 = cniConf("kbr0", "10.77.0.0/24", "fd00:77::/64", true, data);
  std::string conf1 = cniConf("kbr1", "10.78.0.0/24", "fd00:78::/64", false, data + "1");
  cni("ADD", *hostSide_, podPath(), "eth0", conf0);
  waitDad(*hostSide_, "kbr0");
  std::string rootfs = dir_ + "/ctr";
  buildRootfs(rootfs + "/rootfs");
  ASSERT_EQ(startDaemon(), -1) << daemonLog();
  auto t0 = std::chrono::steady_clock::now();

  pid_t daemonPid = daemon_;
  std::string out = as(0, [&](VmmdClient& c) -> std::string {
    std::string log;
    Netns hostSide = Netns::open("/run/netns/" + hostSide_->name());
    UniqueFd kernel(::open(image->kernel.c_str(), O_RDONLY | O_CLOEXEC));
    UniqueFd initrd(::open(image->initramfs.c_str(), O_RDONLY | O_CLOEXEC));
    UniqueFd netns(::open(podPath().c_str(), O_RDONLY | O_CLOEXEC));
    auto req = c.vmmd().createVmRequest();
    auto spec = req.initSpec();
    spec.setSandboxId("ftg");
    spec.setVcpus(1);
    spec.setMemoryMiB(512);
    spec.setAccel("tcg");
    spec.setKernel(c.makeFd(kernel.get()));
    spec.setInitrd(c.makeFd(initrd.get()));
    spec.setKernelCmdline(image->cmdline);
    spec.setHotplugSlots(1);
    spec.setNetns(c.makeFd(netns.get()));
    auto created = c.wait(req.send());
    api::Vm::Client vm = created.getVm();
    UniqueFd console = c.takeFd(created.getConsole());
    try {
    auto& timer = c.io().provider->getTimer();
    auto within = [&](auto&& promise, int seconds) { return c.wait(timer.timeoutAfter(seconds * kj::SECONDS, kj::mv(promise))); };

    // What the pod's namespace looks like, for the guest.
    auto net = c.wait(vm.listNetworkRequest().send());
    if (net.getInterfaces().size() != 1) return "EXC:expected one interface, got " + std::to_string(net.getInterfaces().size());
    auto eth0 = net.getInterfaces()[0];
    log += "listed:" + describe(eth0);

    auto share = vm.shareDirectoryRequest();
    UniqueFd dirFd(::open(rootfs.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    share.setDir(c.makeFd(dirFd.get()));
    share.setName("ctr");
    share.setReadOnly(true);
    c.wait(share.send());

    kata::test::AgentConnection agent(c.io(), c.takeFd(created.getAgentChannel()));
    auto ping = agent.agent().pingRequest();
    within(ping.send(), 180);
    auto sb = agent.agent().createSandboxRequest();
    sb.initConfig().setId("ftg");
    sb.getConfig().setHostname("netpod");
    sb.getConfig().initSharedMounts(1).set(0, "kataShared");
    within(sb.send(), 60);

    // The client configures the guest from the description vmmd returned (kata-vmmd never talks
    // to the guest): same name, MAC, MTU, addresses, routes.
    auto configure = [&](api::NetInterface::Reader i) {
      auto u = agent.agent().updateInterfaceRequest();
      auto gi = u.initInterface();
      gi.setName(i.getName());
      gi.setMac(i.getMac());
      gi.setMtu(i.getMtu());
      auto addrs = gi.initAddresses(i.getAddresses().size());
      for (unsigned k = 0; k < addrs.size(); ++k) {
        addrs[k].setAddress(i.getAddresses()[k].getAddress());
        addrs[k].setPrefixLength(i.getAddresses()[k].getPrefixLength());
      }
      u.setTimeoutMs(90000);  // virtio_net is a late module; a hot-plugged NIC needs its probe
      auto r = within(u.send(), 120);
      return std::string(r.getInterface().getName().cStr()) + " up=" + (r.getInterface().getUp() ? "1" : "0");
    };
    auto setRoutes = [&](const std::vector<api::NetInterface::Reader>& ifs) {
      auto u = agent.agent().updateRoutesRequest();
      unsigned n = 0;
      for (auto i : ifs) n += i.getRoutes().size();
      auto rs = u.initRoutes(n);
      unsigned k = 0;
      for (auto i : ifs)
        for (auto r : i.getRoutes()) {
          rs[k].setDestination(r.getDestination());
          rs[k].setGateway(r.getGateway());
          rs[k].setDevice(r.getDevice());
          rs[k].setSource(r.getSource());
          rs[k].setFamily(r.getFamily());
          rs[k].setMetric(r.getMetric());
          ++k;
        }
      auto table = within(u.send(), 60);
      std::vector<std::string> got;
      for (auto r : table.getRoutes())
        if (r.getDestination() == "default") got.push_back(std::string(r.getGateway().cStr()) + "@" + r.getDevice().cStr());
      std::sort(got.begin(), got.end());
      std::string s;
      for (const auto& g : got) s += g + " ";
      return s;
    };
    log += "\nconfigured:" + configure(eth0);
    log += "\ndefaults:" + setRoutes({eth0});

    auto run = [&](const std::string& id, std::vector<std::string> args) {
      auto outCap = std::make_shared<Captured>(), errCap = std::make_shared<Captured>();
      auto cr = agent.agent().createContainerRequest();
      auto cfg = cr.initConfig();
      cfg.setId(id);
      std::string specText = containerSpec(std::move(args));
      cfg.setOciSpecJson(kj::arrayPtr(reinterpret_cast<const kj::byte*>(specText.data()), specText.size()));
      cfg.setRootfsShare("kataShared");
      cfg.setRootfsPath("ctr/rootfs");
      cr.initStdio().setStdout(kj::heap<CollectingStream>(outCap));
      cr.getStdio().setStderr(kj::heap<CollectingStream>(errCap));
      auto resp = within(cr.send(), 60);
      rpc::Container::Client ctr = resp.getContainer();
      rpc::Process::Client init = resp.getInit();
      within(ctr.startRequest().send(), 60);
      return std::make_tuple(ctr, init, outCap, errCap);
    };
    auto finish = [&](std::tuple<rpc::Container::Client, rpc::Process::Client, std::shared_ptr<Captured>, std::shared_ptr<Captured>>& t) {
      auto st = within(std::get<1>(t).waitRequest().send(), 90);
      auto rm = std::get<0>(t).removeRequest();
      rm.setForce(true);
      within(rm.send(), 30);
      return "exit=" + std::to_string(st.getStatus().getCode()) + " out=" + std::get<2>(t)->data +
             (std::get<3>(t)->data.empty() ? "" : " err=" + std::get<3>(t)->data);
    };

    // 1. A TCP server in the container, reached from the host side of the bridge: IPv4, then IPv6.
    auto srv = run("srv", {"sh", "-c", "echo pong4 | nc -l -p 8080; echo pong6 | nc -l -p 8080"});
    log += "\nto-container-v4:" + talkTo(hostSide, AF_INET, "10.77.0.2", 8080, "ping4\n", 90s);
    log += "\nto-container-v6:" + talkTo(hostSide, AF_INET6, "fd00:77::2", 8080, "ping6\n", 60s);
    log += "\nsrv:" + finish(srv);

    // 2. The container reaches servers on the host side: IPv4, then IPv6.
    UniqueFd l4 = listenIn(hostSide, AF_INET, "10.77.0.1", 9090);
    UniqueFd l6 = listenIn(hostSide, AF_INET6, "fd00:77::1", 9091);
    std::vector<std::string> served;
    std::thread server([&] { served = serveInTurn({l4.get(), l6.get()}, {"ok4\n", "ok6\n"}, 90s); });
    auto cli = run("cli", {"sh", "-c", "echo hi4 | nc 10.77.0.1 9090 && echo hi6 | nc fd00:77::1 9091"});
    log += "\ncli:" + finish(cli);
    server.join();
    for (const auto& s : served) log += "\nhost-got:" + s;

    // 3. A second pod interface (another CNI network) hot-plugged into the running VM.
    cni("ADD", *hostSide_, podPath(), "eth1", conf1);
    waitDad(*hostSide_, "kbr1");
    auto att = vm.attachNetworkRequest();
    att.setInterfaceName("eth1");
    auto attached = c.wait(att.send());
    if (attached.getInterfaces().size() != 1) return log + "\nEXC:attach returned " + std::to_string(attached.getInterfaces().size());
    auto eth1 = attached.getInterfaces()[0];
    log += "\nattached:" + describe(eth1);
    log += "\nconfigured:" + configure(eth1);
    auto all = c.wait(vm.listNetworkRequest().send());
    std::vector<api::NetInterface::Reader> both;
    for (auto i : all.getInterfaces()) both.push_back(i);
    log += "\ndefaults:" + setRoutes(both);
    UniqueFd l1 = listenIn(hostSide, AF_INET, "10.78.0.1", 9092);
    UniqueFd l16 = listenIn(hostSide, AF_INET6, "fd00:78::1", 9093);
    std::thread server2([&] { served = serveInTurn({l1.get(), l16.get()}, {"ok-eth1\n", "ok6-eth1\n"}, 90s); });
    auto cli2 = run("cli2", {"sh", "-c", "echo hi-eth1 | nc 10.78.0.1 9092 && echo hi6-eth1 | nc fd00:78::1 9093"});
    log += "\ncli2:" + finish(cli2);
    server2.join();
    for (const auto& s : served) log += "\nhost-got:" + s;

    // kill -9 of the daemon with a hot-plugged NIC in the VM: the new daemon re-adopts the VM and
    // its NICs from the record and unplugs and tears down as the old one would have. Its calls go
    // through a new connection on a thread of its own (one kj event loop per thread).
    if (!restartDaemonFromChild(daemonPid)) return log + "\nEXC:the restarted daemon did not come up";
    auto viaNewDaemon = [&](const std::function<std::string(VmmdClient&, api::Vm::Client&)>& fn) {
      std::string result;
      std::thread t([&] {
        try {
          VmmdClient c2(socket_);
          auto vm2 = open(c2, "ftg");
          result = fn(c2, vm2);
        } catch (const std::exception& e) {
          result = std::string("EXC:") + e.what();
        }
      });
      t.join();
      return result;
    };
    log += "\nreadopted:" + viaNewDaemon([](VmmdClient& c2, api::Vm::Client& vm2) {
      auto st = c2.wait(vm2.statusRequest().send());
      return std::string(st.getInfo().getAdopted() ? "adopted " : "") + listNetwork(c2, vm2);
    });

    // ... and removed again: the guest lets go of the interface, then vmmd unplugs the NIC.
    auto rmIf = agent.agent().removeInterfaceRequest();
    rmIf.setMac(eth1.getMac());
    within(rmIf.send(), 30);
    log += viaNewDaemon([](VmmdClient& c2, api::Vm::Client& vm2) {
      auto det = vm2.detachInterfaceRequest();
      det.setName("eth1");
      det.setTimeoutMs(60000);
      c2.wait(det.send());
      return std::string();
    });
    auto ifs = within(agent.agent().listInterfacesRequest().send(), 30);
    std::string guestIfs;
    for (auto i : ifs.getInterfaces()) guestIfs += std::string(i.getName().cStr()) + " ";
    log += "\nguest-after-detach:" + guestIfs;
    log += "\nlisted-after-detach:" + viaNewDaemon([](VmmdClient& c2, api::Vm::Client& vm2) { return listNetwork(c2, vm2); });

    // The cold-plugged NIC sits behind a root port of its own: it can be removed the same way.
    auto rm0 = agent.agent().removeInterfaceRequest();
    rm0.setMac(eth0.getMac());
    within(rm0.send(), 30);
    log += viaNewDaemon([](VmmdClient& c2, api::Vm::Client& vm2) {
      auto det = vm2.detachInterfaceRequest();
      det.setName("eth0");
      det.setTimeoutMs(60000);
      c2.wait(det.send());
      return listNetwork(c2, vm2);
    });
    ifs = within(agent.agent().listInterfacesRequest().send(), 30);
    guestIfs.clear();
    for (auto i : ifs.getInterfaces()) guestIfs += std::string(i.getName().cStr()) + " ";
    log += "\nguest-after-cold-detach:" + guestIfs;
    log += viaNewDaemon([](VmmdClient& c2, api::Vm::Client& vm2) {
      auto d = vm2.destroyRequest();
      d.setTimeoutMs(5000);
      c2.wait(d.send());
      return std::string();
    });
    return log;
    } catch (const std::exception& e) {
      // The console goes with the sandbox: keep what the guest said for the failure message.
      std::string text;
      char buf[65536];
      ssize_t n;
      while ((n = ::read(console.get(), buf, sizeof buf)) > 0) text.append(buf, static_cast<size_t>(n));
      throw std::runtime_error(std::string(e.what()) + "\n--- guest console ---\n" + text);
    }
  });
  auto secs = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now() - t0).count();
  std::fprintf(stderr, "real guest network scenario took %lld s\n", static_cast<long long>(secs));

  ASSERT_EQ(out.find("EXC:"), std::string::npos) << out << "\ndaemon log:\n" << daemonLog();
  std::string i0 = pod("-o link show dev eth0");
  std::string idx0 = i0.substr(0, i0.find(':'));
  std::string i1 = pod("-o link show dev eth1");
  std::string idx1 = i1.substr(0, i1.find(':'));
  std::string mac0 = pod("-br link show dev eth0"), mac1 = pod("-br link show dev eth1");
  auto macOf = [](const std::string& br) {
    auto at = br.find(':', br.find("  ")) - 2;
    return br.substr(at, 17);
  };
  std::string listedEth0 = "eth0 " + macOf(mac0) + " mtu 1500 veth nic" + idx0 + " tcfilter tap" + idx0 +
                           "_kata q1 | 10.77.0.2/24 fd00:77::2/64 | 10.77.0.0/24 v4; default via 10.77.0.1 v4; "
                           "default via fd00:77::1 v6; fd00:77::/64 v6;\n";
  std::string expected =
      "listed:eth0 " + macOf(mac0) + " mtu 1500 veth nic" + idx0 + " tcfilter tap" + idx0 +
      "_kata q1 | 10.77.0.2/24 fd00:77::2/64 | 10.77.0.0/24 v4; default via 10.77.0.1 v4; default via fd00:77::1 v6; "
      "fd00:77::/64 v6;"
      "\nconfigured:eth0 up=1"
      "\ndefaults:10.77.0.1@eth0 fd00:77::1@eth0 "
      "\nto-container-v4:pong4\n|"
      "\nto-container-v6:pong6\n|"
      "\nsrv:exit=0 out=ping4\nping6\n"
      "\ncli:exit=0 out=ok4\nok6\n"
      "\nhost-got:10.77.0.2 hi4\n"
      "\nhost-got:fd00:77::2 hi6\n"
      "\nattached:eth1 " + macOf(mac1) + " mtu 1500 veth nic" + idx1 + " tcfilter tap" + idx1 +
      "_kata q1 | 10.78.0.2/24 fd00:78::2/64 | 10.78.0.0/24 v4; fd00:78::/64 v6;"
      "\nconfigured:eth1 up=1"
      "\ndefaults:10.77.0.1@eth0 fd00:77::1@eth0 "
      "\ncli2:exit=0 out=ok-eth1\nok6-eth1\n"
      "\nhost-got:10.78.0.2 hi-eth1\n"
      "\nhost-got:fd00:78::2 hi6-eth1\n"
      "\nreadopted:adopted " + listedEth0 + "eth1 " + macOf(mac1) + " mtu 1500 veth nic" + idx1 + " tcfilter tap" + idx1 +
      "_kata q1 | 10.78.0.2/24 fd00:78::2/64 | 10.78.0.0/24 v4; fd00:78::/64 v6;\n"
      "\nguest-after-detach:lo eth0 "
      "\nlisted-after-detach:" + listedEth0 +
      "\nguest-after-cold-detach:lo ";
  EXPECT_EQ(out, expected) << "\ndaemon log:\n" << daemonLog() << "\nconsole:\n"
                           << kata::readFileIfExists(AT_FDCWD, state_ + "/vms/ftg/console.log", 1 << 20).value_or("(gone)");
  expectPodClean({"eth0", "eth1"});
  expectNoPin("ftg");
  cni("DEL", *hostSide_, podPath(), "eth1", conf1);
  cni("DEL", *hostSide_, podPath(), "eth0", conf0);
}

}  // namespace
