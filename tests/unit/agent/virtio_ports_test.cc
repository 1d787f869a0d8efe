#include "agent/virtio_ports.h"

#include <gtest/gtest.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>

#include "common/fs.h"

namespace kata::agent {
namespace {

class VirtioPortsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/kata-sysfs-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    root_ = tmpl;
  }
  void TearDown() override { removeTree(AT_FDCWD, root_); }
  void addPort(const std::string& dev, const std::string* name) {
    std::string dir = root_ + "/class/virtio-ports/" + dev;
    makeDirs(dir, 0755);
    if (name) std::ofstream(dir + "/name") << *name << "\n";
  }
  std::string root_;
};

TEST_F(VirtioPortsTest, FindsThePortByName) {
  std::string console = "org.qemu.console", agent = "agent.channel.0";
  addPort("vport0p0", &console);
  addPort("vport0p1", nullptr);  // unnamed port
  addPort("vport1p3", &agent);
  EXPECT_EQ(findVirtioPort(root_, "agent.channel.0"), "vport1p3");
  EXPECT_FALSE(findVirtioPort(root_, "agent.channel"));
}

TEST_F(VirtioPortsTest, NoClassDirectoryMeansNotYet) {
  EXPECT_FALSE(findVirtioPort(root_, "agent.channel.0"));
}

TEST_F(VirtioPortsTest, IgnoresEntriesThatAreNotVports) {
  std::string agent = "agent.channel.0";
  addPort("evil", &agent);
  EXPECT_FALSE(findVirtioPort(root_, "agent.channel.0"));
}

}  // namespace
}  // namespace kata::agent
