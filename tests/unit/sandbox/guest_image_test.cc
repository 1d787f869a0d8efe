// GuestImage: the manifest checks that refuse an image before any VM is launched, on image
// directories made in a temporary directory.
#include "runtime/sandbox/guest_image.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "common/error.h"
#include "common/sha256.h"
#include "tests/support/run_support.h"
#include "tests/support/test_agent.h"

namespace kata::sandbox {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

class GuestImageTest : public ::testing::Test {
 protected:
  std::string dir() const { return tmp_.path(); }
  // The message of the error load() throws for an image whose manifest `edit` changed.
  Error loadError(const std::function<void(json&)>& edit) {
    test::writeGuestImage(dir(), "b1d", edit);
    try {
      GuestImage::load(dir());
    } catch (const Error& e) {
      return e;
    }
    ADD_FAILURE() << "the image was accepted";
    return Error(ErrorKind::kInternal, "");
  }
  static std::string msg(const Error& e) { return e.what(); }

  test::TempDir tmp_;
};

TEST_F(GuestImageTest, LoadsAConsistentImage) {
  test::writeGuestImage(dir(), "feedbeef");
  GuestImage img = GuestImage::load(dir());
  EXPECT_EQ(img.dir, dir());
  EXPECT_EQ(img.kernel, dir() + "/vmlinux");
  EXPECT_EQ(img.initramfs, dir() + "/initramfs.cpio");
  EXPECT_EQ(img.cmdline, "console=ttyS0 quiet");
  EXPECT_EQ(img.kernelRelease, "6.1.0-test-amd64");
  EXPECT_EQ(img.agentBuildId, "feedbeef");
  EXPECT_EQ(img.kernelSize, fs::file_size(dir() + "/vmlinux"));
  EXPECT_EQ(img.initramfsSize, fs::file_size(dir() + "/initramfs.cpio"));
  EXPECT_EQ(img.kernelSha256, sha256File(dir() + "/vmlinux"));
  EXPECT_EQ(img.modules, (std::vector<std::string>{"virtio_console", "9pnet", "9p", "9pnet_virtio"}));
  img.verifyHashes();  // matches
}

TEST_F(GuestImageTest, NoManifestIsNotFound) {
  try {
    GuestImage::load(dir());
    FAIL() << "an empty directory was accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kNotFound);
    EXPECT_NE(msg(e).find("no guest image in " + dir() + " (manifest.json missing)"), std::string::npos) << e.what();
  }
}

TEST_F(GuestImageTest, RefusesAnotherManifestFormat) {
  Error e = loadError([](json& m) { m["format"] = 2; });
  EXPECT_EQ(e.kind(), ErrorKind::kInvalidArgument);
  EXPECT_NE(msg(e).find("guest image " + dir() + ": manifest format 2, this runtime reads format 1"), std::string::npos)
      << e.what();
  EXPECT_NE(msg(e).find("rebuild it with guest/build-image.sh"), std::string::npos);
}

TEST_F(GuestImageTest, RefusesABootFileWhoseSizeIsNotTheManifests) {
  Error e = loadError([](json& m) { m["files"]["vmlinux"]["size"] = 99999; });
  EXPECT_EQ(e.kind(), ErrorKind::kInvalidArgument);
  EXPECT_NE(msg(e).find(dir() + "/vmlinux has 13 bytes, the manifest says 99999"), std::string::npos) << e.what();
}

TEST_F(GuestImageTest, RefusesAMissingBootFile) {
  test::writeGuestImage(dir(), "b1d");
  fs::remove(dir() + "/initramfs.cpio");
  try {
    GuestImage::load(dir());
    FAIL() << "accepted without its initramfs";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kInvalidArgument);
    EXPECT_NE(msg(e).find("cannot stat " + dir() + "/initramfs.cpio"), std::string::npos) << e.what();
  }
}

