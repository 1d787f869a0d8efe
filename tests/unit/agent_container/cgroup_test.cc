// ContainerCgroup against a fake cgroup v2 tree in a temp dir (the files the kernel would create),
// and, where the host has a writable cgroup2 mount, against the real thing for freeze/thaw.
#include "agent/container/cgroup.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <thread>

#include <gtest/gtest.h>

#include "common/error.h"
#include "common/fs.h"

namespace kata::agent {
namespace {

class AgentCgroupFakeTree : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/kata-cgroup-test-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    root_ = tmpl;
    put("cgroup.controllers", "cpuset cpu io memory hugetlb pids rdma misc\n");
    put("cgroup.subtree_control", "");
    ASSERT_EQ(::mkdir((root_ + "/kata").c_str(), 0755), 0);
    put("kata/cgroup.controllers", "cpuset cpu io memory hugetlb pids rdma\n");
    put("kata/cgroup.subtree_control", "memory\n");
    // The leaf as the kernel would populate it once the controllers are enabled.
    ASSERT_EQ(::mkdir((root_ + "/kata/c1").c_str(), 0755), 0);
    for (const char* f : {"cgroup.procs", "cgroup.freeze", "cpu.weight", "cpu.max", "cpu.idle", "cpuset.cpus",
                          "cpuset.mems", "memory.max", "memory.low", "memory.swap.max", "pids.max", "io.weight",
                          "io.max", "hugetlb.2MB.max", "rdma.max", "memory.high"})
      put(std::string("kata/c1/") + f, "");
  }
  void TearDown() override { removeTree(AT_FDCWD, root_); }

  void put(const std::string& rel, const std::string& content) {
    std::ofstream(root_ + "/" + rel) << content;
  }
  std::string get(const std::string& rel) { return readFile(root_ + "/" + rel, 1 << 16); }

  std::string root_;
};

TEST(CgroupConversions, MatchRunc) {
  EXPECT_EQ(cpuSharesToWeight(0), 0u);
  EXPECT_EQ(cpuSharesToWeight(2), 1u);
  EXPECT_EQ(cpuSharesToWeight(1024), 39u);  // runc: 1 + (1022 * 9999) / 262142 = 39
  EXPECT_EQ(cpuSharesToWeight(262144), 10000u);
  EXPECT_EQ(blkioWeightToIoWeight(10), 1u);
  EXPECT_EQ(blkioWeightToIoWeight(500), 4950u);  // 1 + 490 * 9999 / 990
  EXPECT_EQ(blkioWeightToIoWeight(1000), 10000u);
  EXPECT_EQ(memorySwapToSwapMax(0, -1), -1);
  EXPECT_EQ(memorySwapToSwapMax(-1, 100), -1);
  EXPECT_EQ(memorySwapToSwapMax(0, 100), 0);
  EXPECT_EQ(memorySwapToSwapMax(300, 100), 200);
  EXPECT_THROW(memorySwapToSwapMax(50, 100), Error);
  EXPECT_THROW(memorySwapToSwapMax(300, 0), Error);
}

TEST_F(AgentCgroupFakeTree, CreateEnablesControllersAndWritesLimits) {
  oci::Resources r;
  r.memory = oci::Memory{};
  r.memory->limit = 256 * 1024 * 1024;
  r.memory->reservation = 64 * 1024 * 1024;
  r.memory->swap = 512 * 1024 * 1024;
  r.cpu = oci::Cpu{};
  r.cpu->shares = 1024;
  r.cpu->quota = 50000;
  r.cpu->period = 100000;
  r.cpu->cpus = "0-1";
  r.cpu->mems = "0";
  r.pids = oci::Pids{};
  r.pids->limit = 100;
  r.blockIO = oci::BlockIo{};
  r.blockIO->weight = 500;
  r.blockIO->throttleReadBpsDevice = std::vector<oci::ThrottleDevice>{{8, 0, 1048576, {}}};
  r.hugepageLimits = std::vector<oci::HugepageLimit>{{"2MB", 4194304, {}}};
  r.unified = std::map<std::string, std::string>{{"memory.high", "200000000"}};

  ContainerCgroup cg = ContainerCgroup::create(root_, "/kata/c1", r);
  EXPECT_EQ(cg.path(), root_ + "/kata/c1");
  EXPECT_FALSE(pathExists(root_ + "/memory.max"));  // nothing written outside the leaf
  EXPECT_EQ(get("kata/c1/memory.max"), "268435456");
  EXPECT_EQ(get("kata/c1/memory.low"), "67108864");
  EXPECT_EQ(get("kata/c1/memory.swap.max"), "268435456");  // (memory+swap) - memory
  EXPECT_EQ(get("kata/c1/cpu.weight"), "39");
  EXPECT_EQ(get("kata/c1/cpu.max"), "50000 100000");
  EXPECT_EQ(get("kata/c1/cpuset.cpus"), "0-1");
  EXPECT_EQ(get("kata/c1/cpuset.mems"), "0");
  EXPECT_EQ(get("kata/c1/pids.max"), "100");
  EXPECT_EQ(get("kata/c1/io.weight"), "4950");
  EXPECT_EQ(get("kata/c1/io.max"), "8:0 rbps=1048576");
  EXPECT_EQ(get("kata/c1/hugetlb.2MB.max"), "4194304");
  EXPECT_EQ(get("kata/c1/memory.high"), "200000000");
  // Each write replaces the fake file, so the root's subtree_control shows the last controller
  // enabled; kata's already had memory and must not have been rewritten for it.
  EXPECT_EQ(get("cgroup.subtree_control"), "+rdma");
  EXPECT_EQ(get("kata/cgroup.subtree_control"), "+rdma");
}

