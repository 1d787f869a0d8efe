// `kata-ctl features`: what this build really supports, in the shape of `runc features`
// (runtime-spec features.md). Lists come from the libraries that do the work (libseccomp, libcap)
// where they can; the rest is what the OCI model here validates and the guest applies.
#include <seccomp.h>
#include <sys/capability.h>

#include <nlohmann/json.hpp>

#include "kata-ctl/cli.h"
#include "kata-ctl/command.h"
#include "kata-ctl/context.h"

#ifndef KATA_VERSION
#define KATA_VERSION "unknown"
#endif
#ifndef KATA_GIT_COMMIT
#define KATA_GIT_COMMIT "unknown"
#endif

namespace kata::ctl {
namespace {

using ordered = nlohmann::ordered_json;

ordered seccompFeatures() {
  ordered s;
  s["enabled"] = true;
  // Each action is listed only when the installed libseccomp's API level supports it.
  const unsigned api = seccomp_api_get();
  std::vector<std::string> actions = {"SCMP_ACT_ALLOW", "SCMP_ACT_ERRNO"};
  actions.push_back("SCMP_ACT_KILL");
  if (api >= 3) actions.push_back("SCMP_ACT_KILL_PROCESS");
  actions.push_back("SCMP_ACT_KILL_THREAD");
  if (api >= 3) actions.push_back("SCMP_ACT_LOG");
  if (api >= 5) actions.push_back("SCMP_ACT_NOTIFY");
  actions.push_back("SCMP_ACT_TRACE");
  actions.push_back("SCMP_ACT_TRAP");
  s["actions"] = actions;
  s["operators"] = {"SCMP_CMP_EQ", "SCMP_CMP_GE", "SCMP_CMP_GT", "SCMP_CMP_LE",
                    "SCMP_CMP_LT", "SCMP_CMP_MASKED_EQ", "SCMP_CMP_NE"};
  // The architectures libseccomp can build filters for, by its own name table.
  static const std::pair<const char*, const char*> kArchs[] = {
      {"SCMP_ARCH_AARCH64", "aarch64"},     {"SCMP_ARCH_ARM", "arm"},
      {"SCMP_ARCH_MIPS", "mips"},           {"SCMP_ARCH_MIPS64", "mips64"},
      {"SCMP_ARCH_MIPS64N32", "mips64n32"}, {"SCMP_ARCH_MIPSEL", "mipsel"},
      {"SCMP_ARCH_MIPSEL64", "mipsel64"},   {"SCMP_ARCH_MIPSEL64N32", "mipsel64n32"},
      {"SCMP_ARCH_PPC", "ppc"},             {"SCMP_ARCH_PPC64", "ppc64"},
      {"SCMP_ARCH_PPC64LE", "ppc64le"},     {"SCMP_ARCH_RISCV64", "riscv64"},
      {"SCMP_ARCH_S390", "s390"},           {"SCMP_ARCH_S390X", "s390x"},
      {"SCMP_ARCH_X32", "x32"},             {"SCMP_ARCH_X86", "x86"},
      {"SCMP_ARCH_X86_64", "x86_64"},
  };
  std::vector<std::string> archs;
  for (const auto& [oci, name] : kArchs) {
    if (seccomp_arch_resolve_name(name) != 0) archs.push_back(oci);
  }
  s["archs"] = archs;
  return s;
}

std::vector<std::string> capabilities() {
  std::vector<std::string> caps;
  // cap_max_bits(): the capabilities the running kernel knows (libcap asks it).
  const int max = static_cast<int>(cap_max_bits());
  for (int c = 0; c < max; ++c) {
    char* name = cap_to_name(static_cast<cap_value_t>(c));
    if (name == nullptr) continue;
    std::string n(name);
    cap_free(name);
    if (n.empty() || (n[0] >= '0' && n[0] <= '9')) continue;  // unnamed: libcap is older than the kernel
    for (auto& ch : n) ch = static_cast<char>(ch >= 'a' && ch <= 'z' ? ch - 'a' + 'A' : ch);
    caps.push_back(n);
  }
  return caps;
}

class FeaturesCommand : public Command {
 public:
  FeaturesCommand()
      : Command(CommandInfo("features",
                          "show the enabled features",
                          "[arguments...]",
                          "Show the enabled features.\n   The result is parsable as a JSON.\n   "
                                "See https://github.com/opencontainers/runtime-spec/blob/main/features.md").exactArgs(0).noFlags()) {}

  int run(Context& ctx, const std::vector<std::string>&) override {
    ordered f;
    f["ociVersionMin"] = "1.0.0";
    f["ociVersionMax"] = kOciSpecVersion;
    f["hooks"] = {"prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"};
    // Mount options the guest agent maps to mount(2) flags and propagation types.
    f["mountOptions"] = {"async",   "atime",   "bind",       "defaults",   "dev",         "diratime",
                         "dirsync", "exec",    "iversion",   "lazytime",   "mand",        "noatime",
                         "nodev",   "nodiratime", "noexec",  "noiversion", "nolazytime",  "nomand",
                         "norelatime", "nostrictatime", "nosuid", "nosymfollow", "private", "rbind",
                         "relatime", "remount", "ro",        "rprivate",   "rshared",     "rslave",
                         "runbindable", "rw",    "shared",     "slave",      "strictatime", "suid",
                         "symfollow", "sync",   "unbindable"};
    ordered linux;
    linux["namespaces"] = {"cgroup", "ipc", "mount", "network", "pid", "uts"};
    linux["capabilities"] = capabilities();
    // Containers run in a VM whose guest uses the unified hierarchy; kata-ctl does not drive systemd.
    linux["cgroup"] = {{"v1", false}, {"v2", true}, {"systemd", false}, {"systemdUser", false}};
    linux["seccomp"] = seccompFeatures();
    linux["apparmor"] = {{"enabled", false}};
    linux["selinux"] = {{"enabled", false}};
    f["linux"] = linux;
    const auto* v = seccomp_version();
    f["annotations"] = {
        {"io.github.seccomp.libseccomp.version",
         std::to_string(v->major) + "." + std::to_string(v->minor) + "." + std::to_string(v->micro)},
        {"io.katacontainers.ctl.commit", KATA_GIT_COMMIT},
        {"io.katacontainers.ctl.version", KATA_VERSION},
    };
    ctx.out() << f.dump(4) << "\n";
    return 0;
  }
};

}  // namespace

std::unique_ptr<Command> makeFeaturesCommand() { return std::make_unique<FeaturesCommand>(); }

}  // namespace kata::ctl
