// Semantic checks of a parsed config.json, after runc's (libcontainer/specconv and
// libcontainer/configs/validate): everything that is well-typed but that no container could be
// created from, or that would make later code act on a path or name it must not trust.
#include <algorithm>
#include <array>
#include <set>
#include <string_view>

#include "common/error.h"
#include "runtime/oci/spec.h"

namespace kata::oci {
namespace {

[[noreturn]] void bad(const std::string& path, const std::string& reason) {
  fail(ErrorKind::kInvalidArgument, path + ": " + reason);
}

std::string quote(std::string_view s) {
  std::string out = "\"";
  for (unsigned char c : s.substr(0, 128)) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < 0x20 || c == 0x7f) {
      static const char* hex = "0123456789abcdef";
      out += "\\x";
      out += hex[c >> 4];
      out += hex[c & 15];
    } else {
      out += static_cast<char>(c);
    }
  }
  if (s.size() > 128) out += "...";
  return out + "\"";
}

std::string at(const std::string& path, size_t i) { return path + "[" + std::to_string(i) + "]"; }

template <size_t N>
bool oneOf(std::string_view value, const std::array<std::string_view, N>& names) {
  return std::find(names.begin(), names.end(), value) != names.end();
}

bool hasNul(std::string_view s) { return s.find('\0') != std::string_view::npos; }

void checkAbsolute(const std::string& path, const std::string& value) {
  if (value.empty() || value[0] != '/') bad(path, "must be an absolute path, not " + quote(value));
  if (hasNul(value)) bad(path, "must not contain a NUL byte");
}

constexpr std::array<std::string_view, 8> kNamespaceTypes = {"pid", "network", "mount", "ipc",
                                                             "uts", "user",    "cgroup", "time"};

constexpr std::array<std::string_view, 16> kRlimits = {
    "RLIMIT_AS",     "RLIMIT_CORE",   "RLIMIT_CPU",    "RLIMIT_DATA",   "RLIMIT_FSIZE",  "RLIMIT_LOCKS",
    "RLIMIT_MEMLOCK", "RLIMIT_MSGQUEUE", "RLIMIT_NICE", "RLIMIT_NOFILE", "RLIMIT_NPROC", "RLIMIT_RSS",
    "RLIMIT_RTPRIO", "RLIMIT_RTTIME", "RLIMIT_SIGPENDING", "RLIMIT_STACK"};

// Every capability Linux defines (include/uapi/linux/capability.h, up to CAP_CHECKPOINT_RESTORE = 40).
constexpr std::array<std::string_view, 41> kCapabilities = {
    "CAP_CHOWN",           "CAP_DAC_OVERRIDE",   "CAP_DAC_READ_SEARCH", "CAP_FOWNER",
    "CAP_FSETID",          "CAP_KILL",           "CAP_SETGID",          "CAP_SETUID",
    "CAP_SETPCAP",         "CAP_LINUX_IMMUTABLE", "CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",       "CAP_NET_RAW",        "CAP_IPC_LOCK",        "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",      "CAP_SYS_RAWIO",      "CAP_SYS_CHROOT",      "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",       "CAP_SYS_ADMIN",      "CAP_SYS_BOOT",        "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",    "CAP_SYS_TIME",       "CAP_SYS_TTY_CONFIG",  "CAP_MKNOD",
    "CAP_LEASE",           "CAP_AUDIT_WRITE",    "CAP_AUDIT_CONTROL",   "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",    "CAP_MAC_ADMIN",      "CAP_SYSLOG",          "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",   "CAP_AUDIT_READ",     "CAP_PERFMON",         "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE"};

constexpr std::array<std::string_view, 9> kSeccompActions = {
    "SCMP_ACT_KILL", "SCMP_ACT_KILL_PROCESS", "SCMP_ACT_KILL_THREAD", "SCMP_ACT_TRAP", "SCMP_ACT_ERRNO",
    "SCMP_ACT_TRACE", "SCMP_ACT_ALLOW", "SCMP_ACT_LOG", "SCMP_ACT_NOTIFY"};