TEST_F(AgentCgroupFakeTree, UnlimitedValuesAndQuotaWithoutPeriod) {
  oci::Resources r;
  r.memory = oci::Memory{};
  r.memory->limit = -1;
  r.pids = oci::Pids{};
  r.pids->limit = -1;
  r.cpu = oci::Cpu{};
  r.cpu->quota = -1;
  ContainerCgroup cg = ContainerCgroup::create(root_, "kata/c1", r);
  EXPECT_EQ(get("kata/c1/memory.max"), "max");
  EXPECT_EQ(get("kata/c1/memory.swap.max"), "max");
  EXPECT_EQ(get("kata/c1/pids.max"), "max");
  EXPECT_EQ(get("kata/c1/cpu.max"), "max");
}

TEST_F(AgentCgroupFakeTree, BadUnifiedKeysAndPathsAreRefused) {
  for (const char* key : {"../../etc/passwd", "memory.max/x", "cgroup.procs", ".hidden", "nodot", "a..b"}) {
    oci::Resources r;
    r.unified = std::map<std::string, std::string>{{key, "1"}};
    try {
      ContainerCgroup::create(root_, "kata/c1", r);
      ADD_FAILURE() << key << " accepted";
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::kInvalidArgument) << key;
      EXPECT_NE(std::string(e.what()).find("linux.resources.unified"), std::string::npos) << e.what();
    }
  }
  EXPECT_THROW(ContainerCgroup::create(root_, "kata/../../escape", std::nullopt), Error);
  EXPECT_FALSE(pathExists(root_ + "/../escape"));
  // A file the kernel does not offer (controller missing) says so.
  oci::Resources r;
  r.unified = std::map<std::string, std::string>{{"misc.max", "x 1"}};
  try {
    ContainerCgroup::create(root_, "kata/c1", r);
    ADD_FAILURE() << "misc.max accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kNotSupported);
    EXPECT_NE(std::string(e.what()).find("misc controller"), std::string::npos) << e.what();
  }
}

TEST_F(AgentCgroupFakeTree, StatsParseKernelFormats) {
  ContainerCgroup cg = ContainerCgroup::create(root_, "kata/c1", std::nullopt);
  put("kata/c1/cpu.stat", "usage_usec 1500\nuser_usec 1000\nsystem_usec 500\nnr_periods 0\n");
  put("kata/c1/memory.current", "4096\n");
  put("kata/c1/memory.max", "max\n");
  put("kata/c1/memory.peak", "8192\n");
  put("kata/c1/pids.current", "3\n");
  put("kata/c1/pids.max", "100\n");
  put("kata/c1/io.stat", "8:0 rbytes=100 wbytes=200 rios=1 wios=2 dbytes=0 dios=0\n"
                         "8:16 rbytes=1 wbytes=2 rios=1 wios=1 dbytes=0 dios=0\n");
  put("kata/c1/memory.events", "low 0\nhigh 0\nmax 4\noom 2\noom_kill 1\noom_group_kill 0\n");
  put("kata/c1/cgroup.procs", "12\n34\n");
  CgroupStats s = cg.stats();
  EXPECT_EQ(s.cpuUsageUsec, 1500u);
  EXPECT_EQ(s.cpuUserUsec, 1000u);
  EXPECT_EQ(s.cpuSystemUsec, 500u);
  EXPECT_EQ(s.memoryUsageBytes, 4096u);
  EXPECT_EQ(s.memoryLimitBytes, kCgroupUnlimited);
  EXPECT_EQ(s.memoryMaxUsageBytes, 8192u);
  EXPECT_EQ(s.pidsCurrent, 3u);
  EXPECT_EQ(s.pidsLimit, 100u);
  EXPECT_EQ(s.ioReadBytes, 101u);
  EXPECT_EQ(s.ioWriteBytes, 202u);
  EXPECT_EQ(s.oomKills, 1u);
  EXPECT_EQ(cg.oomKillCount(), 1u);
  EXPECT_GE(cg.eventsFd(), 0);
  EXPECT_EQ(cg.processes(), (std::vector<pid_t>{12, 34}));
  cg.addProcess(56);
  EXPECT_EQ(get("kata/c1/cgroup.procs"), "56");
  put("kata/c1/cgroup.procs", "56\n");
  try {
    cg.remove();
    ADD_FAILURE() << "removed a cgroup with processes";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kFailedPrecondition);
  }
}

