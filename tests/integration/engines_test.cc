// Container engines driving kata-ctl exactly as they drive runc: podman (with conmon) and containerd
// (ctr, with containerd's runc shim given kata-ctl as its runc binary). Each engine here is private
// to the suite (its own storage, state and socket) and talks to a private kata-vmmd; every container
// is a real VM under QEMU (TCG here), so the cases are few and each one checks several things.
//
// This machine's hard rlimits are low: podman needs --ulimit nofile/nproc (runc fails the same way
// without them).
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>
#include <thread>

#include "common/fs.h"
#include "tests/support/busybox_rootfs.h"
#include "tests/support/run_support.h"

namespace kata::test {
namespace {

namespace fs = std::filesystem;

bool waitFor(const std::function<bool()>& cond, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (cond()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return cond();
}

RunResult sh(const std::string& cmd, const std::string& input = "") { return runProgram("/bin/sh", {"-c", cmd}, input); }

class Engines : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (::geteuid() != 0) return;
    char tmpl[] = "/tmp/kata-engines-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    ::chmod(dir_.c_str(), 0755);
    auto v = sh(std::string(KATA_SOURCE_DIR) + "/scripts/private-vmmd.sh start " + dir_ + "/vmmd 2>&1");
    ASSERT_EQ(v.status, 0) << v.out;
    vmmd_ = true;
    buildBusyboxRootfs(dir_ + "/rootfs");
    if (havePodman()) {
      auto imp = sh("tar -C " + dir_ + "/rootfs -c . | " + podman() + " import - localhost/kata-busybox 2>&1");
      ASSERT_EQ(imp.status, 0) << imp.out;
    }
    if (haveContainerd()) {
      fs::create_directories(dir_ + "/containerd");
      std::ofstream(dir_ + "/containerd/config.toml") << "version = 2\nroot = \"" << dir_ << "/containerd/root\"\nstate = \""
                                                       << dir_ << "/containerd/state\"\n[grpc]\naddress = \"" << address()
                                                       << "\"\n";
      containerd_ = ::fork();
      if (containerd_ == 0) {
        std::string log = dir_ + "/containerd/log";
        FILE* f = std::freopen(log.c_str(), "w", stderr);
        (void)f;
        ::execlp("containerd", "containerd", "--config", (dir_ + "/containerd/config.toml").c_str(), nullptr);
        ::_exit(127);
      }
      ASSERT_TRUE(waitFor([] { return sh("ctr --address " + address() + " version >/dev/null 2>&1").status == 0; },
                          std::chrono::seconds(30)))
          << readFile(dir_ + "/containerd/log", 1 << 20);
    }
    if (haveDocker() && containerd_ > 0) {
      // dockerd on the suite's containerd, with kata-ctl added as runtime "kata" (--add-runtime).
      fs::create_directories(dir_ + "/docker");
      dockerd_ = ::fork();
      if (dockerd_ == 0) {
        FILE* f = std::freopen((dir_ + "/docker/log").c_str(), "w", stderr);
        (void)f;
        ::execl("/usr/sbin/dockerd", "dockerd", "--data-root", (dir_ + "/docker/data").c_str(), "--exec-root",
                (dir_ + "/docker/exec").c_str(), "-H", ("unix://" + dockerSocket()).c_str(), "--pidfile",
                (dir_ + "/docker/pid").c_str(), "--containerd", address().c_str(), "--add-runtime",
                ("kata=" + runtime()).c_str(), "--iptables=false", "--ip6tables=false", "--bridge=none", nullptr);
        ::_exit(127);
      }
      ASSERT_TRUE(waitFor([] { return sh(docker() + " version >/dev/null 2>&1").status == 0; }, std::chrono::seconds(60)))
          << readFile(dir_ + "/docker/log", 1 << 20);
      auto imp = sh("tar -C " + dir_ + "/rootfs -c . | " + docker() + " import - kata-busybox 2>&1");
      ASSERT_EQ(imp.status, 0) << imp.out;
    }
  }

