#include <unistd.h>

#include <gtest/gtest.h>

#include <functional>

#include "common/error.h"
#include "kata-vmmd/policy.h"

namespace kata::vmmd {
namespace {

const char* kExample = R"(
[socket]
mode = 0o660
group = 0

[access]
uids = [1000, 1001]
gids = [2000]

[limits]
max_sandboxes = 2
max_memory_mib = 4096
max_vcpus = 8

[limits.uid.1001]
max_sandboxes = 10

[devices]
vfio_groups = [12]
sriov_pfs = ["0000:3b:00.0"]
vhost_user_dirs = ["/run/vhost-user"]
emulated = ["virtio-rng-pci"]

[vm]
qemu_binary = "/usr/bin/qemu-system-x86_64"
accel = "tcg"
qemu_uid = 900
qemu_gid = 900
)";

ErrorKind kindOf(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.kind();
  }
  return ErrorKind::kInternal;
}

TEST(VmmdPolicy, ParsesEveryKey) {
  Policy p = parsePolicy(kExample, "test");
  EXPECT_EQ(p.socketMode, 0660u);
  EXPECT_EQ(p.socketGid, 0u);
  EXPECT_EQ(p.allowedUids, (std::set<uid_t>{1000, 1001}));
  EXPECT_EQ(p.allowedGids, (std::set<gid_t>{2000}));
  EXPECT_EQ(p.defaultLimits.maxSandboxes, 2u);
  EXPECT_EQ(limitsFor(p, 1001).maxSandboxes, 10u);
  EXPECT_EQ(limitsFor(p, 1001).maxMemoryMiB, 4096u);  // inherited from [limits]
  EXPECT_EQ(limitsFor(p, 1000).maxSandboxes, 2u);
  EXPECT_EQ(p.vfioGroups, (std::set<unsigned>{12}));
  EXPECT_EQ(p.accel, "tcg");
  EXPECT_EQ(p.qemuUid, 900u);
}

TEST(VmmdPolicy, RefusesTyposTypesAndUnsafeValues) {
  auto bad = [](const std::string& text) {
    try {
      parsePolicy(text, "t");
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::kInvalidArgument) << text;
      return std::string(e.what());
    }
    return std::string("accepted");
  };
  EXPECT_NE(bad("[acess]\nuids=[1]").find("acess: unknown key"), std::string::npos);
  EXPECT_NE(bad("[access]\nuids=[\"x\"]").find("must be an integer"), std::string::npos);
  EXPECT_NE(bad("[access]\nuids=[-1]").find("out of range"), std::string::npos);
  EXPECT_NE(bad("[socket]\nmode=0o666").find("others"), std::string::npos);
  EXPECT_NE(bad("[limits.uid.abc]\nmax_sandboxes=1").find("numeric uid"), std::string::npos);
  EXPECT_NE(bad("[devices]\nsriov_pfs=[\"3b:00.0\"]").find("invalid PCI address"), std::string::npos);
  EXPECT_NE(bad("[devices]\nvhost_user_dirs=[\"run/../x\"]").find("vhost_user_dirs"), std::string::npos);
  EXPECT_NE(bad("[vm]\naccel=\"xen\"").find("auto, kvm or tcg"), std::string::npos);
  EXPECT_NE(bad("[vm]\nqemu_uid=5").find("together"), std::string::npos);
  EXPECT_NE(bad("[socket]\ngroup=\"no-such-group-kata\"").find("does not exist"), std::string::npos);
  EXPECT_NE(bad("not toml [").find("not valid TOML"), std::string::npos);
}

TEST(VmmdPolicy, VirtiofsdIsAnAbsolutePathOrEmpty) {
  EXPECT_EQ(parsePolicy("", "t").virtiofsd, "");
  EXPECT_EQ(parsePolicy("[vm]\nvirtiofsd = \"\"\n", "t").virtiofsd, "");
  EXPECT_EQ(parsePolicy("[vm]\nvirtiofsd = \"/usr/libexec/virtiofsd\"\n", "t").virtiofsd, "/usr/libexec/virtiofsd");
  EXPECT_EQ(kindOf([] { parsePolicy("[vm]\nvirtiofsd = \"virtiofsd\"\n", "t"); }), ErrorKind::kInvalidArgument);
  EXPECT_EQ(kindOf([] { parsePolicy("[vm]\nvirtiofsd = 5\n", "t"); }), ErrorKind::kInvalidArgument);
}

TEST(VmmdAuthz, ConnectNeedsUidOrGidInPolicy) {
  Policy p = parsePolicy(kExample, "test");
  EXPECT_NO_THROW(authorizeConnect(p, {0, 0, 1, {}}));
  EXPECT_NO_THROW(authorizeConnect(p, {1000, 5, 1, {}}));
  EXPECT_NO_THROW(authorizeConnect(p, {4000, 2000, 1, {}}));
  EXPECT_EQ(kindOf([&] { authorizeConnect(p, {4000, 4000, 1, {}}); }), ErrorKind::kPermissionDenied);
}

