// The cgroup layer against fake cgroupfs trees in a temp dir (mkdir there creates no interface
// files, so the files the layer writes are plain files we can read back).
#include "security/cgroup.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include "common/error.h"
#include "common/fs.h"

namespace kata::security {
namespace {

class FakeCgroupTree : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/kata-cgroup-test-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    root_ = tmpl;
  }
  void TearDown() override { removeTree(AT_FDCWD, root_); }
  void file(const std::string& rel, const std::string& content) {
    size_t slash = rel.rfind('/');
    std::string dirPath = slash == std::string::npos ? root_ : root_ + "/" + rel.substr(0, slash);
    makeDirs(dirPath, 0755);
    UniqueFd dir = openDir(dirPath);
    writeFileAtomic(dir.get(), slash == std::string::npos ? rel : rel.substr(slash + 1), content, 0644);
  }
  std::string read(const std::string& rel) { return readFile(root_ + "/" + rel, 4096); }
  std::string root_;
};

TEST_F(FakeCgroupTree, PureV2EnablesControllersDownTheParentChainAndWritesLimits) {
  file("cgroup.controllers", "cpuset cpu io memory hugetlb pids rdma misc\n");
  file("cgroup.procs", "");
  auto layout = CgroupLayout::detect(root_);
  ASSERT_EQ(layout.hierarchies.size(), 1u);
  EXPECT_EQ(layout.hierarchies[0].version, CgroupVersion::kV2);
  CgroupLimits limits;
  limits.memoryBytes = 512u << 20;
  limits.pidsMax = 128;
  limits.cpuWeight = 50;
  Cgroup cg = Cgroup::create(layout, "kata/vms", "sb1", limits);
  EXPECT_EQ(cg.relativePath(), "/kata/vms/sb1");
  ASSERT_EQ(cg.paths().size(), 1u);
  EXPECT_EQ(cg.paths()[0], root_ + "/kata/vms/sb1");
  EXPECT_EQ(read("cgroup.subtree_control"), "+memory +pids +cpu");
  EXPECT_EQ(read("kata/cgroup.subtree_control"), "+memory +pids +cpu");
  EXPECT_EQ(read("kata/vms/cgroup.subtree_control"), "+memory +pids +cpu");
  EXPECT_EQ(read("kata/vms/sb1/memory.max"), std::to_string(512u << 20));
  EXPECT_EQ(read("kata/vms/sb1/pids.max"), "128");
  EXPECT_EQ(read("kata/vms/sb1/cpu.weight"), "50");
  cg.addProcess(4242);
  EXPECT_EQ(read("kata/vms/sb1/cgroup.procs"), "4242");
  EXPECT_EQ(cg.processes(), std::vector<pid_t>{4242});
  try {
    Cgroup::create(layout, "kata/vms", "sb1", {});
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kAlreadyExists);
  }
  EXPECT_EQ(Cgroup::open(layout, "kata/vms", "sb1").paths(), cg.paths());
}

TEST_F(FakeCgroupTree, HybridUsesUnifiedPlusChosenV1Controllers) {
  // This build machine's layout: v1 controllers, a controller-less unified v2 mount, named systemd.
  for (const char* c : {"cpu", "cpuacct", "cpuset", "memory", "pids", "systemd"}) file(std::string(c) + "/cgroup.procs", "");
  file("unified/cgroup.controllers", "");
  file("unified/cgroup.procs", "");
  auto layout = CgroupLayout::detect(root_, {"pids", "memory"});
  ASSERT_EQ(layout.hierarchies.size(), 3u);
  EXPECT_EQ(layout.hierarchies[0].version, CgroupVersion::kV2);  // unified first
  EXPECT_EQ(layout.hierarchies[0].mountPoint, root_ + "/unified");
  EXPECT_EQ(layout.hierarchies[1].mountPoint, root_ + "/memory");
  EXPECT_EQ(layout.hierarchies[2].mountPoint, root_ + "/pids");
  CgroupLimits limits;
  limits.pidsMax = 64;
  limits.memoryBytes = 1u << 30;
  Cgroup cg = Cgroup::create(layout, "kata", "sb2", limits);
  EXPECT_EQ(read("pids/kata/sb2/pids.max"), "64");
  EXPECT_EQ(read("memory/kata/sb2/memory.limit_in_bytes"), std::to_string(1u << 30));
  EXPECT_FALSE(pathExists(root_ + "/unified/cgroup.subtree_control")) << "no controllers to enable";
  // cgroupfs creates cgroup.procs with the directory; the fake tree needs it made.
  for (const auto& p : cg.paths()) file(p.substr(root_.size() + 1) + "/cgroup.procs", "");
  EXPECT_EQ(cg.openProcsFiles().size(), 3u);
}

TEST_F(FakeCgroupTree, LimitWithoutControllerIsNotSupportedAndLeavesNothingBehind) {
  file("cgroup.controllers", "pids\n");
  auto layout = CgroupLayout::detect(root_);
  CgroupLimits limits;
  limits.memoryBytes = 1 << 20;
  try {
    Cgroup::create(layout, "kata", "sb3", limits);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kNotSupported);
    EXPECT_NE(std::string(e.what()).find("memory controller"), std::string::npos);
  }
  EXPECT_FALSE(pathExists(root_ + "/kata/sb3"));
}

TEST_F(FakeCgroupTree, HostileNamesAreRefused) {
  file("cgroup.controllers", "");
  auto layout = CgroupLayout::detect(root_);
  EXPECT_THROW(Cgroup::create(layout, "kata", "../escape", {}), Error);
  EXPECT_THROW(Cgroup::create(layout, "../kata", "sb", {}), Error);
  EXPECT_THROW(Cgroup::create(layout, "kata//x", "sb", {}), Error);
  EXPECT_THROW(Cgroup::create(layout, "", "sb", {}), Error);
  EXPECT_FALSE(pathExists(root_ + "/../escape"));
}

TEST_F(FakeCgroupTree, NoHierarchyIsNotFound) {
  try {
    CgroupLayout::detect(root_);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kNotFound);
  }
}

}  // namespace
}  // namespace kata::security
