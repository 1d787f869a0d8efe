#include "kata-ctl/go_json.h"

#include <algorithm>
#include <map>
#include <vector>

namespace kata::ctl {
namespace {

// Field order of the OCI runtime-spec Go structs (specs-go/config.go), keyed by member name and
// the name of the object holding it; "" is the root. Objects not listed keep sorted order.
const std::map<std::string, std::vector<std::string>>& fieldOrders() {
  static const std::map<std::string, std::vector<std::string>> orders = {
      {"", {"ociVersion", "ociVersionMin", "ociVersionMax", "process", "root", "hostname", "domainname",
            "mounts", "hooks", "mountOptions", "annotations", "linux", "solaris", "windows", "vm", "zos"}},
      {"process", {"terminal", "consoleSize", "user", "args", "commandLine", "env", "cwd", "capabilities",
                   "rlimits", "noNewPrivileges", "apparmorProfile", "oomScoreAdj", "scheduler",
                   "selinuxLabel", "ioPriority", "execCPUAffinity"}},
      {"user", {"uid", "gid", "umask", "additionalGids", "username"}},
      {"capabilities", {"bounding", "effective", "inheritable", "permitted", "ambient"}},
      {"rlimits", {"type", "hard", "soft"}},
      {"root", {"path", "readonly"}},
      {"mounts", {"destination", "type", "source", "options", "uidMappings", "gidMappings"}},
      {"linux", {"uidMappings", "gidMappings", "sysctl", "resources", "cgroupsPath", "namespaces",
                 "devices", "seccomp", "rootfsPropagation", "maskedPaths", "readonlyPaths", "mountLabel",
                 "intelRdt", "personality", "timeOffsets", "capabilities", "cgroup", "apparmor", "selinux"}},
      {"resources", {"devices", "memory", "cpu", "pids", "blockIO", "hugepageLimits", "network", "rdma",
                     "unified"}},
      {"devices", {"allow", "path", "type", "major", "minor", "access", "fileMode", "uid", "gid"}},
      {"namespaces", {"type", "path"}},
      {"uidMappings", {"containerID", "hostID", "size"}},
      {"gidMappings", {"containerID", "hostID", "size"}},
      {"cgroup", {"v1", "v2", "systemd", "systemdUser", "rdma"}},
      {"seccomp", {"enabled", "defaultAction", "defaultErrnoRet", "actions", "operators", "architectures",
                   "archs", "knownFlags", "supportedFlags", "flags", "listenerPath", "listenerMetadata",
                   "syscalls"}},
  };
  return orders;
}

void write(std::string& out, const nlohmann::json& v, const std::string& indent, int depth,
           const std::string& holder) {
  auto newline = [&](int d) {
    out += '\n';
    for (int i = 0; i < d; ++i) out += indent;
  };
  if (v.is_object()) {
    if (v.empty()) {
      out += "{}";
      return;
    }
    std::vector<std::string> keys;
    auto it = fieldOrders().find(holder);
    if (it != fieldOrders().end()) {
      for (const auto& k : it->second)
        if (v.contains(k)) keys.push_back(k);
    }
    for (const auto& [k, _] : v.items()) {
      if (std::find(keys.begin(), keys.end(), k) == keys.end()) keys.push_back(k);
    }
    out += '{';
    bool first = true;
    for (const auto& k : keys) {
      if (!first) out += ',';
      first = false;
      newline(depth + 1);
      out += nlohmann::json(k).dump() + ": ";
      write(out, v.at(k), indent, depth + 1, k);
    }
    newline(depth);
    out += '}';
  } else if (v.is_array()) {
    if (v.empty()) {
      out += "[]";
      return;
    }
    out += '[';
    bool first = true;
    for (const auto& e : v) {
      if (!first) out += ',';
      first = false;
      newline(depth + 1);
      write(out, e, indent, depth + 1, holder);  // elements take the array's member name
    }
    newline(depth);
    out += ']';
  } else {
    out += v.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  }
}

}  // namespace

std::string goMarshalIndent(const nlohmann::json& value, const std::string& indent) {
  std::string out;
  write(out, value, indent, 0, "");
  return out;
}

}  // namespace kata::ctl
