#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "agent/console_log.h"
#include "agent/guest_stats.h"
#include "agent/modules.h"
#include "agent/pid1.h"
#include "common/error.h"

namespace kata::agent {
namespace {

TEST(LoadOrderTest, KeepsOrderAndSkipsCommentsAndBlanks) {
  auto order = parseLoadOrder("# deps first\nvirtio_ring.ko\n\nvirtio.ko  \nvirtio_pci.ko\r\n");
  EXPECT_EQ(order, (std::vector<std::string>{"virtio_ring.ko", "virtio.ko", "virtio_pci.ko"}));
  EXPECT_TRUE(parseLoadOrder("").empty());
}

TEST(LoadOrderTest, RejectsPathsAndNonModules) {
  EXPECT_THROW(parseLoadOrder("../../etc/passwd.ko\n"), Error);
  EXPECT_THROW(parseLoadOrder("kernel/virtio.ko\n"), Error);
  EXPECT_THROW(parseLoadOrder("virtio.ko.xz\n"), Error);
  EXPECT_THROW(parseLoadOrder(".ko\n"), Error);
  try {
    parseLoadOrder("virtio\n");
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kInvalidArgument);
    EXPECT_NE(std::string(e.what()).find("virtio"), std::string::npos);
  }
}

TEST(GuestStatsTest, ParsesMeminfo) {
  auto m = parseMemInfo("MemTotal:         245760 kB\nMemFree:          200000 kB\nMemAvailable:     190000 kB\n");
  EXPECT_EQ(m.totalBytes, 245760ull * 1024);
  EXPECT_EQ(m.availableBytes, 190000ull * 1024);
}

TEST(GuestStatsTest, MalformedOrMissingFieldsAreZeroNotErrors) {
  auto m = parseMemInfo("MemTotal: lots kB\nMemAvailable: 12 MB\n");
  EXPECT_EQ(m.totalBytes, 0u);
  EXPECT_EQ(m.availableBytes, 0u);
  EXPECT_FALSE(parseStatusKb("VmRSS: 99999999999999999999999 kB\n", "VmRSS"));
  EXPECT_FALSE(parseStatusKb("VmRSS: 18446744073709551615 kB\n", "VmRSS"));  // overflows as bytes
  EXPECT_FALSE(parseStatusKb("VmRSSX: 1 kB\n", "VmRSS"));
  EXPECT_EQ(parseStatusKb("Name:\tx\nVmRSS:\t    1234 kB\n", "VmRSS"), 1234u * 1024);
}

TEST(GuestStatsTest, ReadsTheRealProc) {
  GuestStats s = readGuestStats("/proc");
  EXPECT_GT(s.mem.totalBytes, 0u);
  EXPECT_GT(s.agentRssBytes, 0u);
  EXPECT_GT(s.uptimeNs, 0u);
  EXPECT_GE(s.onlineCpus, 1u);
}

TEST(KernelCmdlineTest, FindsTheLastValueOfAKey) {
  std::string c = "console=ttyS0 quiet kata.agent_channel=a kata.agent_channelx=b kata.agent_channel=c\n";
  EXPECT_EQ(kernelCmdlineValue(c, "kata.agent_channel"), "c");
  EXPECT_EQ(kernelCmdlineValue(c, "console"), "ttyS0");
  EXPECT_FALSE(kernelCmdlineValue(c, "quiet"));  // a flag has no value
  EXPECT_FALSE(kernelCmdlineValue(c, "missing"));
  EXPECT_FALSE(kernelCmdlineValue("", "console"));
}

TEST(ConsoleLogTest, LinesAreJsonWithComponentAndFields) {
  std::string line = ConsoleLog::formatLine("info", "hello", {{"module", "virtio\xff"}});
  ASSERT_EQ(line.back(), '\n');
  auto j = nlohmann::json::parse(line);
  EXPECT_EQ(j["component"], "agent");
  EXPECT_EQ(j["level"], "info");
  EXPECT_EQ(j["msg"], "hello");
  EXPECT_TRUE(j.contains("time"));
  EXPECT_TRUE(j.contains("uptime"));
  // Invalid UTF-8 is replaced, not thrown on.
  EXPECT_EQ(j["module"].get<std::string>().substr(0, 6), "virtio");
}

}  // namespace
}  // namespace kata::agent