TEST_F(AgentCgroupFakeTree, FreezeWaitsForEventsAndTimesOut) {
  ContainerCgroup cg = ContainerCgroup::create(root_, "kata/c1", std::nullopt);
  put("kata/c1/cgroup.events", "populated 1\nfrozen 1\n");
  cg.freeze(std::chrono::milliseconds(200));
  EXPECT_EQ(get("kata/c1/cgroup.freeze"), "1");
  // Still frozen per cgroup.events: thaw must give up after its bound.
  auto start = std::chrono::steady_clock::now();
  try {
    cg.thaw(std::chrono::milliseconds(100));
    ADD_FAILURE() << "thaw returned while cgroup.events says frozen";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kTimeout);
  }
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(2));
  EXPECT_EQ(get("kata/c1/cgroup.freeze"), "0");
}

// The real kernel: a child in a fresh cgroup is frozen (it stops making progress), thawed, and the
// cgroup removed. Needs root and a writable cgroup2 mount with cgroup.freeze.
TEST(RealCgroup, FreezeThawRemove) {
  std::string root;
  for (const char* candidate : {"/sys/fs/cgroup/unified", "/sys/fs/cgroup"}) {
    if (pathExists(std::string(candidate) + "/cgroup.procs") && ::access(candidate, W_OK) == 0) {
      root = candidate;
      break;
    }
  }
  if (root.empty() || ::geteuid() != 0) GTEST_SKIP() << "no writable cgroup2 mount";
  // Our own parent, so nothing is enabled or written in the host's cgroups above it.
  std::string parent = root + "/kata-unit-" + std::to_string(::getpid());
  ASSERT_EQ(::mkdir(parent.c_str(), 0755), 0) << parent;
  ContainerCgroup cg = ContainerCgroup::create(parent, "c", std::nullopt);
  if (!pathExists(cg.path() + "/cgroup.freeze")) {
    cg.remove();
    ::rmdir(parent.c_str());
    GTEST_SKIP() << "kernel without cgroup.freeze";
  }
  int pipefd[2];
  ASSERT_EQ(::pipe(pipefd), 0);
  pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    ::close(pipefd[0]);
    for (;;) {
      if (::write(pipefd[1], "x", 1) != 1) _exit(1);
      ::usleep(1000);
    }
  }
  ::close(pipefd[1]);
  cg.addProcess(child);
  EXPECT_EQ(cg.processes(), (std::vector<pid_t>{child}));
  cg.freeze();
  char buf[4096];
  ::fcntl(pipefd[0], F_SETFL, O_NONBLOCK);
  while (::read(pipefd[0], buf, sizeof buf) > 0) {
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_LT(::read(pipefd[0], buf, sizeof buf), 0) << "a frozen process kept writing";
  cg.thaw();
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_GT(::read(pipefd[0], buf, sizeof buf), 0) << "a thawed process did not resume";
  EXPECT_THROW(cg.remove(), Error);
  ::kill(child, SIGKILL);
  ::waitpid(child, nullptr, 0);
  ::close(pipefd[0]);
  for (int i = 0; i < 100 && !cg.processes().empty(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  cg.remove();
  EXPECT_FALSE(pathExists(parent + "/c"));
  EXPECT_EQ(::rmdir(parent.c_str()), 0);
}

}  // namespace
}  // namespace kata::agent