constexpr std::array<std::string_view, 7> kSeccompOps = {"SCMP_CMP_NE", "SCMP_CMP_LT", "SCMP_CMP_LE",
                                                         "SCMP_CMP_EQ", "SCMP_CMP_GE", "SCMP_CMP_GT",
                                                         "SCMP_CMP_MASKED_EQ"};

constexpr std::array<std::string_view, 23> kSeccompArches = {
    "SCMP_ARCH_X86",      "SCMP_ARCH_X86_64",    "SCMP_ARCH_X32",      "SCMP_ARCH_ARM",
    "SCMP_ARCH_AARCH64",  "SCMP_ARCH_MIPS",      "SCMP_ARCH_MIPS64",   "SCMP_ARCH_MIPS64N32",
    "SCMP_ARCH_MIPSEL",   "SCMP_ARCH_MIPSEL64",  "SCMP_ARCH_MIPSEL64N32", "SCMP_ARCH_PPC",
    "SCMP_ARCH_PPC64",    "SCMP_ARCH_PPC64LE",   "SCMP_ARCH_S390",     "SCMP_ARCH_S390X",
    "SCMP_ARCH_PARISC",   "SCMP_ARCH_PARISC64",  "SCMP_ARCH_RISCV64",  "SCMP_ARCH_LOONGARCH64",
    "SCMP_ARCH_M68K",     "SCMP_ARCH_SH",        "SCMP_ARCH_SHEB"};

constexpr std::array<std::string_view, 4> kSeccompFlags = {
    "SECCOMP_FILTER_FLAG_TSYNC", "SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW",
    "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"};

constexpr std::array<std::string_view, 9> kPropagations = {
    "private", "rprivate", "slave", "rslave", "shared", "rshared", "unbindable", "runbindable", ""};

constexpr std::array<std::string_view, 3> kIoClasses = {"IOPRIO_CLASS_RT", "IOPRIO_CLASS_BE",
                                                        "IOPRIO_CLASS_IDLE"};

constexpr std::array<std::string_view, 7> kSchedPolicies = {"SCHED_OTHER", "SCHED_FIFO", "SCHED_RR",
                                                            "SCHED_BATCH", "SCHED_ISO",  "SCHED_IDLE",
                                                            "SCHED_DEADLINE"};

constexpr std::array<std::string_view, 7> kSchedFlags = {
    "SCHED_FLAG_RESET_ON_FORK", "SCHED_FLAG_RECLAIM",        "SCHED_FLAG_DL_OVERRUN",
    "SCHED_FLAG_KEEP_POLICY",   "SCHED_FLAG_KEEP_PARAMS",    "SCHED_FLAG_UTIL_CLAMP_MIN",
    "SCHED_FLAG_UTIL_CLAMP_MAX"};

void validateHooks(const Hooks& hooks) {
  auto phase = [](const std::vector<Hook>& list, const std::string& path) {
    for (size_t i = 0; i < list.size(); ++i) {
      const Hook& h = list[i];
      checkAbsolute(at(path, i) + ".path", h.path);
      if (h.timeout && *h.timeout <= 0) bad(at(path, i) + ".timeout", "must be a positive number of seconds");
      for (size_t j = 0; j < h.env.size(); ++j) {
        if (h.env[j].find('=') == std::string::npos) {
          bad(at(at(path, i) + ".env", j), "invalid environment variable " + quote(h.env[j]) + ": missing '='");
        }
      }
    }
  };
  phase(hooks.prestart, "hooks.prestart");
  phase(hooks.createRuntime, "hooks.createRuntime");
  phase(hooks.createContainer, "hooks.createContainer");
  phase(hooks.startContainer, "hooks.startContainer");
  phase(hooks.poststart, "hooks.poststart");
  phase(hooks.poststop, "hooks.poststop");
}

void validateCapabilities(const Capabilities& caps) {
  auto set = [](const std::optional<std::vector<std::string>>& list, const std::string& path) {
    if (!list) return;
    for (size_t i = 0; i < list->size(); ++i) {
      if (!oneOf((*list)[i], kCapabilities)) bad(at(path, i), "unknown capability " + quote((*list)[i]));
    }
  };
  set(caps.bounding, "process.capabilities.bounding");
  set(caps.effective, "process.capabilities.effective");
  set(caps.inheritable, "process.capabilities.inheritable");
  set(caps.permitted, "process.capabilities.permitted");
  set(caps.ambient, "process.capabilities.ambient");
}

