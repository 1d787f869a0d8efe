// The virtiofsd command line the QEMU driver launches for a virtio-fs share (kata-vmmd/virtiofsd.h),
// checked against tests/unit/vmmd/golden/virtiofsd.args (KATA_UPDATE_GOLDEN=1 regenerates it).
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "common/error.h"
#include "kata-vmmd/virtiofsd.h"

namespace kata::vmmd {
namespace {

std::string goldenPath() { return std::string(KATA_SOURCE_DIR) + "/tests/unit/vmmd/golden/virtiofsd.args"; }

VirtiofsdSpec spec() {
  VirtiofsdSpec s;
  s.binary = "/usr/libexec/virtiofsd";
  s.sandboxId = "sandbox-1";
  s.deviceId = "share";
  s.sharedDir = "/run/kata-vmmd/shares/sandbox-1";
  s.listenFd = 3;
  s.identity = {1000, 1000, {}, false};
  s.logPath = "/run/kata-vmmd/vms/sandbox-1/virtiofsd-share.log";
  return s;
}

TEST(VirtiofsdGolden, UnprivilegedInTheJailWithThePassedListeningSocket) {
  std::string text;
  for (const auto& a : buildVirtiofsdArgs(spec())) text += a + "\n";
  if (const char* update = std::getenv("KATA_UPDATE_GOLDEN"); update && std::string(update) == "1") {
    std::ofstream(goldenPath()) << text;
    return;
  }
  std::ifstream in(goldenPath());
  ASSERT_TRUE(in) << goldenPath() << " is missing; regenerate with KATA_UPDATE_GOLDEN=1";
  std::stringstream want;
  want << in.rdbuf();
  EXPECT_EQ(text, want.str()) << "argv differs from " << goldenPath();
}

TEST(VirtiofsdArgs, RefusesRelativePathsAndStdioFds) {
  VirtiofsdSpec s = spec();
  s.binary = "virtiofsd";
  EXPECT_THROW(buildVirtiofsdArgs(s), Error);
  s = spec();
  s.sharedDir = "shares/x";
  EXPECT_THROW(buildVirtiofsdArgs(s), Error);
  s = spec();
  s.listenFd = 1;
  EXPECT_THROW(buildVirtiofsdArgs(s), Error);
}

TEST(VirtiofsdArgs, RlimitsNeedNoPrivilegeToSet) {
  auto limits = virtiofsdRlimits();
  rlimit now{};
  ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &now), 0);
  ASSERT_TRUE(limits.count(RLIMIT_NOFILE));
  EXPECT_LE(limits[RLIMIT_NOFILE].rlim_max, now.rlim_max);  // never above our hard limit
  EXPECT_EQ(limits[RLIMIT_CORE].rlim_max, 0u);
}

}  // namespace
}  // namespace kata::vmmd