TEST(VmmdAuthz, ConnectAcceptsAnAllowedSupplementaryGroup) {
  Policy p = parsePolicy(kExample, "test");  // gids = [2000]
  // Primary gid not allowed, a supplementary group is: admitted.
  EXPECT_NO_THROW(authorizeConnect(p, {4000, 4000, 1, {100, 2000, 3000}}));
  // Neither primary nor supplementary: refused, and the message names what the kernel reported.
  try {
    authorizeConnect(p, {4000, 4000, 1, {100, 3000}});
    ADD_FAILURE() << "admitted";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kPermissionDenied);
    EXPECT_NE(std::string(e.what()).find("uid 4000 (gid 4000, groups 100,3000) is not allowed"), std::string::npos)
        << e.what();
  }
  try {
    authorizeConnect(p, {4000, 4000, 1, {}});
    ADD_FAILURE() << "admitted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("no supplementary groups"), std::string::npos) << e.what();
  }
  // A policy without gids admits nobody by group.
  Policy none = parsePolicy("[access]\nuids = [1000]\n", "test");
  EXPECT_EQ(kindOf([&] { authorizeConnect(none, {4000, 2000, 1, {2000}}); }), ErrorKind::kPermissionDenied);
}

TEST(VmmdAuthz, LimitsCountSandboxesMemoryAndVcpus) {
  Policy p = parsePolicy(kExample, "test");
  CallerId u{1000, 1000, 1, {}};
  EXPECT_NO_THROW(authorizeCreate(p, u, {1, 1024, 2}, 2, 1024));
  EXPECT_EQ(kindOf([&] { authorizeCreate(p, u, {2, 0, 0}, 1, 64); }), ErrorKind::kPermissionDenied);
  EXPECT_EQ(kindOf([&] { authorizeCreate(p, u, {0, 4000, 0}, 1, 128); }), ErrorKind::kPermissionDenied);
  EXPECT_EQ(kindOf([&] { authorizeCreate(p, u, {0, 0, 7}, 2, 64); }), ErrorKind::kPermissionDenied);
  EXPECT_NO_THROW(authorizeCreate(p, {1001, 1, 1, {}}, {9, 0, 0}, 1, 64));  // per-uid override
  EXPECT_NO_THROW(authorizeCreate(p, {0, 0, 1, {}}, {100, 1 << 20, 100}, 64, 1 << 20));  // root
}

TEST(VmmdAuthz, OtherUidsSeeNotFound) {
  EXPECT_NO_THROW(authorizeAccess({1000, 1, 1, {}}, 1000, "a"));
  EXPECT_NO_THROW(authorizeAccess({0, 0, 1, {}}, 1000, "a"));
  try {
    authorizeAccess({1001, 1, 1, {}}, 1000, "a");
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kNotFound);
    EXPECT_STREQ(e.what(), "sandbox a does not exist");
  }
}

TEST(VmmdAuthz, DeviceAllowLists) {
  Policy p = parsePolicy(kExample, "test");
  EXPECT_NO_THROW(authorizeEmulatedDevice(p, "virtio-rng-pci"));
  EXPECT_EQ(kindOf([&] { authorizeEmulatedDevice(p, "e1000"); }), ErrorKind::kPermissionDenied);
  EXPECT_NO_THROW(authorizeVhostUserSocket(p, "/run/vhost-user/blk0.sock"));
  EXPECT_EQ(kindOf([&] { authorizeVhostUserSocket(p, "/run/vhost-user/sub/x.sock"); }), ErrorKind::kPermissionDenied);
  EXPECT_EQ(kindOf([&] { authorizeVhostUserSocket(p, "/run/vhost-user/../x.sock"); }), ErrorKind::kInvalidArgument);

  // A fake sysfs: group 12 allowed; group 13 not, but its device is a VF of the allowed PF.
  char tmpl[] = "/tmp/vmmd-sysfs-XXXXXX";
  ASSERT_NE(::mkdtemp(tmpl), nullptr);
  std::string sys = tmpl;
  auto dev = [&](const std::string& bdf, const std::string& group, const std::string& pf) {
    std::string d = sys + "/bus/pci/devices/" + bdf;
    ASSERT_EQ(std::system(("mkdir -p " + d + " " + sys + "/kernel/iommu_groups/" + group).c_str()), 0);
    ASSERT_EQ(::symlink(("../../../kernel/iommu_groups/" + group).c_str(), (d + "/iommu_group").c_str()), 0);
    if (!pf.empty()) {
      ASSERT_EQ(::symlink(("../" + pf).c_str(), (d + "/physfn").c_str()), 0);
    }
  };
  dev("0000:01:00.0", "12", "");
  dev("0000:3b:02.1", "13", "0000:3b:00.0");
  dev("0000:5e:00.0", "14", "");
  EXPECT_NO_THROW(authorizeVfio(p, sys, "0000:01:00.0"));
  EXPECT_NO_THROW(authorizeVfio(p, sys, "0000:3b:02.1"));
  EXPECT_EQ(kindOf([&] { authorizeVfio(p, sys, "0000:5e:00.0"); }), ErrorKind::kPermissionDenied);
  EXPECT_EQ(kindOf([&] { authorizeVfio(p, sys, "0000:99:00.0"); }), ErrorKind::kNotFound);
  EXPECT_EQ(kindOf([&] { authorizeVfio(p, sys, "../../../etc"); }), ErrorKind::kInvalidArgument);
  ASSERT_EQ(std::system(("rm -rf " + sys).c_str()), 0);
}

}  // namespace
}  // namespace kata::vmmd
