// Output formats against outputs captured from runc 1.1.5 (tests/unit/state/golden/README.md).
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "common/error.h"
#include "common/fs.h"
#include "common/time.h"
#include "runtime/state/container_state.h"
#include "runtime/state/go_format.h"
#include "runtime/state/state_format.h"

namespace kata::state {
namespace {

std::string golden(const std::string& name) {
  return readFile(std::string(KATA_SOURCE_DIR) + "/tests/unit/state/golden/" + name, 1 << 20);
}

// The field values of a runc JSON object (state, list entry or hook state) as a ContainerState;
// the tests then check that our formatters print them exactly as runc did.
ContainerState fromRunc(const nlohmann::json& j) {
  ContainerState s;
  s.ociVersion = j.at("ociVersion").get<std::string>();
  s.id = j.at("id").get<std::string>();
  s.pid = j.value("pid", 0);
  s.status = parseStatus(j.at("status").get<std::string>()).value();
  s.bundle = j.at("bundle").get<std::string>();
  if (j.contains("rootfs")) s.rootfs = j.at("rootfs").get<std::string>();
  if (j.contains("created")) s.created = parseRfc3339(j.at("created").get<std::string>());
  if (j.contains("owner")) s.owner = j.at("owner").get<std::string>();
  if (j.contains("annotations")) s.annotations = j.at("annotations").get<std::map<std::string, std::string>>();
  return s;
}

std::vector<ContainerState> listFromRunc(const std::string& jsonGolden) {
  std::vector<ContainerState> out;
  auto j = nlohmann::json::parse(golden(jsonGolden));
  if (j.is_null()) return out;
  for (const auto& e : j) out.push_back(fromRunc(e));
  return out;
}

class RuncStateGolden : public ::testing::TestWithParam<const char*> {};

TEST_P(RuncStateGolden, StateMatchesRuncByteForByte) {
  std::string expected = golden(GetParam());
  ContainerState s = fromRunc(nlohmann::json::parse(expected));
  EXPECT_EQ(runcStateJson(s), expected);
}

INSTANTIATE_TEST_SUITE_P(Captured, RuncStateGolden,
                         ::testing::Values("state-created.json", "state-running.json", "state-paused.json",
                                           "state-annotations.json", "state-escapes.json", "state-stopped.json"));

TEST(RuncState, StoppedPrintsPidZeroAndOwnerIsAlwaysEmpty) {
  ContainerState s = fromRunc(nlohmann::json::parse(golden("state-stopped.json")));
  s.pid = 4242;  // the shim's last pid stays in our state; runc prints 0 once stopped
  s.owner = "root";
  EXPECT_EQ(runcStateJson(s), golden("state-stopped.json"));
  s.status = ContainerStatus::kRunning;
  EXPECT_NE(runcStateJson(s).find("\"pid\": 4242,"), std::string::npos);
}

TEST(RuncList, EmptyTableAndJson) {
  EXPECT_EQ(listTable({}), golden("list-empty.txt"));
  EXPECT_EQ(listJson({}), golden("list-empty.json"));
  EXPECT_EQ(listJson({}), "null\n");
}

TEST(RuncList, SeveralContainersOfDifferentIdLengths) {
  auto states = listFromRunc("list-multi.json");
  ASSERT_EQ(states.size(), 4u);
  EXPECT_EQ(listTable(states), golden("list-multi.txt"));
  EXPECT_EQ(listJson(states), golden("list-multi.json"));
  EXPECT_EQ(listQuiet(states), golden("list-quiet.txt"));
}

TEST(RuncList, StoppedTabInBundleAndNonAsciiRunes) {
  auto states = listFromRunc("list-all.json");
  ASSERT_EQ(states.size(), 7u);
  EXPECT_EQ(listTable(states), golden("list-all.txt"));
  EXPECT_EQ(listJson(states), golden("list-all.json"));
}

class HookStateGolden : public ::testing::TestWithParam<const char*> {};

TEST_P(HookStateGolden, OciStateMatchesWhatRuncWritesToHooks) {
  std::string expected = golden(GetParam());
  ContainerState s = fromRunc(nlohmann::json::parse(expected));
  s.rootfs = "/not/printed";
  s.owner = "not printed";
  s.sandboxId = "not printed";
  EXPECT_EQ(ociStateJson(s), expected);
  nlohmann::json j = ociState(s);
  EXPECT_EQ(j, nlohmann::json::parse(expected));
}

INSTANTIATE_TEST_SUITE_P(Captured, HookStateGolden,
                         ::testing::Values("hook-stdin-creating.json", "hook-stdin-created.json",
                                           "hook-stdin-escapes.json"));

TEST(HookState, PidOmittedWhenZero) {
  ContainerState s;
  s.id = "c";
  s.bundle = "/b";
  s.status = ContainerStatus::kStopped;
  EXPECT_EQ(ociStateJson(s), R"({"ociVersion":"1.0.2-dev","id":"c","status":"stopped","bundle":"/b"})");
}

TEST(GoJson, EscapesLikeGo) {
  EXPECT_EQ(goJsonString("a\"b\\c"), R"("a\"b\\c")");
  EXPECT_EQ(goJsonString("\n\r\t\b\f\x01\x1f\x7f"), R"("\n\r\t\u0008\u000c\u0001\u001f)" "\x7f\"");
  EXPECT_EQ(goJsonString("<&>"), R"("\u003c\u0026\u003e")");
  EXPECT_EQ(goJsonString("\xe2\x80\xa8\xe2\x80\xa9"), R"("\u2028\u2029")");
  EXPECT_EQ(goJsonString("ok \xc3\xa9 \xf0\x9f\x98\x80"), "\"ok \xc3\xa9 \xf0\x9f\x98\x80\"");
  // invalid UTF-8: every bad byte is one U+FFFD; overlong forms and surrogates are invalid too
  EXPECT_EQ(goJsonString("\xff\xc3"), R"("\ufffd\ufffd")");
  EXPECT_EQ(goJsonString("\xc0\xaf"), R"("\ufffd\ufffd")");
  EXPECT_EQ(goJsonString("\xed\xa0\x80"), R"("\ufffd\ufffd\ufffd")");
}

TEST(GoJson, IndentsLikeMarshalIndent) {
  nlohmann::ordered_json j = {{"b", 1}, {"a", nlohmann::ordered_json::object()}, {"c", {1, 2}}, {"d", nullptr}};
  EXPECT_EQ(goJsonMarshal(j, 2), "{\n  \"b\": 1,\n  \"a\": {},\n  \"c\": [\n    1,\n    2\n  ],\n  \"d\": null\n}");
  EXPECT_EQ(goJsonMarshal(j, 0), R"({"b":1,"a":{},"c":[1,2],"d":null})");
}

TEST(GoTabwriter, ColumnBlocksAndMinWidth) {
  // Go: tabwriter.NewWriter(w, 12, 1, 3, ' ', 0); lines with fewer cells end a column block.
  EXPECT_EQ(goTabwriter("a\tb\tc\nlonger-cell-text\tx\n", 4, 1), "a                b   c\nlonger-cell-text x\n");
  EXPECT_EQ(goTabwriter("a\tb\nno tabs\naa\tb\n", 1, 1), "a b\nno tabs\naa b\n");
  EXPECT_EQ(goTabwriter("x\ty", 12, 3), "x           y");
}

TEST(ContainerId, RuncRules) {
  for (const char* ok : {"a", "c1", "a-much-longer-container-id", "c4.with_dots+plus", ".hidden", "a..b", "+", "a,b", "A_Z"})
    EXPECT_NO_THROW(validateContainerId(ok)) << ok;
  for (const char* bad : {"a b", "a:b", ".", "..", "\xc3\xa9", "a@b", "a/b", "../x", "/abs", "a\nb"}) {
    try {
      validateContainerId(bad);
      ADD_FAILURE() << "accepted " << bad;
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::kInvalidArgument);
      EXPECT_STREQ(e.what(), "invalid container ID format") << bad;
    }
  }
  try {
    validateContainerId("");
    ADD_FAILURE();
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "container id cannot be empty");
  }
  EXPECT_NO_THROW(validateContainerId(std::string(kMaxContainerIdLength, 'x')));
  EXPECT_THROW(validateContainerId(std::string(kMaxContainerIdLength + 1, 'x')), Error);
}

}  // namespace
}  // namespace kata::state