  static void TearDownTestSuite() {
    if (dir_.empty()) return;
    if (havePodman()) sh(podman() + " rm -af -t 0 >/dev/null 2>&1; " + podman() + " rmi -af >/dev/null 2>&1");
    if (dockerd_ > 0) {
      sh(docker() + " rm -f $(" + docker() + " ps -aq) >/dev/null 2>&1");
      ::kill(dockerd_, SIGTERM);
      ::waitpid(dockerd_, nullptr, 0);
      sh("umount -R " + dir_ + "/docker/data 2>/dev/null; umount -R " + dir_ + "/docker/exec 2>/dev/null");
    }
    if (containerd_ > 0) {
      ::kill(containerd_, SIGTERM);
      ::waitpid(containerd_, nullptr, 0);
    }
    if (vmmd_) {
      auto r = sh(std::string(KATA_SOURCE_DIR) + "/scripts/private-vmmd.sh stop " + dir_ + "/vmmd");
      EXPECT_EQ(r.status, 0) << r.err;
    }
    sh("umount -R " + dir_ + "/containerd/state 2>/dev/null; umount -R " + dir_ + "/storage/overlay 2>/dev/null");
    removeTree(AT_FDCWD, dir_);
  }

  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root (kata-vmmd, podman and containerd run as root here)";
    ASSERT_TRUE(vmmd_);
  }

  static bool havePodman() { return ::access("/usr/bin/podman", X_OK) == 0; }
  static bool haveContainerd() { return ::access("/usr/bin/containerd", X_OK) == 0 && ::access("/usr/bin/ctr", X_OK) == 0; }
  static std::string runtime() { return dir_ + "/vmmd/kata-ctl"; }
  static std::string podman() {
    return "podman --root " + dir_ + "/storage --runroot " + dir_ + "/run --runtime " + runtime() +
           " --cgroup-manager cgroupfs --events-backend file";
  }
  static std::string podmanRun() {
    return podman() + " run --network none --ulimit nofile=1024:1024 --ulimit nproc=1024:1024";
  }
  static std::string address() { return dir_ + "/containerd/containerd.sock"; }
  static bool haveDocker() { return ::access("/usr/sbin/dockerd", X_OK) == 0 && ::access("/usr/bin/docker", X_OK) == 0; }
  static std::string dockerSocket() { return dir_ + "/docker/docker.sock"; }
  static std::string docker() { return "/usr/bin/docker -H unix://" + dockerSocket(); }
  static std::string ctr() { return "ctr --address " + address(); }

  // Nothing of the runtime's is left: no VM in kata-vmmd, no sandbox records.
  static void expectNothingLeft() {
    EXPECT_TRUE(waitFor([] { return fs::is_empty(dir_ + "/vmmd/state/vms"); }, std::chrono::seconds(10)))
        << "kata-vmmd still has VMs";
  }

  static std::string dir_;
  static bool vmmd_;
  static pid_t containerd_;
  static pid_t dockerd_;
};

std::string Engines::dir_;
bool Engines::vmmd_ = false;
pid_t Engines::containerd_ = -1;
pid_t Engines::dockerd_ = -1;

TEST_F(Engines, PodmanRunPrintsAndExitsWithTheContainersStatus) {
  if (!havePodman()) GTEST_SKIP() << "podman is not installed (scripts/setup.sh installs it)";
  auto r = sh(podmanRun() + " --rm localhost/kata-busybox sh -c 'echo hello from $(uname -r); echo to-stderr >&2; exit 3'");
  EXPECT_EQ(r.status, 3) << r.err;
  EXPECT_NE(r.out.find("hello from "), std::string::npos) << r.out << r.err;
  EXPECT_NE(r.err.find("to-stderr"), std::string::npos) << r.err;
  expectNothingLeft();
}

