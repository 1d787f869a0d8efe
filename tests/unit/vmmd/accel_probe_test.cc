#include "kata-vmmd/accel_probe.h"

#include <gtest/gtest.h>

#include "common/error.h"

namespace kata::vmmd {
namespace {

Logger quietLogger() { return Logger(LogOptions{"/dev/null", LogFormat::kText, LogLevel::kWarn, "vmmd"}); }

TEST(KvmProbe, MissingDeviceIsUnusableAndSaysWhy) {
  auto r = probeKvm("/nonexistent/kvm");
  EXPECT_FALSE(r.usable);
  EXPECT_NE(r.reason.find("open failed: No such file or directory"), std::string::npos) << r.reason;
}

TEST(KvmProbe, DeviceThatIsNotKvmFailsTheApiCheck) {
  auto r = probeKvm("/dev/null");
  EXPECT_FALSE(r.usable);
  EXPECT_NE(r.reason.find("KVM_GET_API_VERSION"), std::string::npos) << r.reason;
}

TEST(KvmProbe, DeadlineKillsTheChild) {
  auto start = std::chrono::steady_clock::now();
  auto r = probeKvm("/dev/null", std::chrono::milliseconds(0));
  EXPECT_FALSE(r.usable);
  EXPECT_NE(r.reason.find("did not finish within 0 ms"), std::string::npos) << r.reason;
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(2));
}

TEST(ResolveAccel, TcgNeverProbesKvmFailsClearlyAutoFallsBack) {
  Logger log = quietLogger();
  EXPECT_EQ(resolveAccel(Accel::kTcg, log, "/nonexistent/kvm"), Accel::kTcg);
  EXPECT_EQ(resolveAccel(Accel::kAuto, log, "/nonexistent/kvm"), Accel::kTcg);
  try {
    resolveAccel(Accel::kKvm, log, "/nonexistent/kvm");
    FAIL() << "kvm accepted without a usable KVM";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kFailedPrecondition);
    EXPECT_NE(std::string(e.what()).find("use accel = \"auto\" or \"tcg\""), std::string::npos) << e.what();
  }
  EXPECT_EQ(parseAccel("auto"), Accel::kAuto);
  EXPECT_THROW(parseAccel("hvf"), Error);
}

}  // namespace
}  // namespace kata::vmmd