void validateProcess(const Process& p) {
  if (p.args.empty()) bad("process.args", "must not be empty (args must not be empty)");
  for (size_t i = 0; i < p.args.size(); ++i) {
    if (hasNul(p.args[i])) bad(at("process.args", i), "must not contain a NUL byte");
  }
  if (p.cwd.empty() || p.cwd[0] != '/') {
    bad("process.cwd", "must be an absolute path, not " + quote(p.cwd) + " (Cwd must be an absolute path)");
  }
  if (hasNul(p.cwd)) bad("process.cwd", "must not contain a NUL byte");
  if (p.env) {
    for (size_t i = 0; i < p.env->size(); ++i) {
      const std::string& e = (*p.env)[i];
      auto eq = e.find('=');
      if (eq == std::string::npos) bad(at("process.env", i), "invalid environment variable " + quote(e) + ": missing '='");
      if (eq == 0) bad(at("process.env", i), "invalid environment variable " + quote(e) + ": name cannot be empty");
      if (hasNul(e)) bad(at("process.env", i), "invalid environment variable: contains a NUL byte");
    }
  }
  if (p.user.umask && *p.user.umask > 0777) bad("process.user.umask", "must be at most 0777 (511)");
  if (p.capabilities) validateCapabilities(*p.capabilities);
  if (p.rlimits) {
    std::set<std::string> seen;
    for (size_t i = 0; i < p.rlimits->size(); ++i) {
      const Rlimit& l = (*p.rlimits)[i];
      if (!oneOf(l.type, kRlimits)) bad(at("process.rlimits", i) + ".type", "wrong rlimit value: " + quote(l.type));
      if (!seen.insert(l.type).second) bad(at("process.rlimits", i) + ".type", "duplicate rlimit " + l.type);
      if (l.soft > l.hard) bad(at("process.rlimits", i), "soft limit is larger than the hard limit");
    }
  }
  if (p.oomScoreAdj && (*p.oomScoreAdj < -1000 || *p.oomScoreAdj > 1000)) {
    bad("process.oomScoreAdj", "must be between -1000 and 1000");
  }
  if (p.ioPriority) {
    if (!oneOf(p.ioPriority->ioClass, kIoClasses)) {
      bad("process.ioPriority.class", "unknown I/O priority class " + quote(p.ioPriority->ioClass));
    }
    if (p.ioPriority->priority && (*p.ioPriority->priority < 0 || *p.ioPriority->priority > 7)) {
      bad("process.ioPriority.priority", "must be between 0 and 7");
    }
  }
  if (p.scheduler) {
    const Scheduler& s = *p.scheduler;
    if (!oneOf(s.policy, kSchedPolicies)) bad("process.scheduler.policy", "unknown scheduler policy " + quote(s.policy));
    if (s.nice && (*s.nice < -20 || *s.nice > 19)) bad("process.scheduler.nice", "must be between -20 and 19");
    if (s.flags) {
      for (size_t i = 0; i < s.flags->size(); ++i) {
        if (!oneOf((*s.flags)[i], kSchedFlags)) {
          bad(at("process.scheduler.flags", i), "unknown scheduler flag " + quote((*s.flags)[i]));
        }
      }
    }
    bool realtime = s.policy == "SCHED_FIFO" || s.policy == "SCHED_RR";
    if (s.priority && *s.priority != 0 && !realtime) {
      bad("process.scheduler.priority", "can only be set for SCHED_FIFO and SCHED_RR");
    }
    if ((s.runtime || s.deadline || s.period) && s.policy != "SCHED_DEADLINE") {
      bad("process.scheduler", "runtime, deadline and period can only be set for SCHED_DEADLINE");
    }
  }
}

