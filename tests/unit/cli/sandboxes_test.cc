// How kata-ctl maps containers onto sandboxes (sandboxes.h): the CRI annotations and the ids.
#include "kata-ctl/sandboxes.h"

#include <gtest/gtest.h>

#include "common/error.h"
#include "security/validate.h"

namespace kata::ctl {
namespace {

using Annotations = std::map<std::string, std::string>;

TEST(SandboxesTest, AContainerWithoutPodAnnotationsStartsItsOwnSandbox) {
  Membership m = sandboxMembership("web-1", {{"org.opencontainers.image.title", "web"}});
  EXPECT_EQ(m.sandboxId, "web-1");
  EXPECT_TRUE(m.ownSandbox);
  // A pod's sandbox container (type "sandbox") starts the pod's VM.
  m = sandboxMembership("pod-a", {{"io.kubernetes.cri.container-type", "sandbox"},
                                  {"io.kubernetes.cri.sandbox-id", "pod-a"}});
  EXPECT_EQ(m.sandboxId, "pod-a");
  EXPECT_TRUE(m.ownSandbox);
}

TEST(SandboxesTest, ContainerdAndCrioContainersJoinTheirPod) {
  Membership m = sandboxMembership("app", {{"io.kubernetes.cri.container-type", "container"},
                                           {"io.kubernetes.cri.sandbox-id", "pod-a"}});
  EXPECT_EQ(m.sandboxId, "pod-a");
  EXPECT_FALSE(m.ownSandbox);
  m = sandboxMembership("app", {{"io.kubernetes.cri-o.ContainerType", "container"},
                                {"io.kubernetes.cri-o.SandboxID", "pod-b"}});
  EXPECT_EQ(m.sandboxId, "pod-b");
  EXPECT_FALSE(m.ownSandbox);
  // The pod's id goes through the same rule as any sandbox id.
  const std::string longPod(64, 'f');
  m = sandboxMembership("app", {{"io.kubernetes.cri.container-type", "container"},
                                {"io.kubernetes.cri.sandbox-id", longPod + "0"}});
  EXPECT_EQ(m.sandboxId, sandboxIdFor(longPod + "0"));
  EXPECT_EQ(m.sandboxId.rfind("sb-", 0), 0u);
}

TEST(SandboxesTest, BadPodAnnotationsAreRefused) {
  try {
    sandboxMembership("app", {{"io.kubernetes.cri.container-type", "container"}});
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kInvalidArgument);
    EXPECT_STREQ(e.what(), "annotation io.kubernetes.cri.container-type says \"container\" but "
                           "io.kubernetes.cri.sandbox-id names no sandbox");
  }
  try {
    sandboxMembership("app", {{"io.kubernetes.cri-o.ContainerType", "container"},
                              {"io.kubernetes.cri-o.SandboxID", "app"}});
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kInvalidArgument);
    EXPECT_STREQ(e.what(), "annotation io.kubernetes.cri-o.SandboxID names the container itself");
  }
}

TEST(SandboxesTest, IdsTheVmmdRuleRefusesBecomeAStableDigest) {
  EXPECT_EQ(sandboxIdFor("abc.DEF_1-2"), "abc.DEF_1-2");
  const std::string max(64, 'a');
  EXPECT_EQ(sandboxIdFor(max), max);
  for (const std::string& id : {std::string(65, 'a'), std::string("has:colon"), std::string("-leading")}) {
    std::string sb = sandboxIdFor(id);
    ASSERT_EQ(sb.size(), 3u + 32u) << id;
    EXPECT_EQ(sb.rfind("sb-", 0), 0u);
    EXPECT_EQ(sb.find_first_not_of("0123456789abcdef", 3), std::string::npos) << sb;
    EXPECT_EQ(sandboxIdFor(id), sb) << "not stable";
    EXPECT_NO_THROW(security::validateSandboxId(sb));
  }
  EXPECT_NE(sandboxIdFor(std::string(65, 'a')), sandboxIdFor(std::string(66, 'a')));
}

}  // namespace
}  // namespace kata::ctl
