// The probe against this machine's real /dev/kvm. On the build machine (PVM host) it must conclude
// that KVM cannot run a standard guest and `auto` must pick TCG; on a host with working KVM the
// same test checks the opposite. Either way, the verdict and `resolveAccel` must agree.
#include <gtest/gtest.h>
#include <unistd.h>

#include "common/error.h"
#include "kata-vmmd/accel_probe.h"

namespace kata::vmmd {
namespace {

TEST(KvmProbeReal, VerdictAndResolutionAgree) {
  if (::access("/dev/kvm", F_OK) != 0) GTEST_SKIP() << "no /dev/kvm on this host";
  auto r = probeKvm("/dev/kvm");
  std::cout << "probe of /dev/kvm: usable=" << r.usable << " reason: " << r.reason << "\n";
  EXPECT_FALSE(r.reason.empty());
  Logger log(LogOptions{"", LogFormat::kText, LogLevel::kWarn, "vmmd"});
  if (r.usable) {
    EXPECT_EQ(resolveAccel(Accel::kAuto, log), Accel::kKvm);
  } else {
    EXPECT_EQ(resolveAccel(Accel::kAuto, log), Accel::kTcg);
    EXPECT_THROW(resolveAccel(Accel::kKvm, log), Error);
  }
}

}  // namespace
}  // namespace kata::vmmd
