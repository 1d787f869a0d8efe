// defaultSpec() against what runc 1.1 `runc spec [--rootless]` wrote (golden files captured from
// runc itself: as root, and --rootless as uid/gid 65534).
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "common/fs.h"
#include "runtime/oci/spec.h"

namespace kata::oci {
namespace {

nlohmann::json golden(const std::string& name) {
  return nlohmann::json::parse(readFile(std::string(KATA_SOURCE_DIR) + "/tests/unit/oci/golden/" + name, 1 << 20));
}

TEST(DefaultSpecTest, MatchesRuncSpec) {
  EXPECT_EQ(defaultSpec(false, 0, 0), golden("runc-spec.json"));
  EXPECT_EQ(defaultSpec(false), golden("runc-spec.json"));  // no host ids in the rootful variant
}

TEST(DefaultSpecTest, MatchesRuncSpecRootless) {
  EXPECT_EQ(defaultSpec(true, 0, 0), golden("runc-spec-rootless.json"));
  EXPECT_EQ(defaultSpec(true, 65534, 65534), golden("runc-spec-rootless-uid65534.json"));
  EXPECT_NE(defaultSpec(true, 1000, 1000), golden("runc-spec-rootless-uid65534.json"));
}

TEST(DefaultSpecTest, ParsesValidatesAndRoundTrips) {
  for (bool rootless : {false, true}) {
    nlohmann::json doc = defaultSpec(rootless, 1000, 1000);
    Spec spec = parseSpec(doc.dump());
    EXPECT_NO_THROW(validateSpec(spec));
    EXPECT_EQ(toJson(spec), doc);
    ASSERT_TRUE(spec.process);
    EXPECT_TRUE(spec.process->terminal);
    EXPECT_EQ(spec.process->args, std::vector<std::string>{"sh"});
    ASSERT_TRUE(spec.root);
    EXPECT_EQ(spec.root->path, "rootfs");
    EXPECT_TRUE(spec.root->readonly);
    EXPECT_EQ(spec.findNamespace("user") != nullptr, rootless);
    EXPECT_EQ(spec.findNamespace("network") != nullptr, !rootless);
  }
}

}  // namespace
}  // namespace kata::oci
