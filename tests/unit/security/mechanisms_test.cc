// The parent-side preparation of each launcher mechanism: what it refuses. (The child-side steps run
// for real in tests/functional/launcher_test.cc, as root, against a real QEMU.)
#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include "common/error.h"
#include "common/fd.h"
#include "security/caps.h"
#include "security/fds.h"
#include "security/identity.h"
#include "security/rlimits.h"
#include "security/userns.h"
#include "security/validate.h"

namespace kata::security {
namespace {

TEST(Identity, RootIsRefusedUnlessAllowed) {
  EXPECT_THROW(prepareIdentity({0, 0, {}, false}), Error);
  EXPECT_THROW(prepareIdentity({1000, 0, {}, false}), Error);
  EXPECT_THROW(prepareIdentity({1000, 1000, {0}, false}), Error);
  EXPECT_THROW(prepareIdentity({static_cast<uid_t>(-1), 1000, {}, false}), Error);
  EXPECT_NO_THROW(prepareIdentity({0, 0, {}, true}));
  auto plan = prepareIdentity({65534, 65534, {100, 200}, false});
  EXPECT_EQ(plan.uid, 65534u);
  EXPECT_EQ(plan.groupCount, 2u);
  EXPECT_EQ(plan.groups[1], 200u);
}

TEST(UserNamespace, IdMapsAreCheckedBeforeTheKernelSeesThem) {
  EXPECT_EQ(idMapText({identityMapping()}), "0 0 4294967295\n");
  EXPECT_EQ(idMapText({{0, 1000, 1}, {1, 100000, 65536}}), "0 1000 1\n1 100000 65536\n");
  EXPECT_NO_THROW(validateIdMap({identityMapping()}, "m"));
  EXPECT_NO_THROW(validateIdMap({{0, 1000, 1}, {1, 100000, 65536}}, "m"));
  auto refused = [](const std::vector<IdMapping>& m) {
    try {
      validateIdMap(m, "uid map");
      return std::string("accepted");
    } catch (const Error& e) {
      return std::string(e.what());
    }
  };
  EXPECT_EQ(refused({}), "uid map: no id range");
  EXPECT_EQ(refused({{0, 1000, 0}}), "uid map: range 0 is empty");
  EXPECT_EQ(refused({{0, 0, 4294967295u}, {0, 5, 1}}), "uid map: ranges 0 and 1 overlap");
  EXPECT_EQ(refused({{0, 1000, 10}, {20, 1005, 1}}), "uid map: ranges 0 and 1 overlap") << "outside";
  EXPECT_EQ(refused({{1, 0, 4294967295u}}), "uid map: range 0 runs past id 4294967294");
  EXPECT_EQ(refused({{0, 1, 4294967295u}}), "uid map: range 0 maps past host id 4294967294");
  EXPECT_EQ(refused({{0, 0, 1}, {1, 1, 1}, {2, 2, 1}, {3, 3, 1}, {4, 4, 1}, {5, 5, 1}}), "uid map: 6 ranges, at most 5");
}

TEST(UserNamespace, PreparationRefusesUnknownCapabilities) {
  UserNamespaceSpec u{{identityMapping()}, {identityMapping()}, {0, 21}};
  auto setup = prepareUserNamespace(u, 40);
  EXPECT_TRUE(setup.plan.enabled);
  EXPECT_EQ(setup.plan.keepMask, (1ull << 0) | (1ull << 21));
  EXPECT_EQ(setup.uidMap, "0 0 4294967295\n");
  EXPECT_GE(setup.plan.readyWrite, 3);
  u.keep = {41};
  EXPECT_THROW(prepareUserNamespace(u, 40), Error);
  u.keep = {};
  u.gidMap = {};
  EXPECT_THROW(prepareUserNamespace(u, 40), Error);
}

TEST(Fds, PlanSortsKeepsAndRefusesCollisions) {
  UniqueFd a(::open("/dev/null", O_RDONLY));  // passed fds need not be CLOEXEC in the parent
  UniqueFd b(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  UniqueFd c(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  auto plan = prepareFds(b.get(), c.get(), {a.get()}, {b.get(), c.get()});
  ASSERT_EQ(plan.count, 3u);
  EXPECT_LT(plan.keep[0], plan.keep[1]);
  for (size_t i = 0; i < plan.count; ++i) EXPECT_EQ(plan.pass[i], plan.keep[i] == a.get());
  EXPECT_THROW(prepareFds(b.get(), c.get(), {2}, {}), Error) << "stdio number";
  EXPECT_THROW(prepareFds(b.get(), c.get(), {999}, {}), Error) << "not open";
  EXPECT_THROW(prepareFds(b.get(), c.get(), {b.get()}, {b.get()}), Error) << "passed and plumbing";
  EXPECT_THROW(prepareFds(b.get(), c.get(), {}, {a.get()}), Error) << "plumbing without CLOEXEC";
}

TEST(Rlimits, RefuseNonsense) {
  EXPECT_THROW(prepareRlimits({{RLIMIT_NOFILE, {10, 5}}}), Error);
  EXPECT_THROW(prepareRlimits({{999, {1, 1}}}), Error);
  auto plan = prepareRlimits(defaultQemuRlimits());
  EXPECT_EQ(plan.count, 2u);
}

TEST(Caps, KernelCapCountAndSelfText) {
  auto plan = prepareCapDrop();
  EXPECT_GE(plan.lastCap, 37);  // CAP_AUDIT_READ exists since Linux 3.16
  EXPECT_FALSE(capabilityText(::getpid()).empty());
}

TEST(Validate, SandboxIdsAndPaths) {
  EXPECT_NO_THROW(validateSandboxId("abc-123_x.y"));
  for (const std::string& bad : std::vector<std::string>{"", ".", "..", "-x", "a/b", "a b", std::string(65, 'a'), std::string("a\0b", 3)})
    EXPECT_THROW(validateSandboxId(bad), Error) << bad;
  EXPECT_NO_THROW(validateAbsolutePath("/usr/bin/qemu", "p"));
  for (const char* bad : {"usr/bin", "/a/../b", "/a/./b", "/a//b", "/a/\n"}) EXPECT_THROW(validateAbsolutePath(bad, "p"), Error) << bad;
  EXPECT_THROW(validateExecutable("/etc/passwd"), Error);
  EXPECT_THROW(validateExecutable("/usr/bin"), Error);
  EXPECT_NO_THROW(validateExecutable("/bin/sh"));
}

}  // namespace
}  // namespace kata::security
