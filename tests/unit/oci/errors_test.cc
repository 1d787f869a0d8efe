// Every rejection names the JSON path and the reason, as one kata::Error(kInvalidArgument).
#include <gtest/gtest.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <functional>

#include <nlohmann/json.hpp>

#include "common/error.h"
#include "common/fs.h"
#include "runtime/oci/spec.h"
#include "tests/unit/oci/oci_support.h"

namespace kata::oci {
namespace {

using nlohmann::json;
using testing::errorOf;
using testing::errorOfText;

struct Case {
  const char* name;
  std::function<void(json&)> mutate;
  const char* message;
};

json base() { return defaultSpec(false, 0, 0); }

void runCases(const std::vector<Case>& cases) {
  ASSERT_EQ(errorOf(base()), "");
  for (const Case& c : cases) {
    json doc = base();
    c.mutate(doc);
    EXPECT_EQ(errorOf(doc), c.message) << "case: " << c.name;
  }
}

TEST(OciErrorTest, TypeAndRangeErrors) {
  runCases({
      {"top level not an object", [](json& d) { d = json::array(); }, "config: must be a JSON object"},
      {"ociVersion missing", [](json& d) { d.erase("ociVersion"); }, "ociVersion: is required"},
      {"ociVersion number", [](json& d) { d["ociVersion"] = 1; }, "ociVersion: must be a string"},
      {"uid negative", [](json& d) { d["process"]["user"]["uid"] = -1; },
       "process.user.uid: must be a non-negative integer"},
      {"uid string", [](json& d) { d["process"]["user"]["uid"] = "0"; },
       "process.user.uid: must be a non-negative integer"},
      {"uid too big", [](json& d) { d["process"]["user"]["uid"] = 4294967296ULL; },
       "process.user.uid: must be a non-negative integer at most 4294967295"},
      {"uid fraction", [](json& d) { d["process"]["user"]["uid"] = 1.5; },
       "process.user.uid: must be a non-negative integer, not a fraction or exponent"},
      {"gid missing", [](json& d) { d["process"]["user"].erase("gid"); }, "process.user.gid: is required"},
      {"user missing", [](json& d) { d["process"].erase("user"); }, "process.user: is required"},
      {"additionalGids entry", [](json& d) { d["process"]["user"]["additionalGids"] = {1, -2}; },
       "process.user.additionalGids[1]: must be a non-negative integer"},
      {"args not array", [](json& d) { d["process"]["args"] = "sh"; }, "process.args: must be an array"},
      {"args entry", [](json& d) { d["process"]["args"] = {"sh", 1}; }, "process.args[1]: must be a string"},
      {"terminal string", [](json& d) { d["process"]["terminal"] = "true"; }, "process.terminal: must be a boolean"},
      {"cwd missing", [](json& d) { d["process"].erase("cwd"); }, "process.cwd: is required"},
      {"env object", [](json& d) { d["process"]["env"] = json::object(); }, "process.env: must be an array"},
      {"rlimit hard negative", [](json& d) { d["process"]["rlimits"][0]["hard"] = -1; },
       "process.rlimits[0].hard: must be a non-negative integer"},
      {"rlimit soft missing", [](json& d) { d["process"]["rlimits"][0].erase("soft"); },
       "process.rlimits[0].soft: is required"},
      {"capabilities not object", [](json& d) { d["process"]["capabilities"] = json::array(); },
       "process.capabilities: must be a JSON object"},
      {"oomScoreAdj too big", [](json& d) { d["process"]["oomScoreAdj"] = 3000000000LL; },
       "process.oomScoreAdj: must be an integer between -2147483648 and 2147483647"},
      {"consoleSize width", [](json& d) { d["process"]["consoleSize"] = {{"height", 1}, {"width", "x"}}; },
       "process.consoleSize.width: must be a non-negative integer"},
      {"root not object", [](json& d) { d["root"] = "rootfs"; }, "root: must be a JSON object"},
      {"root path missing", [](json& d) { d["root"].erase("path"); }, "root.path: is required"},
      {"root readonly", [](json& d) { d["root"]["readonly"] = 1; }, "root.readonly: must be a boolean"},
      {"mount destination missing", [](json& d) { d["mounts"][3].erase("destination"); },
       "mounts[3].destination: is required"},
      {"mount options entry", [](json& d) { d["mounts"][1]["options"][2] = false; },
       "mounts[1].options[2]: must be a string"},
      {"mounts object", [](json& d) { d["mounts"] = json::object(); }, "mounts: must be an array"},
      {"hook path missing", [](json& d) { d["hooks"] = {{"poststop", {{{"args", {"x"}}}}}}; },
       "hooks.poststop[0].path: is required"},
      {"hook timeout", [](json& d) { d["hooks"] = {{"prestart", {{{"path", "/h"}, {"timeout", "5"}}}}}; },
       "hooks.prestart[0].timeout: must be an integer"},
      {"annotations value", [](json& d) { d["annotations"] = {{"a", "b"}, {"c", 1}}; },
       "annotations.c: must be a string"},
      {"annotations key with control bytes", [](json& d) { d["annotations"] = {{"k\x1b]0;x\x07", 1}}; },
       "annotations.k\\x1b]0;x\\x07: must be a string"},
      {"annotations array", [](json& d) { d["annotations"] = json::array(); }, "annotations: must be an object"},
      {"namespace type missing", [](json& d) { d["linux"]["namespaces"][1] = json::object(); },
       "linux.namespaces[1].type: is required"},
      {"uidMappings size", [](json& d) {
         d["linux"]["uidMappings"] = {{{"containerID", 0}, {"hostID", 0}, {"size", -1}}};
       }, "linux.uidMappings[0].size: must be a non-negative integer"},
      {"memory limit too big", [](json& d) { d["linux"]["resources"]["memory"] = {{"limit", 9223372036854775808ULL}}; },
       "linux.resources.memory.limit: must be an integer between -9223372036854775808 and 9223372036854775807"},
      {"memory limit string", [](json& d) { d["linux"]["resources"]["memory"] = {{"limit", "1G"}}; },
       "linux.resources.memory.limit: must be an integer"},
      {"cpu shares negative", [](json& d) { d["linux"]["resources"]["cpu"] = {{"shares", -2}}; },
       "linux.resources.cpu.shares: must be a non-negative integer"},
      {"blkio weight u16", [](json& d) { d["linux"]["resources"]["blockIO"] = {{"weight", 70000}}; },
       "linux.resources.blockIO.weight: must be a non-negative integer at most 65535"},
      {"device cgroup allow missing", [](json& d) { d["linux"]["resources"]["devices"][0].erase("allow"); },
       "linux.resources.devices[0].allow: is required"},
      {"throttle rate missing", [](json& d) {
         d["linux"]["resources"]["blockIO"] = {{"throttleReadBpsDevice", {{{"major", 8}, {"minor", 0}}}}};
       }, "linux.resources.blockIO.throttleReadBpsDevice[0].rate: is required"},
      {"rdma value", [](json& d) { d["linux"]["resources"]["rdma"] = {{"mlx", {{"hcaHandles", -1}}}}; },
       "linux.resources.rdma.mlx.hcaHandles: must be a non-negative integer"},
      {"seccomp names missing", [](json& d) {
         d["linux"]["seccomp"] = {{"defaultAction", "SCMP_ACT_ALLOW"}, {"syscalls", {{{"action", "SCMP_ACT_LOG"}}}}};
       }, "linux.seccomp.syscalls[0].names: is required"},
      {"seccomp arg value", [](json& d) {
         d["linux"]["seccomp"] = {{"defaultAction", "SCMP_ACT_ALLOW"},
                                  {"syscalls", {{{"names", {"read"}}, {"action", "SCMP_ACT_LOG"},
                                                 {"args", {{{"index", 0}, {"value", -1}, {"op", "SCMP_CMP_EQ"}}}}}}}};
       }, "linux.seccomp.syscalls[0].args[0].value: must be a non-negative integer"},
      {"sysctl value", [](json& d) { d["linux"]["sysctl"] = {{"net.ipv4.ip_forward", 1}}; },
       "linux.sysctl.net.ipv4.ip_forward: must be a string"},
      {"timeOffsets secs", [](json& d) { d["linux"]["timeOffsets"] = {{"boottime", {{"secs", "1"}}}}; },
       "linux.timeOffsets.boottime.secs: must be an integer"},
      {"personality domain missing", [](json& d) { d["linux"]["personality"] = json::object(); },
       "linux.personality.domain: is required"},
      {"linux not object", [](json& d) { d["linux"] = 5; }, "linux: must be a JSON object"},
  });
}

TEST(OciErrorTest, SemanticErrors) {
  runCases({
      {"ociVersion empty", [](json& d) { d["ociVersion"] = ""; }, "ociVersion: is required"},
      {"ociVersion 2", [](json& d) { d["ociVersion"] = "2.0.0"; },
       "ociVersion: unsupported version \"2.0.0\" (this runtime implements 1.x)"},
      {"root missing", [](json& d) { d.erase("root"); }, "root: is required (root must be specified)"},
      {"root path empty", [](json& d) { d["root"]["path"] = ""; }, "root.path: is required (root must be specified)"},
      {"process missing", [](json& d) { d.erase("process"); }, "process: is required (Cwd property must not be empty)"},
      {"args empty", [](json& d) { d["process"]["args"] = json::array(); },
       "process.args: must not be empty (args must not be empty)"},
      {"args absent", [](json& d) { d["process"].erase("args"); },
       "process.args: must not be empty (args must not be empty)"},
      {"cwd relative", [](json& d) { d["process"]["cwd"] = "rel"; },
       "process.cwd: must be an absolute path, not \"rel\" (Cwd must be an absolute path)"},
      {"env without =", [](json& d) { d["process"]["env"].push_back("NOEQ"); },
       "process.env[2]: invalid environment variable \"NOEQ\": missing '='"},
      {"env empty name", [](json& d) { d["process"]["env"][0] = "=x"; },
       "process.env[0]: invalid environment variable \"=x\": name cannot be empty"},
      {"umask", [](json& d) { d["process"]["user"]["umask"] = 01000; }, "process.user.umask: must be at most 0777 (511)"},
      {"unknown capability", [](json& d) { d["process"]["capabilities"]["ambient"].push_back("CAP_FOO"); },
       "process.capabilities.ambient[3]: unknown capability \"CAP_FOO\""},
      {"lowercase capability", [](json& d) { d["process"]["capabilities"]["bounding"][0] = "audit_write"; },
       "process.capabilities.bounding[0]: unknown capability \"audit_write\""},
      {"rlimit type", [](json& d) { d["process"]["rlimits"][0]["type"] = "RLIMIT_FOO"; },
       "process.rlimits[0].type: wrong rlimit value: \"RLIMIT_FOO\""},
      {"rlimit duplicate", [](json& d) { d["process"]["rlimits"].push_back(d["process"]["rlimits"][0]); },
       "process.rlimits[1].type: duplicate rlimit RLIMIT_NOFILE"},
      {"rlimit soft > hard", [](json& d) { d["process"]["rlimits"][0]["soft"] = 2048; },
       "process.rlimits[0]: soft limit is larger than the hard limit"},
      {"oomScoreAdj range", [](json& d) { d["process"]["oomScoreAdj"] = 5000; },
       "process.oomScoreAdj: must be between -1000 and 1000"},
      {"ioPriority class", [](json& d) { d["process"]["ioPriority"] = {{"class", "RT"}}; },
       "process.ioPriority.class: unknown I/O priority class \"RT\""},
      {"ioPriority priority", [](json& d) { d["process"]["ioPriority"] = {{"class", "IOPRIO_CLASS_BE"}, {"priority", 8}}; },
       "process.ioPriority.priority: must be between 0 and 7"},
      {"scheduler policy", [](json& d) { d["process"]["scheduler"] = {{"policy", "SCHED_FOO"}}; },
       "process.scheduler.policy: unknown scheduler policy \"SCHED_FOO\""},
      {"scheduler nice", [](json& d) { d["process"]["scheduler"] = {{"policy", "SCHED_OTHER"}, {"nice", 20}}; },
       "process.scheduler.nice: must be between -20 and 19"},
      {"scheduler flag", [](json& d) { d["process"]["scheduler"] = {{"policy", "SCHED_OTHER"}, {"flags", {"X"}}}; },
       "process.scheduler.flags[0]: unknown scheduler flag \"X\""},
      {"mount destination relative", [](json& d) { d["mounts"][2]["destination"] = "dev/pts"; },
       "mounts[2].destination: must be an absolute path, not \"dev/pts\""},
      {"mount destination empty", [](json& d) { d["mounts"][0]["destination"] = ""; },
       "mounts[0].destination: must be an absolute path, not \"\""},
      {"idmapped mount half", [](json& d) {
         d["mounts"][0]["uidMappings"] = {{{"containerID", 0}, {"hostID", 1000}, {"size", 1}}};
       }, "mounts[0]: uidMappings and gidMappings must be given together (idmapped mount)"},
      {"hook path relative", [](json& d) { d["hooks"] = {{"createRuntime", {{{"path", "hook"}}}}}; },
       "hooks.createRuntime[0].path: must be an absolute path, not \"hook\""},
      {"hook timeout zero", [](json& d) { d["hooks"] = {{"poststart", {{{"path", "/h"}, {"timeout", 0}}}}}; },
       "hooks.poststart[0].timeout: must be a positive number of seconds"},
      {"unknown namespace", [](json& d) { d["linux"]["namespaces"][1]["type"] = "foo"; },
       "linux.namespaces[1].type: unknown namespace type \"foo\""},
      {"duplicate namespace", [](json& d) { d["linux"]["namespaces"].push_back({{"type", "pid"}}); },
       "linux.namespaces[5].type: duplicated namespace \"pid\""},
      {"namespace path relative", [](json& d) { d["linux"]["namespaces"][1]["path"] = "netns"; },
       "linux.namespaces[1].path: must be an absolute path, not \"netns\""},
      {"mappings without userns", [](json& d) {
         d["linux"]["uidMappings"] = {{{"containerID", 0}, {"hostID", 1000}, {"size", 1}}};
       }, "linux.uidMappings: user namespace mappings specified, but no user namespace in linux.namespaces"},
      {"userns without mappings", [](json& d) { d["linux"]["namespaces"].push_back({{"type", "user"}}); },
       "linux.uidMappings: a new user namespace needs both uidMappings and gidMappings"},
      {"mapping size zero", [](json& d) {
         d["linux"]["namespaces"].push_back({{"type", "user"}});
         d["linux"]["uidMappings"] = {{{"containerID", 0}, {"hostID", 1000}, {"size", 0}}};
         d["linux"]["gidMappings"] = {{{"containerID", 0}, {"hostID", 1000}, {"size", 1}}};
       }, "linux.uidMappings[0].size: must be at least 1"},
      {"mapping overflow", [](json& d) {
         d["linux"]["namespaces"].push_back({{"type", "user"}});
         d["linux"]["uidMappings"] = {{{"containerID", 0}, {"hostID", 1000}, {"size", 1}}};
         d["linux"]["gidMappings"] = {{{"containerID", 0}, {"hostID", 4294967295U}, {"size", 2}}};
       }, "linux.gidMappings[0]: range extends beyond 4294967295"},
      {"device type", [](json& d) { d["linux"]["devices"] = {{{"type", "x"}, {"path", "/dev/x"}}}; },
       "linux.devices[0].type: invalid device type \"x\""},
      {"device path relative", [](json& d) {
         d["linux"]["devices"] = {{{"type", "c"}, {"path", "dev/x"}, {"major", 1}, {"minor", 3}}};
       }, "linux.devices[0].path: must be an absolute path, not \"dev/x\""},
      {"device without numbers", [](json& d) { d["linux"]["devices"] = {{{"type", "c"}, {"path", "/dev/x"}}}; },
       "linux.devices[0]: major and minor are required for device type c"},
      {"device cgroup type", [](json& d) { d["linux"]["resources"]["devices"][0]["type"] = "p"; },
       "linux.resources.devices[0].type: invalid device type \"p\" (want a, b or c)"},
      {"device cgroup access", [](json& d) { d["linux"]["resources"]["devices"][0]["access"] = "rwx"; },
       "linux.resources.devices[0].access: invalid access \"rwx\" (want a subset of \"rwm\")"},
      {"memory limit below -1", [](json& d) { d["linux"]["resources"]["memory"] = {{"limit", -2}}; },
       "linux.resources.memory.limit: must be -1 (unlimited) or a byte count"},
      {"swappiness", [](json& d) { d["linux"]["resources"]["memory"] = {{"swappiness", 101}}; },
       "linux.resources.memory.swappiness: must be between 0 and 100"},
      {"blkio weight range", [](json& d) { d["linux"]["resources"]["blockIO"] = {{"weight", 5}}; },
       "linux.resources.blockIO.weight: must be between 10 and 1000"},
      {"unified traversal", [](json& d) { d["linux"]["resources"]["unified"] = {{"../../cpu.max", "1"}}; },
       "linux.resources.unified: invalid cgroup file name \"../../cpu.max\""},
      {"hugepage size", [](json& d) {
         d["linux"]["resources"]["hugepageLimits"] = {{{"pageSize", "../2MB"}, {"limit", 1}}};
       }, "linux.resources.hugepageLimits[0].pageSize: invalid page size \"../2MB\""},
      {"seccomp default action", [](json& d) { d["linux"]["seccomp"] = {{"defaultAction", "SCMP_ACT_FOO"}}; },
       "linux.seccomp.defaultAction: string \"SCMP_ACT_FOO\" is not a valid action for seccomp"},
      {"seccomp op", [](json& d) {
         d["linux"]["seccomp"] = {{"defaultAction", "SCMP_ACT_ALLOW"},
                                  {"syscalls", {{{"names", {"read"}}, {"action", "SCMP_ACT_ERRNO"},
                                                 {"args", {{{"index", 0}, {"value", 1}, {"op", "SCMP_CMP_FOO"}}}}}}}};
       }, "linux.seccomp.syscalls[0].args[0].op: string \"SCMP_CMP_FOO\" is not a valid operator for seccomp"},
      {"seccomp arg index", [](json& d) {
         d["linux"]["seccomp"] = {{"defaultAction", "SCMP_ACT_ALLOW"},
                                  {"syscalls", {{{"names", {"read"}}, {"action", "SCMP_ACT_ERRNO"},
                                                 {"args", {{{"index", 6}, {"value", 1}, {"op", "SCMP_CMP_EQ"}}}}}}}};
       }, "linux.seccomp.syscalls[0].args[0].index: must be between 0 and 5"},
      {"seccomp syscall action", [](json& d) {
         d["linux"]["seccomp"] = {{"defaultAction", "SCMP_ACT_ALLOW"},
                                  {"syscalls", {{{"names", {"read"}}, {"action", "allow"}}}}};
       }, "linux.seccomp.syscalls[0].action: string \"allow\" is not a valid action for seccomp"},
      {"seccomp empty names", [](json& d) {
         d["linux"]["seccomp"] = {{"defaultAction", "SCMP_ACT_ALLOW"},
                                  {"syscalls", {{{"names", json::array()}, {"action", "SCMP_ACT_LOG"}}}}};
       }, "linux.seccomp.syscalls[0].names: must not be empty"},
      {"seccomp errnoRet with allow", [](json& d) {
         d["linux"]["seccomp"] = {{"defaultAction", "SCMP_ACT_ALLOW"}, {"defaultErrnoRet", 1}};
       }, "linux.seccomp.defaultErrnoRet: only allowed with SCMP_ACT_ERRNO or SCMP_ACT_TRACE"},
      {"seccomp arch", [](json& d) {
         d["linux"]["seccomp"] = {{"defaultAction", "SCMP_ACT_ALLOW"}, {"architectures", {"x86_64"}}};
       }, "linux.seccomp.architectures[0]: unknown architecture \"x86_64\""},
      {"seccomp flag", [](json& d) { d["linux"]["seccomp"] = {{"defaultAction", "SCMP_ACT_ALLOW"}, {"flags", {"TSYNC"}}}; },
       "linux.seccomp.flags[0]: unknown seccomp flag \"TSYNC\""},
      {"seccomp notify without listener", [](json& d) {
         d["linux"]["seccomp"] = {{"defaultAction", "SCMP_ACT_ALLOW"},
                                  {"syscalls", {{{"names", {"mount"}}, {"action", "SCMP_ACT_NOTIFY"}}}}};
       }, "linux.seccomp.listenerPath: is required when an action is SCMP_ACT_NOTIFY"},
      {"rootfsPropagation", [](json& d) { d["linux"]["rootfsPropagation"] = "foo"; },
       "linux.rootfsPropagation: rootfsPropagation=foo is not supported"},
      {"maskedPaths relative", [](json& d) { d["linux"]["maskedPaths"].push_back("proc/kcore"); },
       "linux.maskedPaths[10]: must be an absolute path, not \"proc/kcore\""},
      {"readonlyPaths relative", [](json& d) { d["linux"]["readonlyPaths"][0] = ""; },
       "linux.readonlyPaths[0]: must be an absolute path, not \"\""},
      {"sysctl traversal", [](json& d) { d["linux"]["sysctl"] = {{"net/../../etc", "1"}}; },
       "linux.sysctl: invalid sysctl name \"net/../../etc\""},
      {"sysctl empty component", [](json& d) { d["linux"]["sysctl"] = {{"net..ipv4", "1"}}; },
       "linux.sysctl: invalid sysctl name \"net..ipv4\""},
      {"personality", [](json& d) { d["linux"]["personality"] = {{"domain", "BSD"}}; },
       "linux.personality.domain: unknown personality domain \"BSD\""},
      {"timeOffsets clock", [](json& d) {
         d["linux"]["namespaces"].push_back({{"type", "time"}});
         d["linux"]["timeOffsets"] = {{"realtime", {{"secs", 1}}}};
       }, "linux.timeOffsets: unknown clock \"realtime\" (want boottime or monotonic)"},
      {"timeOffsets without timens", [](json& d) { d["linux"]["timeOffsets"] = {{"boottime", {{"secs", 1}}}}; },
       "linux.timeOffsets: requires a time namespace"},
      {"hostname without uts", [](json& d) { d["linux"]["namespaces"].erase(3); },
       "hostname: unable to set hostname without a private UTS namespace"},
      {"control bytes are escaped", [](json& d) { d["linux"]["namespaces"][0]["type"] = "a\x1b[2Jb"; },
       "linux.namespaces[0].type: unknown namespace type \"a\\x1b[2Jb\""},
  });
}

TEST(OciErrorTest, JsonSyntaxErrors) {
  EXPECT_EQ(errorOfText(""), "config: invalid JSON: parse error at line 1, column 1: syntax error while parsing value - unexpected end of input; expected '[', '{', or a literal");
  EXPECT_NE(errorOfText("{\"ociVersion\": \"1.0.2\",}").find("config: invalid JSON: "), std::string::npos);
  EXPECT_NE(errorOfText("{\"ociVersion\": \"\xff\"}").find("config: invalid JSON: "), std::string::npos);
  EXPECT_NE(errorOfText("{\"a\":1e999}").find("config: invalid JSON: "), std::string::npos);
  EXPECT_EQ(errorOfText("\"just a string\""), "config: must be a JSON object");
}

TEST(OciErrorTest, SizeBounds) {
  // Just over the byte bound: refused before parsing.
  std::string big = R"({"ociVersion":"1.0.2","x":")" + std::string(kMaxConfigBytes, 'a') + "\"}";
  EXPECT_EQ(errorOfText(big), "config: " + std::to_string(big.size()) + " bytes is larger than the 4194304 bytes allowed");
  // Nesting: 64 levels are fine, 65 are not, whether typed or unknown members.
  auto nested = [](int levels) {
    return R"({"ociVersion":"1.0.2","root":{"path":"r"},"process":{"user":{"uid":0,"gid":0},"args":["a"],"cwd":"/"},"x":)" +
           std::string(levels - 1, '[') +
           std::string(levels - 1, ']') + "}";
  };
  EXPECT_EQ(errorOfText(nested(64)), "");
  EXPECT_EQ(errorOfText(nested(65)), "config: JSON nested deeper than 64 levels");
  EXPECT_EQ(errorOfText(std::string(3 << 20, '[')), "config: JSON nested deeper than 64 levels");
  // Brackets inside strings do not count.
  EXPECT_EQ(errorOfText(R"({"ociVersion":"1.0.2","root":{"path":"r"},"process":{"user":{"uid":0,"gid":0},"args":["a"],"cwd":"/"},"x":")" +
                        std::string(1000, '[') + "\\\"\"}"),
            "");
  // A typed array longer than the bound.
  json doc = base();
  doc["process"]["env"] = json::array();
  for (size_t i = 0; i <= kMaxArrayLength; ++i) doc["process"]["env"].push_back("A=1");
  EXPECT_EQ(errorOf(doc), "process.env: has 65537 entries, more than the 65536 allowed");
  // specFromJson applies the depth bound to a document built in memory.
  json deep = base();
  json* at = &deep["x"];
  for (int i = 0; i < 100; ++i) at = &((*at)["y"] = json::object());
  EXPECT_THROW(specFromJson(deep), Error);
}

class OciBundleTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/kata-oci-bundle-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { removeTree(AT_FDCWD, dir_); }
  void write(const std::string& text) { writeFileAtomic(openDir(dir_).get(), "config.json", text, 0644); }
  std::string loadError() {
    try {
      loadBundleSpec(dir_);
      return "";
    } catch (const Error& e) {
      return e.what();
    }
  }
  std::string dir_;
};

TEST_F(OciBundleTest, LoadsAValidBundle) {
  write(defaultSpec(false, 0, 0).dump(1, '\t'));
  Spec spec = loadBundleSpec(dir_);
  EXPECT_EQ(spec.root->path, "rootfs");
  EXPECT_EQ(spec.process->args.at(0), "sh");
}

TEST_F(OciBundleTest, PrefixesErrorsWithTheFileName) {
  json doc = defaultSpec(false, 0, 0);
  doc["mounts"][2]["destination"] = "dev/pts";
  write(doc.dump());
  EXPECT_EQ(loadError(), "config.json: mounts[2].destination: must be an absolute path, not \"dev/pts\"");
  write("{");
  EXPECT_EQ(loadError().rfind("config.json: invalid JSON: ", 0), 0u) << loadError();
  write("[]");
  EXPECT_EQ(loadError(), "config.json: must be a JSON object");
}

TEST_F(OciBundleTest, MissingOrOversizedFile) {
  EXPECT_EQ(loadError(), "config.json: JSON specification file not found in bundle " + dir_);
  try {
    loadBundleSpec(dir_);
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kNotFound);
  }
  std::string noBundle = [&] {
    try {
      loadBundleSpec(dir_ + "/nonexistent");
      return std::string();
    } catch (const Error& e) {
      return std::string(e.what());
    }
  }();
  EXPECT_EQ(noBundle.rfind("config.json: ", 0), 0u) << noBundle;
  ASSERT_EQ(::mkfifo((dir_ + "/config.json").c_str(), 0600), 0);
  EXPECT_EQ(loadError(), "config.json: not a regular file in bundle " + dir_);  // and does not block
  ASSERT_EQ(::unlink((dir_ + "/config.json").c_str()), 0);
  write(std::string(kMaxConfigBytes + 1, ' '));
  std::string big = loadError();
  EXPECT_EQ(big.rfind("config.json: ", 0), 0u) << big;
  EXPECT_THROW(loadBundleSpec(dir_), Error);
}

}  // namespace
}  // namespace kata::oci