TEST_F(Engines, PodmanRunInteractiveWithATerminal) {
  if (!havePodman()) GTEST_SKIP() << "podman is not installed";
  // script(1) gives podman a terminal; the container's shell sees its size and its exit status returns.
  auto r = sh("(sleep 8; printf 'stty size; echo typed-$((6*7))\\r'; sleep 3; printf 'exit 4\\r'; sleep 3) | "
              "script -qfec \"stty cols 101 rows 31; " + podmanRun() + " -it --rm localhost/kata-busybox sh\" /dev/null");
  EXPECT_EQ(r.status, 4) << r.out << r.err;
  EXPECT_NE(r.out.find("31 101"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("typed-42"), std::string::npos) << r.out;
  expectNothingLeft();
}

TEST_F(Engines, PodmanExecStopKillAndRemove) {
  if (!havePodman()) GTEST_SKIP() << "podman is not installed";
  auto d = sh(podmanRun() + " -d --name k1 localhost/kata-busybox sh -c "
              "'trap \"echo bye; exit 0\" TERM; echo up; while true; do sleep 0.2; done'");
  ASSERT_EQ(d.status, 0) << d.err;
  ASSERT_TRUE(waitFor([] { return sh(podman() + " logs k1").out.find("up") != std::string::npos; }, std::chrono::seconds(20)));
  auto e = sh(podman() + " exec k1 sh -c 'echo exec works; exit 6'");
  EXPECT_EQ(e.status, 6);
  EXPECT_EQ(e.out, "exec works\n");
  EXPECT_EQ(sh(podman() + " stop -t 10 k1").status, 0);
  EXPECT_NE(sh(podman() + " ps -a --format '{{.Names}} {{.Status}}'").out.find("k1 Exited (0)"), std::string::npos);
  EXPECT_NE(sh(podman() + " logs k1").out.find("bye"), std::string::npos) << "the container got SIGTERM";
  EXPECT_EQ(sh(podman() + " rm k1").status, 0);

  ASSERT_EQ(sh(podmanRun() + " -d --name k2 localhost/kata-busybox sleep 1000").status, 0);
  EXPECT_EQ(sh(podman() + " kill k2").status, 0);
  EXPECT_TRUE(waitFor([] { return sh(podman() + " ps -a --format '{{.Names}} {{.Status}}'").out.find("k2 Exited (137)") !=
                                  std::string::npos; },
                      std::chrono::seconds(20)));
  EXPECT_EQ(sh(podman() + " rm k2").status, 0);

  ASSERT_EQ(sh(podmanRun() + " -d --name k3 localhost/kata-busybox sh -c 'trap \"exit 0\" TERM; while true; do sleep 0.2; done'").status, 0);
  EXPECT_EQ(sh(podman() + " rm -f k3").status, 0);
  EXPECT_EQ(sh(podman() + " ps -aq").out, "");
  expectNothingLeft();
}

TEST_F(Engines, PodmanDefaultNetworkWithAPublishedPort) {
  if (!havePodman()) GTEST_SKIP() << "podman is not installed";
  // podman's default network (CNI bridge cni-podman0 with portmap): the container reaches a server
  // in the host namespace, and `-p` maps a host port to the container's.
  const std::string run = podman() + " run --ulimit nofile=1024:1024 --ulimit nproc=1024:1024";
  ASSERT_EQ(sh(run + " -d --name w1 -p 18080:8080 localhost/kata-busybox sh -c "
                     "'while true; do echo served-by-the-vm | nc -l -p 8080; done'").status, 0);
  std::string gateway = sh(podman() + " inspect -f '{{.NetworkSettings.Gateway}}' w1").out;
  gateway = gateway.substr(0, gateway.find('\n'));
  ASSERT_FALSE(gateway.empty());
  std::string hostIp = sh("ip -4 -o addr show scope global | awk '{print $4}' | cut -d/ -f1 | grep -v '^" + gateway + "$' | head -1").out;
  hostIp = hostIp.substr(0, hostIp.find('\n'));
  ASSERT_FALSE(hostIp.empty());
  EXPECT_TRUE(waitFor([&] { return sh("busybox nc -w 3 " + hostIp + " 18080 </dev/null").out.find("served-by-the-vm") !=
                                  std::string::npos; },
                      std::chrono::seconds(30)))
      << "port 18080 on " << hostIp << " does not reach the container";
  std::thread server([&] { sh("timeout 30 busybox nc -l -p 19090 > " + dir_ + "/from-container"); });
  // The client retries until the server listens (connection refused before that).
  auto e = sh(podman() + " exec w1 sh -c 'for i in $(seq 40); do echo hello-host | nc -w 5 " + gateway +
              " 19090 && exit 0; sleep 0.5; done; exit 1'");
  server.join();
  EXPECT_EQ(e.status, 0) << e.err;
  EXPECT_EQ(readFile(dir_ + "/from-container", 1 << 16), "hello-host\n");
  // /etc/hosts, /etc/hostname and /etc/resolv.conf are the files podman wrote for the container.
  std::istringstream paths(sh(podman() + " inspect -f '{{.HostsPath}} {{.HostnamePath}} {{.ResolvConfPath}}' w1").out);
  for (const std::string f : {"hosts", "hostname", "resolv.conf"}) {
    std::string path;
    paths >> path;
    std::string want = readFile(path, 1 << 16);
    EXPECT_FALSE(want.empty()) << path;
    EXPECT_EQ(sh(podman() + " exec w1 cat /etc/" + f).out, want) << path;
  }
  EXPECT_EQ(sh(podman() + " rm -f -t 0 w1").status, 0);
  expectNothingLeft();
}

TEST_F(Engines, ContainerdRunExecKillDelete) {
  if (!haveContainerd()) GTEST_SKIP() << "containerd is not installed (scripts/setup.sh installs it)";
  // ctr's --rootfs is a switch: the directory takes the image's place among the arguments.
  auto run = [](const std::string& flags) {
    return ctr() + " run --runc-binary " + runtime() + " " + flags + " --rootfs " + dir_ + "/rootfs";
  };
  auto r = sh(run("--rm") + " t1 /bin/sh -c 'echo hello from containerd; exit 2'");
  EXPECT_EQ(r.status, 2) << r.err;
  EXPECT_EQ(r.out, "hello from containerd\n");

  ASSERT_EQ(sh(run("-d") + " t2 /bin/sh -c 'trap \"exit 0\" TERM; while true; do sleep 0.2; done'").status, 0);
  auto e = sh(ctr() + " task exec --exec-id e1 t2 /bin/sh -c 'echo exec in containerd; exit 6'");
  EXPECT_EQ(e.status, 6) << e.err;
  EXPECT_EQ(e.out, "exec in containerd\n");
  auto ps = sh(ctr() + " task ps t2");
  EXPECT_EQ(ps.status, 0) << ps.err;
  EXPECT_NE(ps.out.find("PID"), std::string::npos);
  EXPECT_EQ(sh(ctr() + " task kill t2").status, 0);
  EXPECT_TRUE(waitFor([] { return sh(ctr() + " task ls").out.find("STOPPED") != std::string::npos; }, std::chrono::seconds(20)));
  EXPECT_EQ(sh(ctr() + " task delete t2").status, 0);
  EXPECT_EQ(sh(ctr() + " container delete t2").status, 0);

  // A failure reaches the user with our error text.
  auto bad = sh(run("--rm") + " t3 /no/such/binary");
  EXPECT_NE(bad.status, 0);
  EXPECT_NE(bad.err.find("/no/such/binary"), std::string::npos) << bad.err;
  sh(ctr() + " task delete -f t3; " + ctr() + " container delete t3");
  expectNothingLeft();
}

TEST_F(Engines, DockerRunWithAnAddedRuntime) {
  if (dockerd_ <= 0) GTEST_SKIP() << "dockerd (Debian's docker.io) is not installed";
  const std::string run = docker() + " run --runtime kata --network none";
  auto r = sh(run + " --rm kata-busybox sh -c 'echo hello from docker; exit 5'");
  EXPECT_EQ(r.status, 5) << r.err;
  EXPECT_EQ(r.out, "hello from docker\n");
  ASSERT_EQ(sh(run + " -d --name d1 kata-busybox sh -c 'trap \"exit 0\" TERM; while true; do sleep 0.2; done'").status, 0);
  auto e = sh(docker() + " exec d1 sh -c 'echo exec in docker; exit 6'");
  EXPECT_EQ(e.status, 6) << e.err;
  EXPECT_EQ(e.out, "exec in docker\n");
  EXPECT_EQ(sh(docker() + " stop -t 10 d1").status, 0);
  EXPECT_NE(sh(docker() + " ps -a --format '{{.Names}} {{.Status}}'").out.find("d1 Exited (0)"), std::string::npos);
  EXPECT_EQ(sh(docker() + " rm d1").status, 0);
  expectNothingLeft();
}

}  // namespace
}  // namespace kata::test
