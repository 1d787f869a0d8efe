// prepareGuestSpec: how a bundle's config.json is rewritten for the guest and which host paths are
// shared, against real files, sockets and fifos in a temporary bundle.
#include "runtime/sandbox/container_spec.h"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "common/error.h"
#include "tests/support/run_support.h"

namespace kata::sandbox {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

class ContainerSpecTest : public ::testing::Test {
 protected:
  void SetUp() override {
    fs::create_directories(rootfs());
    fs::create_directories(bundle() + "/data");
    std::ofstream(bundle() + "/app.conf") << "key=value\n";
  }
  std::string bundle() const { return tmp_.path(); }
  std::string rootfs() const { return bundle() + "/rootfs"; }

  json baseSpec() const {
    return json{{"ociVersion", "1.0.2"},
                {"process", {{"args", {"sh"}}, {"cwd", "/"}}},
                {"root", {{"path", "rootfs"}}},
                {"linux", json::object()}};
  }
  GuestContainerSpec prepare(const json& spec) {
    names_.clear();
    return prepareGuestSpec(spec, bundle(), "kataShared", [this] {
      names_.push_back("s" + std::to_string(names_.size() + 1));
      return names_.back();
    });
  }
  static Error errorOf(const std::function<void()>& f) {
    try {
      f();
    } catch (const Error& e) {
      return e;
    }
    ADD_FAILURE() << "no error";
    return Error(ErrorKind::kInternal, "");
  }
  static void expectSameFile(int fd, const std::string& path) {
    struct stat a {}, b {};
    ASSERT_EQ(::fstat(fd, &a), 0);
    ASSERT_EQ(::stat(path.c_str(), &b), 0) << path;
    EXPECT_EQ(a.st_dev, b.st_dev) << path;
    EXPECT_EQ(a.st_ino, b.st_ino) << path;
  }