void validateMounts(const std::vector<Mount>& mounts) {
  for (size_t i = 0; i < mounts.size(); ++i) {
    const Mount& m = mounts[i];
    checkAbsolute(at("mounts", i) + ".destination", m.destination);
    if (m.source && hasNul(*m.source)) bad(at("mounts", i) + ".source", "must not contain a NUL byte");
    if (m.options) {
      for (size_t j = 0; j < m.options->size(); ++j) {
        if (hasNul((*m.options)[j])) bad(at(at("mounts", i) + ".options", j), "must not contain a NUL byte");
      }
    }
    if ((m.uidMappings && !m.uidMappings->empty()) != (m.gidMappings && !m.gidMappings->empty())) {
      bad(at("mounts", i), "uidMappings and gidMappings must be given together (idmapped mount)");
    }
  }
}

void validateIdMappings(const std::vector<IdMapping>& maps, const std::string& path) {
  for (size_t i = 0; i < maps.size(); ++i) {
    const IdMapping& m = maps[i];
    if (m.size == 0) bad(at(path, i) + ".size", "must be at least 1");
    if (uint64_t{m.containerID} + m.size - 1 > 0xffffffffULL || uint64_t{m.hostID} + m.size - 1 > 0xffffffffULL) {
      bad(at(path, i), "range extends beyond 4294967295");
    }
  }
}

void validateSeccomp(const Seccomp& s) {
  auto action = [](const std::string& value, const std::string& path) {
    if (!oneOf(value, kSeccompActions)) bad(path, "string " + quote(value) + " is not a valid action for seccomp");
  };
  action(s.defaultAction, "linux.seccomp.defaultAction");
  bool notify = s.defaultAction == "SCMP_ACT_NOTIFY";
  if (s.defaultErrnoRet && s.defaultAction != "SCMP_ACT_ERRNO" && s.defaultAction != "SCMP_ACT_TRACE") {
    bad("linux.seccomp.defaultErrnoRet", "only allowed with SCMP_ACT_ERRNO or SCMP_ACT_TRACE");
  }
  if (s.architectures) {
    for (size_t i = 0; i < s.architectures->size(); ++i) {
      if (!oneOf((*s.architectures)[i], kSeccompArches)) {
        bad(at("linux.seccomp.architectures", i), "unknown architecture " + quote((*s.architectures)[i]));
      }
    }
  }
  if (s.flags) {
    for (size_t i = 0; i < s.flags->size(); ++i) {
      if (!oneOf((*s.flags)[i], kSeccompFlags)) bad(at("linux.seccomp.flags", i), "unknown seccomp flag " + quote((*s.flags)[i]));
    }
  }
  if (s.syscalls) {
    for (size_t i = 0; i < s.syscalls->size(); ++i) {
      const Syscall& sc = (*s.syscalls)[i];
      std::string path = at("linux.seccomp.syscalls", i);
      if (sc.names.empty()) bad(path + ".names", "must not be empty");
      for (size_t j = 0; j < sc.names.size(); ++j) {
        if (sc.names[j].empty() || hasNul(sc.names[j])) bad(at(path + ".names", j), "must be a syscall name");
      }
      action(sc.action, path + ".action");
      notify = notify || sc.action == "SCMP_ACT_NOTIFY";
      if (sc.errnoRet && sc.action != "SCMP_ACT_ERRNO" && sc.action != "SCMP_ACT_TRACE") {
        bad(path + ".errnoRet", "only allowed with SCMP_ACT_ERRNO or SCMP_ACT_TRACE");
      }
      if (sc.args) {
        if (sc.args->size() > 6) bad(path + ".args", "a syscall has at most 6 arguments");
        for (size_t j = 0; j < sc.args->size(); ++j) {
          const SeccompArg& a = (*sc.args)[j];
          if (a.index > 5) bad(at(path + ".args", j) + ".index", "must be between 0 and 5");
          if (!oneOf(a.op, kSeccompOps)) {
            bad(at(path + ".args", j) + ".op", "string " + quote(a.op) + " is not a valid operator for seccomp");
          }
        }
      }
    }
  }
  if (notify && (!s.listenerPath || s.listenerPath->empty())) {
    bad("linux.seccomp.listenerPath", "is required when an action is SCMP_ACT_NOTIFY");
  }
  if (s.listenerPath && !s.listenerPath->empty()) checkAbsolute("linux.seccomp.listenerPath", *s.listenerPath);
}

