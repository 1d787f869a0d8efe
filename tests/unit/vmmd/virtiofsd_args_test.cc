// The virtiofsd command lines the QEMU driver launches for a virtio-fs share (kata-vmmd/virtiofsd.h),
// one per flavour, checked against tests/unit/vmmd/golden/virtiofsd-{qemu,rust}.args
// (KATA_UPDATE_GOLDEN=1 regenerates them); how a flavour is told from its --version output; and the
// user namespace it runs in.
#include <gtest/gtest.h>
#include <linux/capability.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "common/error.h"
#include "kata-vmmd/virtiofsd.h"

namespace kata::vmmd {
namespace {

std::string goldenPath(const char* flavour) {
  return std::string(KATA_SOURCE_DIR) + "/tests/unit/vmmd/golden/virtiofsd-" + flavour + ".args";
}

VirtiofsdSpec spec(VirtiofsdFlavour flavour) {
  VirtiofsdSpec s;
  s.binary = flavour == VirtiofsdFlavour::kQemu ? "/usr/lib/qemu/virtiofsd" : "/usr/libexec/virtiofsd";
  s.flavour = flavour;
  s.sandboxId = "sandbox-1";
  s.deviceId = "share";
  s.sharedDir = "/run/kata-vmmd/shares/sandbox-1";
  s.listenFd = 3;
  s.logPath = "/run/kata-vmmd/vms/sandbox-1/virtiofsd-share.log";
  return s;
}

void expectGolden(VirtiofsdFlavour flavour) {
  const char* name = virtiofsdFlavourName(flavour);
  std::string text;
  for (const auto& a : buildVirtiofsdArgs(spec(flavour))) text += a + "\n";
  if (const char* update = std::getenv("KATA_UPDATE_GOLDEN"); update && std::string(update) == "1") {
    std::ofstream(goldenPath(name)) << text;
    return;
  }
  std::ifstream in(goldenPath(name));
  ASSERT_TRUE(in) << goldenPath(name) << " is missing; regenerate with KATA_UPDATE_GOLDEN=1";
  std::stringstream want;
  want << in.rdbuf();
  EXPECT_EQ(text, want.str()) << "argv differs from " << goldenPath(name);
}

TEST(VirtiofsdGolden, QemuFlavourNamespaceSandboxOnThePassedSocket) { expectGolden(VirtiofsdFlavour::kQemu); }
TEST(VirtiofsdGolden, RustFlavourNamespaceSandboxOnThePassedSocket) { expectGolden(VirtiofsdFlavour::kRust); }

TEST(VirtiofsdArgs, RefusesRelativePathsAndStdioFds) {
  for (auto f : {VirtiofsdFlavour::kQemu, VirtiofsdFlavour::kRust}) {
    VirtiofsdSpec s = spec(f);
    s.binary = "virtiofsd";
    EXPECT_THROW(buildVirtiofsdArgs(s), Error);
    s = spec(f);
    s.sharedDir = "shares/x";
    EXPECT_THROW(buildVirtiofsdArgs(s), Error);
    s = spec(f);
    s.listenFd = 1;
    EXPECT_THROW(buildVirtiofsdArgs(s), Error);
  }
}

TEST(VirtiofsdArgs, QemuFlavourRefusesAPathItsOptionParserWouldSplit) {
  VirtiofsdSpec s = spec(VirtiofsdFlavour::kQemu);
  s.sharedDir = "/run/a,cache=none";
  try {
    buildVirtiofsdArgs(s);
    ADD_FAILURE() << "a comma in -o source= was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("contains ','"), std::string::npos) << e.what();
  }
  s.sharedDir = "/run/a\\b";
  EXPECT_THROW(buildVirtiofsdArgs(s), Error);
  // The Rust flavour takes the path as one option value.
  s = spec(VirtiofsdFlavour::kRust);
  s.sharedDir = "/run/a,b";
  EXPECT_NO_THROW(buildVirtiofsdArgs(s));
}

TEST(VirtiofsdArgs, RlimitsNeedNoPrivilegeToSet) {
  auto limits = virtiofsdRlimits();
  rlimit now{};
  ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &now), 0);
  ASSERT_TRUE(limits.count(RLIMIT_NOFILE));
  EXPECT_LE(limits[RLIMIT_NOFILE].rlim_max, now.rlim_max);  // never above our hard limit
  EXPECT_EQ(limits[RLIMIT_CORE].rlim_max, 0u);
}

// What Debian 12's qemu-system-common prints (QEMU 7.2's C virtiofsd), and what the Rust one prints.
TEST(VirtiofsdVersion, TellsTheFlavoursApart) {
  VirtiofsdVersion q = parseVirtiofsdVersion(
      "virtiofsd version 7.2.22 (Debian 1:7.2+dfsg-7+deb12u18+b3)\n"
      "Copyright (c) 2003-2022 Fabrice Bellard and the QEMU Project developers\n"
      "using FUSE kernel interface version 7.36\n",
      "/usr/lib/qemu/virtiofsd");
  EXPECT_EQ(q.flavour, VirtiofsdFlavour::kQemu);
  EXPECT_EQ(q.version, "7.2.22");
  VirtiofsdVersion r = parseVirtiofsdVersion("virtiofsd 1.10.1\n", "/usr/libexec/virtiofsd");
  EXPECT_EQ(r.flavour, VirtiofsdFlavour::kRust);
  EXPECT_EQ(r.version, "1.10.1");
  EXPECT_EQ(parseVirtiofsdVersion("virtiofsd v1.13.0\n", "/v").version, "1.13.0");
}

TEST(VirtiofsdVersion, RefusesAnythingElseQuotingIt) {
  for (const char* out : {"", "qemu-system-x86_64 version 7.2.22\n", "virtiofsd version \n", "virtiofsd fast\n",
                          "sleep (GNU coreutils) 9.1\n"}) {
    try {
      parseVirtiofsdVersion(out, "/usr/bin/x");
      ADD_FAILURE() << "accepted: " << out;
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::kFailedPrecondition);
      EXPECT_NE(std::string(e.what()).find("/usr/bin/x is neither"), std::string::npos) << e.what();
    }
  }
}

TEST(VirtiofsdUserNamespace, RootsSandboxesKeepHostIdsOthersMapOnlyTheOwner) {
  auto root = virtiofsdUserNamespace(0, 0);
  EXPECT_EQ(security::idMapText(root.uidMap), "0 0 4294967295\n");
  EXPECT_EQ(security::idMapText(root.gidMap), "0 0 4294967295\n");
  auto user = virtiofsdUserNamespace(1000, 1001);
  EXPECT_EQ(security::idMapText(user.uidMap), "0 1000 1\n");
  EXPECT_EQ(security::idMapText(user.gidMap), "0 1001 1\n");
  // A file server's capabilities, its sandbox's and the bounding set's; nothing else.
  security::CapabilitySet want = {CAP_CHOWN,  CAP_DAC_OVERRIDE, CAP_FOWNER,    CAP_FSETID,
                                  CAP_SETUID, CAP_SETGID,       CAP_SYS_ADMIN, CAP_SETPCAP};
  EXPECT_EQ(root.keep, want);
  EXPECT_EQ(user.keep, want);
  EXPECT_FALSE(root.keep.count(CAP_MKNOD));
  EXPECT_FALSE(root.keep.count(CAP_SETFCAP));
  EXPECT_FALSE(root.keep.count(CAP_DAC_READ_SEARCH));  // open_by_handle_at: the "shocker" escape
}

}  // namespace
}  // namespace kata::vmmd