  test::TempDir tmp_;
  std::vector<std::string> names_;
};

TEST_F(ContainerSpecTest, RelativeRootIsSharedFromTheBundleWritable) {
  auto g = prepare(baseSpec());
  ASSERT_EQ(g.shares.size(), 1u);
  EXPECT_EQ(g.shares[0].name, "s1");
  EXPECT_EQ(g.rootfsPath, "s1");
  EXPECT_EQ(g.shares[0].hostPath, rootfs());
  EXPECT_FALSE(g.shares[0].readOnly);
  expectSameFile(g.shares[0].fd.get(), rootfs());
  // The spec itself keeps root as it was: the agent is told the share's name instead.
  EXPECT_EQ(g.spec["root"]["path"], "rootfs");
  EXPECT_EQ(g.netnsPath, "");
}

TEST_F(ContainerSpecTest, AbsoluteReadOnlyRoot) {
  const std::string other = bundle() + "/elsewhere";
  fs::create_directories(other);
  json spec = baseSpec();
  spec["root"] = {{"path", other}, {"readonly", true}};
  auto g = prepare(spec);
  ASSERT_EQ(g.shares.size(), 1u);
  EXPECT_EQ(g.shares[0].hostPath, other);
  EXPECT_TRUE(g.shares[0].readOnly);
  expectSameFile(g.shares[0].fd.get(), other);
}

TEST_F(ContainerSpecTest, RootIsRequiredAndMustExist) {
  json spec = baseSpec();
  spec.erase("root");
  Error e = errorOf([&] { prepare(spec); });
  EXPECT_EQ(e.kind(), ErrorKind::kInvalidArgument);
  EXPECT_NE(std::string(e.what()).find("root must be specified"), std::string::npos) << e.what();

  spec["root"] = {{"path", "missing"}};
  e = errorOf([&] { prepare(spec); });
  EXPECT_EQ(e.sysErrno(), ENOENT);
  EXPECT_NE(std::string(e.what()).find(bundle() + "/missing"), std::string::npos) << e.what();
}

TEST_F(ContainerSpecTest, BindMountsOfDirectoriesAndFilesAreSharedWithRewrittenSources) {
  json spec = baseSpec();
  spec["mounts"] = json::array({
      {{"destination", "/proc"}, {"type", "proc"}, {"source", "proc"}},
      {{"destination", "/data"}, {"type", "none"}, {"source", bundle() + "/data"}, {"options", {"rbind", "ro"}}},
      {{"destination", "/etc/app.conf"}, {"type", "bind"}, {"source", "app.conf"}, {"options", {"rw"}}},
      {{"destination", "/scratch"}, {"type", "tmpfs"}, {"source", "tmpfs"}},
  });
  auto g = prepare(spec);
  ASSERT_EQ(g.shares.size(), 3u);
  EXPECT_EQ(names_, (std::vector<std::string>{"s1", "s2", "s3"}));

  EXPECT_EQ(g.shares[1].name, "s2");
  EXPECT_EQ(g.shares[1].hostPath, bundle() + "/data");
  EXPECT_TRUE(g.shares[1].readOnly);
  expectSameFile(g.shares[1].fd.get(), bundle() + "/data");
  EXPECT_EQ(g.spec["mounts"][1]["source"], "/run/kata/shared/kataShared/s2");

  // A relative source is the bundle's; a single file is shared as itself.
  EXPECT_EQ(g.shares[2].hostPath, bundle() + "/app.conf");
  EXPECT_FALSE(g.shares[2].readOnly);
  expectSameFile(g.shares[2].fd.get(), bundle() + "/app.conf");
  struct stat st {};
  ASSERT_EQ(::fstat(g.shares[2].fd.get(), &st), 0);
  EXPECT_TRUE(S_ISREG(st.st_mode));
  EXPECT_EQ(g.spec["mounts"][2]["source"], "/run/kata/shared/kataShared/s3");

  // What is no bind mount is left as it is.
  EXPECT_EQ(g.spec["mounts"][0], spec["mounts"][0]);
  EXPECT_EQ(g.spec["mounts"][3], spec["mounts"][3]);
}

TEST_F(ContainerSpecTest, SourcesUnderDevProcAndSysAreTheGuestsOwn) {
  json spec = baseSpec();
  spec["mounts"] = json::array({
      {{"destination", "/dev/null"}, {"type", "bind"}, {"source", "/dev/null"}},
      {{"destination", "/sys/fs/cgroup"}, {"type", "bind"}, {"source", "/sys/fs/cgroup"}, {"options", {"rbind"}}},
      {{"destination", "/hostproc"}, {"type", "bind"}, {"source", "/proc"}},
  });
  auto g = prepare(spec);
  EXPECT_EQ(g.shares.size(), 1u);  // the root only
  EXPECT_EQ(g.spec["mounts"], spec["mounts"]);
}

TEST_F(ContainerSpecTest, SocketsAndFifosAreRefusedNamingTheMount) {
  const std::string sockPath = bundle() + "/s.sock";
  UniqueFd sock(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", sockPath.c_str());
  ASSERT_EQ(::bind(sock.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  json spec = baseSpec();
  spec["mounts"] = json::array({{{"destination", "/run/app.sock"}, {"type", "bind"}, {"source", sockPath}}});
  Error e = errorOf([&] { prepare(spec); });
  EXPECT_EQ(e.kind(), ErrorKind::kNotSupported);
  EXPECT_NE(std::string(e.what()).find("bind mount /run/app.sock: " + sockPath + " is a socket"), std::string::npos)
      << e.what();

  ASSERT_EQ(::mkfifo((bundle() + "/f").c_str(), 0600), 0);
  spec["mounts"] = json::array({{{"destination", "/f"}, {"type", "bind"}, {"source", "f"}}});
  e = errorOf([&] { prepare(spec); });
  EXPECT_EQ(e.kind(), ErrorKind::kNotSupported);
  EXPECT_NE(std::string(e.what()).find("bind mount /f: " + bundle() + "/f is a fifo"), std::string::npos) << e.what();
}

TEST_F(ContainerSpecTest, MissingOrEmptyBindSourcesAreErrors) {
  json spec = baseSpec();
  spec["mounts"] = json::array({{{"destination", "/x"}, {"type", "bind"}, {"source", "nope"}}});
  Error e = errorOf([&] { prepare(spec); });
  EXPECT_EQ(e.sysErrno(), ENOENT);
  EXPECT_NE(std::string(e.what()).find("bind mount /x"), std::string::npos) << e.what();

  spec["mounts"] = json::array({{{"destination", "/x"}, {"type", "bind"}, {"source", ""}}});
  e = errorOf([&] { prepare(spec); });
  EXPECT_EQ(e.kind(), ErrorKind::kInvalidArgument);
  EXPECT_NE(std::string(e.what()).find("mount /x: a bind mount needs a source"), std::string::npos) << e.what();
}

TEST_F(ContainerSpecTest, HostOnlyPartsAreRemovedAndTheNetworkNamespaceLosesItsPath) {
  json spec = baseSpec();
  spec["hooks"] = {{"prestart", {{{"path", "/bin/true"}}}}};
  spec["linux"] = {{"cgroupsPath", "/kubepods/pod1/c1"},
                   {"sysctl", {{"net.ipv4.ip_forward", "1"}}},
                   {"namespaces",
                    {{{"type", "pid"}},
                     {{"type", "network"}, {"path", "/var/run/netns/cni-1234"}},
                     {{"type", "mount"}},
                     {{"type", "ipc"}, {"path", "/proc/1/ns/ipc"}}}}};
  auto g = prepare(spec);
  EXPECT_FALSE(g.spec.contains("hooks"));
  EXPECT_FALSE(g.spec["linux"].contains("cgroupsPath"));
  EXPECT_EQ(g.spec["linux"]["sysctl"], spec["linux"]["sysctl"]);
  EXPECT_EQ(g.netnsPath, "/var/run/netns/cni-1234");
  EXPECT_EQ(g.spec["linux"]["namespaces"],
            json({{{"type", "pid"}}, {{"type", "network"}}, {{"type", "mount"}}, {{"type", "ipc"}, {"path", "/proc/1/ns/ipc"}}}));
  // The caller's spec is not touched.
  EXPECT_TRUE(spec.contains("hooks"));
}

TEST_F(ContainerSpecTest, MountPointsAreCreatedInTheRootOnTheHost) {
  // An absolute symlink in the image resolves inside the root, never on the host.
  fs::create_directories(rootfs() + "/target");
  fs::create_symlink("/target", rootfs() + "/link");
  std::ofstream(rootfs() + "/existing") << "keep me";
  json spec = baseSpec();
  spec["mounts"] = json::array({
      {{"destination", "/data"}, {"type", "bind"}, {"source", bundle() + "/data"}},
      {{"destination", "/etc/app.conf"}, {"type", "bind"}, {"source", "app.conf"}},
      {{"destination", "/scratch/tmp"}, {"type", "tmpfs"}, {"source", "tmpfs"}},
      {{"destination", "/dev"}, {"type", "tmpfs"}, {"source", "tmpfs"}},
      {{"destination", "/dev/pts"}, {"type", "devpts"}, {"source", "devpts"}},
      {{"destination", "/link/sub"}, {"type", "tmpfs"}, {"source", "tmpfs"}},
      {{"destination", "/existing"}, {"type", "bind"}, {"source", bundle() + "/data"}},
  });
  prepare(spec);
  EXPECT_TRUE(fs::is_directory(rootfs() + "/data"));
  EXPECT_TRUE(fs::is_regular_file(rootfs() + "/etc/app.conf"));
  EXPECT_EQ(fs::file_size(rootfs() + "/etc/app.conf"), 0u);
  EXPECT_TRUE(fs::is_directory(rootfs() + "/scratch/tmp"));
  EXPECT_TRUE(fs::is_directory(rootfs() + "/dev"));
  // Inside another mount of the spec: the agent makes it in that mount, in the guest.
  EXPECT_FALSE(fs::exists(rootfs() + "/dev/pts"));
  EXPECT_TRUE(fs::is_directory(rootfs() + "/target/sub"));
  EXPECT_FALSE(fs::exists("/target/sub"));
  // What exists is left as it is.
  EXPECT_TRUE(fs::is_regular_file(rootfs() + "/existing"));
  EXPECT_EQ(test::readWhole(rootfs() + "/existing"), "keep me");
}

}  // namespace
}  // namespace kata::sandbox