void validateResources(const Resources& r) {
  if (r.devices) {
    for (size_t i = 0; i < r.devices->size(); ++i) {
      const DeviceCgroup& d = (*r.devices)[i];
      std::string path = at("linux.resources.devices", i);
      if (d.type && *d.type != "a" && *d.type != "c" && *d.type != "b") {
        bad(path + ".type", "invalid device type " + quote(*d.type) + " (want a, b or c)");
      }
      if (d.access && d.access->find_first_not_of("rwm") != std::string::npos) {
        bad(path + ".access", "invalid access " + quote(*d.access) + " (want a subset of \"rwm\")");
      }
    }
  }
  if (r.memory) {
    auto limit = [](const std::optional<int64_t>& v, const char* name) {
      if (v && *v < -1) bad(std::string("linux.resources.memory.") + name, "must be -1 (unlimited) or a byte count");
    };
    limit(r.memory->limit, "limit");
    limit(r.memory->reservation, "reservation");
    limit(r.memory->swap, "swap");
    limit(r.memory->kernel, "kernel");
    limit(r.memory->kernelTCP, "kernelTCP");
    if (r.memory->swappiness && *r.memory->swappiness > 100) {
      bad("linux.resources.memory.swappiness", "must be between 0 and 100");
    }
  }
  if (r.blockIO) {
    auto weight = [](const std::optional<uint16_t>& v, const std::string& path) {
      if (v && *v != 0 && (*v < 10 || *v > 1000)) bad(path, "must be between 10 and 1000");
    };
    weight(r.blockIO->weight, "linux.resources.blockIO.weight");
    weight(r.blockIO->leafWeight, "linux.resources.blockIO.leafWeight");
  }
  if (r.hugepageLimits) {
    for (size_t i = 0; i < r.hugepageLimits->size(); ++i) {
      const std::string& size = (*r.hugepageLimits)[i].pageSize;
      if (size.empty() || size.find_first_of("/.\0", 0, 3) != std::string::npos) {
        bad(at("linux.resources.hugepageLimits", i) + ".pageSize", "invalid page size " + quote(size));
      }
    }
  }
  if (r.unified) {
    for (const auto& [key, value] : *r.unified) {
      // The key names a file in the container's cgroup directory.
      if (key.empty() || key.find('/') != std::string::npos || key == "." || key == ".." || hasNul(key)) {
        bad("linux.resources.unified", "invalid cgroup file name " + quote(key));
      }
    }
  }
}