TEST_F(GuestImageTest, RefusesAnImageWithoutARequiredModule) {
  Error e = loadError([](json& m) { m["modules"] = {"virtio_console", "9pnet"}; });
  EXPECT_EQ(e.kind(), ErrorKind::kInvalidArgument);
  EXPECT_NE(msg(e).find("it lacks the kernel module 9p,"), std::string::npos) << e.what();
}

TEST_F(GuestImageTest, BuiltInModulesCount) {
  test::writeGuestImage(dir(), "b1d", [](json& m) {
    m["modules"] = json::array();
    m["builtin_modules"] = {"virtio_console", "9p", "9pnet_virtio"};
  });
  EXPECT_NO_THROW(GuestImage::load(dir()));
}

TEST_F(GuestImageTest, RefusesAnAgentOnAnotherChannel) {
  Error e = loadError([](json& m) { m["boot"]["agent_channel"] = "org.qemu.guest_agent.0"; });
  EXPECT_EQ(e.kind(), ErrorKind::kInvalidArgument);
  EXPECT_NE(msg(e).find("its agent serves the port \"org.qemu.guest_agent.0\", but kata-vmmd gives the agent the port "
                        "\"agent.channel.0\""),
            std::string::npos)
      << e.what();
}

TEST_F(GuestImageTest, RefusesAManifestNamingAPathInsteadOfAFileName) {
  for (const char* name : {"../../etc/passwd", "/boot/vmlinuz", "..", ""}) {
    Error e = loadError([&](json& m) { m["boot"]["kernel"] = name; });
    EXPECT_EQ(e.kind(), ErrorKind::kInvalidArgument) << name;
    EXPECT_NE(msg(e).find(std::string("manifest names the file \"") + name + "\", which is not a plain file name"),
              std::string::npos)
        << e.what();
  }
}

TEST_F(GuestImageTest, AMalformedManifestIsRefusedNotCrashedOn) {
  Error e = loadError([](json& m) { m.erase("agent"); });
  EXPECT_EQ(e.kind(), ErrorKind::kInvalidArgument);
  EXPECT_NE(msg(e).find("manifest.json is malformed"), std::string::npos) << e.what();
  std::ofstream(dir() + "/manifest.json") << "{ not json";
  EXPECT_THROW(GuestImage::load(dir()), Error);
}

TEST_F(GuestImageTest, VerifyHashesFindsAChangedFileOfTheSameSize) {
  test::writeGuestImage(dir(), "b1d");
  GuestImage img = GuestImage::load(dir());
  std::string kernel = test::readWhole(dir() + "/vmlinux");
  kernel[0] ^= 1;
  std::ofstream(dir() + "/vmlinux", std::ios::trunc) << kernel;
  EXPECT_NO_THROW(GuestImage::load(dir()));  // sizes still match
  try {
    img.verifyHashes();
    FAIL() << "a changed kernel passed";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kInvalidArgument);
    EXPECT_NE(msg(e).find(dir() + "/vmlinux has SHA-256 " + sha256Hex(kernel) + ", the manifest says " + img.kernelSha256),
              std::string::npos)
        << e.what();
  }
}

TEST_F(GuestImageTest, Sha256FileHashesTheWholeFile) {
  // Larger than one read, to cover the loop.
  std::string data;
  for (int i = 0; i < 200000; ++i) data += static_cast<char>('a' + i % 26);
  std::ofstream(dir() + "/big") << data;
  EXPECT_EQ(sha256File(dir() + "/big"), sha256Hex(data));
  EXPECT_EQ(sha256File(dir() + "/big").size(), 64u);
  EXPECT_THROW(sha256File(dir() + "/absent"), Error);
}

TEST_F(GuestImageTest, DefaultDirectoryIsNextToTheBinaryWhenItHasAnImage) {
  std::string self = fs::read_symlink("/proc/self/exe").string();
  std::string beside = fs::path(self).parent_path().parent_path().string() + "/guest";
  std::string want = fs::exists(beside + "/manifest.json") ? beside : "/usr/share/kata-ctl/guest";
  EXPECT_EQ(defaultGuestImageDir(), want);
}

}  // namespace
}  // namespace kata::sandbox
