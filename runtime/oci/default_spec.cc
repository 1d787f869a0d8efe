// The skeleton `runc spec` writes (runc 1.1 libcontainer/specconv.Example and ToRootless), so
// `kata-ctl spec` hands engines and people the same starting point as runc.
#include <unistd.h>

#include "runtime/oci/spec.h"

namespace kata::oci {

using nlohmann::json;

nlohmann::json defaultSpec(bool rootless) {
  return defaultSpec(rootless, static_cast<uint32_t>(geteuid()), static_cast<uint32_t>(getegid()));
}

nlohmann::json defaultSpec(bool rootless, uint32_t hostUid, uint32_t hostGid) {
  const json caps = {"CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"};
  json spec = {
      {"ociVersion", kDefaultOciVersion},
      {"root", {{"path", "rootfs"}, {"readonly", true}}},
      {"process",
       {
           {"terminal", true},
           {"user", {{"uid", 0}, {"gid", 0}}},
           {"args", {"sh"}},
           {"env", {"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "TERM=xterm"}},
           {"cwd", "/"},
           {"noNewPrivileges", true},
           {"capabilities", {{"bounding", caps}, {"permitted", caps}, {"effective", caps}, {"ambient", caps}}},
           {"rlimits", json::array({{{"type", "RLIMIT_NOFILE"}, {"hard", 1024}, {"soft", 1024}}})},
       }},
      {"hostname", "runc"},
      {"mounts", json::array({
                     {{"destination", "/proc"}, {"type", "proc"}, {"source", "proc"}},
                     {{"destination", "/dev"},
                      {"type", "tmpfs"},
                      {"source", "tmpfs"},
                      {"options", {"nosuid", "strictatime", "mode=755", "size=65536k"}}},
                     {{"destination", "/dev/pts"},
                      {"type", "devpts"},
                      {"source", "devpts"},
                      {"options", {"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"}}},
                     {{"destination", "/dev/shm"},
                      {"type", "tmpfs"},
                      {"source", "shm"},
                      {"options", {"nosuid", "noexec", "nodev", "mode=1777", "size=65536k"}}},
                     {{"destination", "/dev/mqueue"},
                      {"type", "mqueue"},
                      {"source", "mqueue"},
                      {"options", {"nosuid", "noexec", "nodev"}}},
                     {{"destination", "/sys"},
                      {"type", "sysfs"},
                      {"source", "sysfs"},
                      {"options", {"nosuid", "noexec", "nodev", "ro"}}},
                     {{"destination", "/sys/fs/cgroup"},
                      {"type", "cgroup"},
                      {"source", "cgroup"},
                      {"options", {"nosuid", "noexec", "nodev", "relatime", "ro"}}},
                 })},
      {"linux",
       {
           {"maskedPaths",
            {"/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
             "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware", "/proc/scsi"}},
           {"readonlyPaths", {"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"}},
           {"resources", {{"devices", json::array({{{"allow", false}, {"access", "rwm"}}})}}},
           {"namespaces", json::array({{{"type", "pid"}},
                                       {{"type", "network"}},
                                       {{"type", "ipc"}},
                                       {{"type", "uts"}},
                                       {{"type", "mount"}}})},
       }},
  };
  if (!rootless) return spec;

  // runc's ToRootless: no cgroup device rules and no network namespace (an unprivileged user cannot
  // set them up), a user namespace mapping root to the caller, /sys bind-mounted instead of a fresh
  // sysfs, and no gid= on devpts (the tty group is not mapped).
  json& linux = spec["linux"];
  linux.erase("resources");
  json namespaces = json::array();
  for (const auto& ns : linux["namespaces"]) {
    if (ns["type"] != "network" && ns["type"] != "user") namespaces.push_back(ns);
  }
  namespaces.push_back({{"type", "user"}});
  linux["namespaces"] = namespaces;
  linux["uidMappings"] = json::array({{{"hostID", hostUid}, {"containerID", 0}, {"size", 1}}});
  linux["gidMappings"] = json::array({{{"hostID", hostGid}, {"containerID", 0}, {"size", 1}}});

  for (auto& mount : spec["mounts"]) {
    if (mount["destination"] == "/sys") {
      mount["type"] = "none";
      mount["source"] = "/sys";
      mount["options"] = {"rbind", "nosuid", "noexec", "nodev", "ro"};
    } else if (mount.contains("options")) {
      json options = json::array();
      for (const auto& option : mount["options"]) {
        if (option.get<std::string>().rfind("gid=", 0) != 0) options.push_back(option);
      }
      mount["options"] = options;
    }
  }
  return spec;
}

}  // namespace kata::oci