void validateLinux(const Spec& spec, const Linux& l) {
  bool userns = false;
  if (l.namespaces) {
    std::set<std::string> seen;
    for (size_t i = 0; i < l.namespaces->size(); ++i) {
      const Namespace& ns = (*l.namespaces)[i];
      std::string path = at("linux.namespaces", i);
      if (!oneOf(ns.type, kNamespaceTypes)) bad(path + ".type", "unknown namespace type " + quote(ns.type));
      if (!seen.insert(ns.type).second) bad(path + ".type", "duplicated namespace " + quote(ns.type));
      if (ns.path && !ns.path->empty()) checkAbsolute(path + ".path", *ns.path);
      if (ns.type == "user") userns = true;
    }
  }
  const Namespace* user = spec.findNamespace("user");
  bool joinsUserns = user && user->path && !user->path->empty();
  bool hasUidMap = l.uidMappings && !l.uidMappings->empty();
  bool hasGidMap = l.gidMappings && !l.gidMappings->empty();
  if ((hasUidMap || hasGidMap) && !userns) {
    bad("linux.uidMappings", "user namespace mappings specified, but no user namespace in linux.namespaces");
  }
  if (userns && !joinsUserns && (!hasUidMap || !hasGidMap)) {
    bad("linux.uidMappings", "a new user namespace needs both uidMappings and gidMappings");
  }
  if (l.uidMappings) validateIdMappings(*l.uidMappings, "linux.uidMappings");
  if (l.gidMappings) validateIdMappings(*l.gidMappings, "linux.gidMappings");

  if (l.devices) {
    for (size_t i = 0; i < l.devices->size(); ++i) {
      const Device& d = (*l.devices)[i];
      std::string path = at("linux.devices", i);
      if (d.type != "c" && d.type != "b" && d.type != "u" && d.type != "p") {
        bad(path + ".type", "invalid device type " + quote(d.type));
      }
      checkAbsolute(path + ".path", d.path);
      if (d.type != "p" && (!d.major || !d.minor)) bad(path, "major and minor are required for device type " + d.type);
      if (d.fileMode && *d.fileMode > 07777) bad(path + ".fileMode", "must be a permission mode of at most 07777");
    }
  }
  if (l.resources) validateResources(*l.resources);
  if (l.seccomp) validateSeccomp(*l.seccomp);
  if (l.rootfsPropagation && !oneOf(*l.rootfsPropagation, kPropagations)) {
    bad("linux.rootfsPropagation", "rootfsPropagation=" + *l.rootfsPropagation + " is not supported");
  }
  auto paths = [](const std::optional<std::vector<std::string>>& list, const std::string& path) {
    if (!list) return;
    for (size_t i = 0; i < list->size(); ++i) checkAbsolute(at(path, i), (*list)[i]);
  };
  paths(l.maskedPaths, "linux.maskedPaths");
  paths(l.readonlyPaths, "linux.readonlyPaths");
  if (l.sysctl) {
    for (const auto& [key, value] : *l.sysctl) {
      // The key becomes a path below /proc/sys; no empty, "." or ".." component may appear.
      bool ok = !key.empty() && !hasNul(key) && key.find_first_of(" \t\n") == std::string::npos;
      size_t start = 0;
      while (ok) {
        size_t end = key.find_first_of("./", start);
        std::string_view part = std::string_view(key).substr(start, end == std::string::npos ? end : end - start);
        if (part.empty() || part == "..") ok = false;
        if (end == std::string::npos) break;
        start = end + 1;
      }
      if (!ok) bad("linux.sysctl", "invalid sysctl name " + quote(key));
    }
  }
  if (l.personality && l.personality->domain != "LINUX" && l.personality->domain != "LINUX32") {
    bad("linux.personality.domain", "unknown personality domain " + quote(l.personality->domain));
  }
  if (l.timeOffsets) {
    for (const auto& [clock, offset] : *l.timeOffsets) {
      if (clock != "boottime" && clock != "monotonic") {
        bad("linux.timeOffsets", "unknown clock " + quote(clock) + " (want boottime or monotonic)");
      }
      if (offset.nanosecs >= 1000000000U) bad("linux.timeOffsets." + clock + ".nanosecs", "must be below 1000000000");
    }
    if (!spec.findNamespace("time")) bad("linux.timeOffsets", "requires a time namespace");
  }
}

}  // namespace

void validateSpec(const Spec& spec) {
  if (spec.ociVersion.empty()) bad("ociVersion", "is required");
  if (spec.ociVersion.rfind("1.", 0) != 0) {
    bad("ociVersion", "unsupported version " + quote(spec.ociVersion) + " (this runtime implements 1.x)");
  }
  if (!spec.root) bad("root", "is required (root must be specified)");
  if (spec.root->path.empty()) bad("root.path", "is required (root must be specified)");
  if (hasNul(spec.root->path)) bad("root.path", "must not contain a NUL byte");
  // OPTIONAL in the spec until `start`, but runc refuses to create a container without one, and so
  // does every caller of this runtime.
  if (!spec.process) bad("process", "is required (Cwd property must not be empty)");
  validateProcess(*spec.process);
  if (spec.hostname && hasNul(*spec.hostname)) bad("hostname", "must not contain a NUL byte");
  if (spec.hostname && spec.hostname->size() > 64) bad("hostname", "must be at most 64 bytes");
  if (spec.domainname && spec.domainname->size() > 64) bad("domainname", "must be at most 64 bytes");
  if (spec.hostname && !spec.hostname->empty() && !spec.findNamespace("uts")) {
    bad("hostname", "unable to set hostname without a private UTS namespace");
  }
  if (spec.domainname && !spec.domainname->empty() && !spec.findNamespace("uts")) {
    bad("domainname", "unable to set domainname without a private UTS namespace");
  }
  if (spec.mounts) validateMounts(*spec.mounts);
  if (spec.hooks) validateHooks(*spec.hooks);
  if (spec.linux) validateLinux(spec, *spec.linux);
}

}  // namespace kata::oci
