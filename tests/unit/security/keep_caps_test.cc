// Capability names and the reading side of keepOnlyCapabilities (the reduction itself is irreversible
// and is tested in forked children: tests/functional/vmmd_hardening_test.cc).
#include "security/keep_caps.h"

#include <gtest/gtest.h>
#include <linux/capability.h>

#include "common/error.h"
#include "kata-vmmd/hardening.h"

namespace kata::security {
namespace {

TEST(KeepCaps, NamesRoundTrip) {
  EXPECT_EQ(capabilityFromName("CAP_SYS_ADMIN"), CAP_SYS_ADMIN);
  EXPECT_EQ(capabilityFromName("cap_net_admin"), CAP_NET_ADMIN);
  EXPECT_EQ(capabilityName(CAP_KILL), "CAP_KILL");
  EXPECT_EQ(capabilitySetText({CAP_CHOWN, CAP_KILL}), "CAP_CHOWN,CAP_KILL");
  EXPECT_EQ(capabilitySetText({}), "none");
  try {
    capabilityFromName("CAP_EVERYTHING");
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kInvalidArgument);
    EXPECT_NE(std::string(e.what()).find("CAP_EVERYTHING"), std::string::npos);
  }
}

TEST(KeepCaps, CurrentCapabilitiesAreConsistent) {
  ProcessCapabilities now = currentCapabilities();
  for (int c : now.effective) EXPECT_TRUE(now.permitted.count(c)) << c;
  for (int c : now.ambient) EXPECT_TRUE(now.permitted.count(c) && now.inheritable.count(c)) << c;
}

TEST(KeepCaps, DaemonSetIsDocumentedOncePerCapability) {
  const auto& reasons = vmmd::vmmdCapabilityReasons();
  CapabilitySet seen;
  for (const auto& r : reasons) {
    EXPECT_TRUE(seen.insert(r.cap).second) << capabilityName(r.cap) << " listed twice";
    EXPECT_GT(std::string(r.reason).size(), 20u) << capabilityName(r.cap);
  }
  EXPECT_EQ(seen, vmmd::vmmdCapabilities());
  for (int c : vmmd::vmmdRequiredCapabilities()) EXPECT_TRUE(seen.count(c));
  EXPECT_FALSE(seen.count(CAP_SYS_PTRACE));
  EXPECT_FALSE(seen.count(CAP_SYS_MODULE));
  EXPECT_FALSE(seen.count(CAP_SYS_RAWIO));
  // What a launch's child steps need is the launcher process's, not the daemon's.
  for (int c : {CAP_SETUID, CAP_SETGID, CAP_SETPCAP, CAP_SYS_RESOURCE}) EXPECT_FALSE(seen.count(c)) << capabilityName(c);
}

TEST(KeepCaps, LauncherSetIsDocumentedOncePerCapability) {
  CapabilitySet seen;
  for (const auto& r : vmmd::launcherCapabilityReasons()) {
    EXPECT_TRUE(seen.insert(r.cap).second) << capabilityName(r.cap) << " listed twice";
    EXPECT_GT(std::string(r.reason).size(), 20u) << capabilityName(r.cap);
  }
  EXPECT_EQ(seen, vmmd::launcherCapabilities());
  EXPECT_EQ(vmmd::launcherRequiredCapabilities(),
            (CapabilitySet{CAP_SETUID, CAP_SETGID, CAP_SETPCAP, CAP_SYS_ADMIN, CAP_SETFCAP}));
  for (int c : {CAP_KILL, CAP_DAC_OVERRIDE, CAP_CHOWN, CAP_NET_ADMIN}) EXPECT_FALSE(seen.count(c)) << capabilityName(c);
}

}  // namespace
}  // namespace kata::security
