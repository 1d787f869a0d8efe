#include "agent/container/mount_options.h"

#include <sys/mount.h>

#include <gtest/gtest.h>

#include "common/error.h"

namespace kata::agent {
namespace {

TEST(MountOptions, FlagsPropagationAndDataAsRunc) {
  MountOptions o = parseMountOptions({"nosuid", "nodev", "ro", "rw", "rbind", "rslave", "private", "mode=755",
                                      "size=1m", "strictatime", "noexec", "exec", "newinstance"});
  EXPECT_EQ(o.flags, MS_NOSUID | MS_NODEV | MS_BIND | MS_REC | MS_STRICTATIME);
  ASSERT_EQ(o.propagation.size(), 2u);
  EXPECT_EQ(o.propagation[0], MS_SLAVE | MS_REC);
  EXPECT_EQ(o.propagation[1], static_cast<unsigned long>(MS_PRIVATE));
  EXPECT_EQ(o.data, "mode=755,size=1m,newinstance");
}

TEST(MountOptions, EveryReadOnlyAndTimeOption) {
  EXPECT_EQ(parseMountOptions({"ro"}).flags, static_cast<unsigned long>(MS_RDONLY));
  EXPECT_EQ(parseMountOptions({"bind", "ro"}).flags, static_cast<unsigned long>(MS_BIND | MS_RDONLY));
  EXPECT_EQ(parseMountOptions({"relatime", "norelatime"}).flags, 0u);
  EXPECT_EQ(parseMountOptions({"noatime", "nodiratime", "sync", "dirsync", "mand", "remount"}).flags,
            static_cast<unsigned long>(MS_NOATIME | MS_NODIRATIME | MS_SYNCHRONOUS | MS_DIRSYNC | MS_MANDLOCK | MS_REMOUNT));
  EXPECT_EQ(parseMountOptions({"defaults"}).flags, 0u);
  EXPECT_TRUE(parseMountOptions({"tmpcopyup"}).data.empty());
  EXPECT_EQ(parseMountOptions({"shared", "runbindable", "unbindable", "rshared", "slave", "rprivate"}).propagation,
            (std::vector<unsigned long>{MS_SHARED, MS_UNBINDABLE | MS_REC, MS_UNBINDABLE, MS_SHARED | MS_REC, MS_SLAVE,
                                        MS_PRIVATE | MS_REC}));
}

TEST(MountOptions, RootfsPropagation) {
  EXPECT_EQ(parsePropagation("rslave"), static_cast<unsigned long>(MS_SLAVE | MS_REC));
  EXPECT_EQ(parsePropagation("shared"), static_cast<unsigned long>(MS_SHARED));
  EXPECT_THROW(parsePropagation("sideways"), Error);
}

}  // namespace
}  // namespace kata::agent
