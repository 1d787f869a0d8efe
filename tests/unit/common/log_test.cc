#include "common/log.h"

#include <gtest/gtest.h>
#include <fcntl.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "common/error.h"
#include "common/fs.h"

namespace kata {
namespace {

TEST(LogFormat, TextLineLooksLikeLogrus) {
  auto line = Logger::formatLine(LogFormat::kText, LogLevel::kError, "container does not exist",
                                 {{"component", "kata-ctl"}, {"container", "my ctr"}},
                                 "2026-01-02T03:04:05Z");
  EXPECT_EQ(line,
            "time=\"2026-01-02T03:04:05Z\" level=error msg=\"container does not exist\" "
            "component=kata-ctl container=\"my ctr\"");
}

TEST(LogFormat, JsonLineHasLevelMsgTime) {
  auto line = Logger::formatLine(LogFormat::kJson, LogLevel::kWarn, "x\"y", {{"sandbox", "s1"}},
                                 "2026-01-02T03:04:05Z");
  EXPECT_EQ(line, R"({"level":"warning","msg":"x\"y","sandbox":"s1","time":"2026-01-02T03:04:05Z"})");
}

TEST(LogFormat, ParsesNames) {
  EXPECT_EQ(parseLogFormat("json"), LogFormat::kJson);
  EXPECT_EQ(parseLogFormat("text"), LogFormat::kText);
  EXPECT_THROW(parseLogFormat("xml"), Error);
}

TEST(Logger, WritesOneJsonObjectPerLineAndFiltersByLevel) {
  char dir[] = "/tmp/kata-log-test-XXXXXX";
  ASSERT_NE(mkdtemp(dir), nullptr);
  std::string path = std::string(dir) + "/log.json";
  {
    Logger log({path, LogFormat::kJson, LogLevel::kInfo, "kata-ctl"});
    log.debug("hidden");
    log.with("container", "c1").error("boom");
    log.info("second");
  }
  auto text = readFile(path, 1 << 20);
  auto nl = text.find('\n');
  ASSERT_NE(nl, std::string::npos);
  auto first = nlohmann::json::parse(text.substr(0, nl));
  EXPECT_EQ(first["level"], "error");
  EXPECT_EQ(first["msg"], "boom");
  EXPECT_EQ(first["container"], "c1");
  EXPECT_EQ(first["component"], "kata-ctl");
  auto second = nlohmann::json::parse(text.substr(nl + 1));
  EXPECT_EQ(second["msg"], "second");
  EXPECT_FALSE(second.contains("container"));
  EXPECT_EQ(text.find("hidden"), std::string::npos);
  removeTree(AT_FDCWD, dir);
}

TEST(Logger, UnopenableFileIsAClearError) {
  try {
    Logger log({"/nonexistent-dir/x/log", LogFormat::kText, LogLevel::kInfo, "kata-ctl"});
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("/nonexistent-dir/x/log"), std::string::npos);
  }
}

}  // namespace
}  // namespace kata
