// Everything per process between the rootfs and execve, in runc's order (standard_init_linux.go and
// finalizeNamespace): hostname, sysctl, oom_score_adj, rlimits, no_new_privs, [seccomp when it must
// be loaded while still privileged], bounding set, user with kept capabilities, capability sets,
// umask, cwd, env, PATH lookup, [seccomp], execve.
#include "agent/container/process_init.h"

#include <fcntl.h>
#include <sys/capability.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <grp.h>

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <cstdlib>
#include <cerrno>
#include <cstring>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <sstream>

#include "agent/container/seccomp.h"
#include "common/error.h"
#include "common/fs.h"

namespace kata::agent {
namespace {

// The settings' errors read "<setting>: <call>: <strerror>" (the format engines and people see from
// runc), so the raw call text KATA_SYSCALL would add is left out here.
long sys(long rc, const std::string& what) {
  if (rc == -1) throwSysError(errno, what);
  return rc;
}

void writeProcFile(const std::string& path, const std::string& value, const std::string& what) {
  UniqueFd fd(static_cast<int>(sys(::open(path.c_str(), O_WRONLY | O_CLOEXEC | O_TRUNC), what + ": open " + path)));
  if (::write(fd.get(), value.data(), value.size()) != static_cast<ssize_t>(value.size()))
    throwSysError(errno, what + ": write " + path);
}

bool hasNamespace(const oci::Spec& spec, const char* type) { return spec.findNamespace(type) != nullptr; }

// runc's validator (libcontainer/configs/validate): only sysctls of namespaces the container owns.
std::string sysctlPath(const std::string& key, const oci::Spec& spec) {
  std::string label = "linux.sysctl \"" + key + "\"";
  if (key.empty() || key.size() > 256 || key.find("..") != std::string::npos || key.front() == '.' ||
      key.back() == '.' || key.find('/') != std::string::npos)
    fail(ErrorKind::kInvalidArgument, label + ": invalid name");
  for (char c : key) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-'))
      fail(ErrorKind::kInvalidArgument, label + ": invalid name");
  }
  static const std::set<std::string> kIpc = {"kernel.msgmax", "kernel.msgmnb", "kernel.msgmni", "kernel.sem",
                                             "kernel.shmall", "kernel.shmmax", "kernel.shmmni", "kernel.shm_rmid_forced"};
  bool ok = false;
  if (kIpc.count(key) || key.rfind("fs.mqueue.", 0) == 0) {
    if (!hasNamespace(spec, "ipc")) fail(ErrorKind::kInvalidArgument, label + ": not allowed in the pod's ipc namespace");
    ok = true;
  } else if (key.rfind("net.", 0) == 0) {
    if (!hasNamespace(spec, "network"))
      fail(ErrorKind::kInvalidArgument, label + ": not allowed in the pod's network namespace");
    ok = true;
  } else if (key == "kernel.domainname" && hasNamespace(spec, "uts")) {
    ok = true;
  } else if (key == "kernel.hostname") {
    fail(ErrorKind::kInvalidArgument, label + ": not allowed as it conflicts with the OCI \"hostname\" field");
  }
  if (!ok) fail(ErrorKind::kInvalidArgument, label + ": not in a separate kernel namespace");
  std::string path = "/proc/sys/" + key;
  std::replace(path.begin() + 10, path.end(), '.', '/');
  return path;
}

int rlimitResource(const std::string& name) {
  static const std::map<std::string, int> kNames = {
      {"RLIMIT_AS", RLIMIT_AS},           {"RLIMIT_CORE", RLIMIT_CORE},         {"RLIMIT_CPU", RLIMIT_CPU},
      {"RLIMIT_DATA", RLIMIT_DATA},       {"RLIMIT_FSIZE", RLIMIT_FSIZE},       {"RLIMIT_LOCKS", RLIMIT_LOCKS},
      {"RLIMIT_MEMLOCK", RLIMIT_MEMLOCK}, {"RLIMIT_MSGQUEUE", RLIMIT_MSGQUEUE}, {"RLIMIT_NICE", RLIMIT_NICE},
      {"RLIMIT_NOFILE", RLIMIT_NOFILE},   {"RLIMIT_NPROC", RLIMIT_NPROC},       {"RLIMIT_RSS", RLIMIT_RSS},
      {"RLIMIT_RTPRIO", RLIMIT_RTPRIO},   {"RLIMIT_RTTIME", RLIMIT_RTTIME},     {"RLIMIT_SIGPENDING", RLIMIT_SIGPENDING},
      {"RLIMIT_STACK", RLIMIT_STACK},
  };
  auto it = kNames.find(name);
  return it == kNames.end() ? -1 : it->second;
}

struct CapFree {
  void operator()(cap_t c) const { cap_free(c); }
};
using CapPtr = std::unique_ptr<std::remove_pointer_t<cap_t>, CapFree>;

// Capability numbers the running kernel knows; names it does not are skipped (runc warns and skips).
std::vector<cap_value_t> capValues(const std::optional<std::vector<std::string>>& names, const char* set) {
  std::vector<cap_value_t> out;
  if (!names) return out;
  int max = static_cast<int>(cap_max_bits());
  for (const std::string& n : *names) {
    std::string lower = n;
    std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
    cap_value_t v = 0;
    if (cap_from_name(lower.c_str(), &v) != 0)
      fail(ErrorKind::kInvalidArgument, std::string("process.capabilities.") + set + ": unknown capability \"" + n + "\"");
    if (v < max) out.push_back(v);
  }
  return out;
}

void applyBoundingSet(const oci::Capabilities& caps) {
  std::vector<cap_value_t> keep = capValues(caps.bounding, "bounding");
  int max = static_cast<int>(cap_max_bits());
  for (cap_value_t c = 0; c < max; ++c) {
    if (std::find(keep.begin(), keep.end(), c) != keep.end()) continue;
    if (::prctl(PR_CAPBSET_READ, c, 0, 0, 0) != 1) continue;
    if (::prctl(PR_CAPBSET_DROP, c, 0, 0, 0) != 0)
      throwSysError(errno, std::string("process.capabilities.bounding: drop ") + cap_to_name(c));
  }
}

void applyCapabilities(const oci::Capabilities& caps) {
  CapPtr state(cap_init());
  if (!state) throwSysError(errno, "process.capabilities: cap_init");
  auto setFlag = [&](cap_flag_t flag, const std::optional<std::vector<std::string>>& names, const char* set) {
    std::vector<cap_value_t> values = capValues(names, set);
    if (values.empty()) return;
    if (cap_set_flag(state.get(), flag, static_cast<int>(values.size()), values.data(), CAP_SET) != 0)
      throwSysError(errno, std::string("process.capabilities.") + set + ": cap_set_flag");
  };
  setFlag(CAP_EFFECTIVE, caps.effective, "effective");
  setFlag(CAP_PERMITTED, caps.permitted, "permitted");
  setFlag(CAP_INHERITABLE, caps.inheritable, "inheritable");
  if (cap_set_proc(state.get()) != 0)
    throwSysError(errno, "process.capabilities: set effective/permitted/inheritable (capset)");
  sys(::prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0), "process.capabilities.ambient: clear");
  for (cap_value_t c : capValues(caps.ambient, "ambient")) {
    // Like runc: a capability that is not both permitted and inheritable cannot be ambient; that
    // is skipped rather than failing the container.
    (void)::prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, c, 0, 0);
  }
}

std::vector<std::vector<std::string>> readColonFile(const char* path) {
  std::optional<std::string> text;
  try {
    text = readFileIfExists(AT_FDCWD, path, 4 << 20);
  } catch (const Error&) {
    return {};  // unreadable or huge: treated as absent, as runc treats a missing file
  }
  std::vector<std::vector<std::string>> rows;
  std::istringstream in(text.value_or(""));
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    std::vector<std::string> f;
    size_t start = 0;
    for (;;) {
      size_t colon = line.find(':', start);
      f.push_back(line.substr(start, colon == std::string::npos ? std::string::npos : colon - start));
      if (colon == std::string::npos) break;
      start = colon + 1;
    }
    rows.push_back(std::move(f));
  }
  return rows;
}

// The image's /etc/passwd entry of uid: name and home, as runc finds them.
struct PasswdEntry {
  std::string name, home;
};
std::optional<PasswdEntry> passwdEntry(uid_t uid) {
  for (const auto& f : readColonFile("/etc/passwd")) {
    if (f.size() >= 6 && f[2] == std::to_string(uid)) return PasswdEntry{f[0], f[5]};
  }
  return std::nullopt;
}

// Groups of the image's /etc/group that list the user as a member (runc adds them too).
std::vector<gid_t> memberGroups(uid_t uid) {
  std::vector<gid_t> out;
  std::optional<PasswdEntry> user = passwdEntry(uid);
  if (!user || user->name.empty()) return out;
  for (const auto& f : readColonFile("/etc/group")) {
    if (f.size() < 4) continue;
    std::istringstream members(f[3]);
    std::string m;
    while (std::getline(members, m, ',')) {
      if (m != user->name) continue;
      char* end = nullptr;
      unsigned long gid = std::strtoul(f[2].c_str(), &end, 10);
      if (!f[2].empty() && *end == '\0' && gid <= UINT32_MAX) out.push_back(static_cast<gid_t>(gid));
      break;
    }
  }
  return out;
}

void setupUser(const oci::User& user) {
  std::vector<gid_t> groups = memberGroups(user.uid);
  if (user.additionalGids) groups.insert(groups.end(), user.additionalGids->begin(), user.additionalGids->end());
  // With a user namespace whose setgroups is "deny", only an empty list can be (and needs to be) skipped.
  std::optional<std::string> setgroupsMode = readFileIfExists(AT_FDCWD, "/proc/self/setgroups", 64);
  bool denied = setgroupsMode && setgroupsMode->rfind("deny", 0) == 0;
  if (!(denied && groups.empty())) {
    sys(::setgroups(groups.size(), groups.empty() ? nullptr : groups.data()),
                 "process.user.additionalGids: setgroups");
  }
  sys(::setresgid(user.gid, user.gid, user.gid), "process.user.gid " + std::to_string(user.gid) + ": setresgid");
  sys(::setresuid(user.uid, user.uid, user.uid), "process.user.uid " + std::to_string(user.uid) + ": setresuid");
}

// runc sets HOME from the container's /etc/passwd when the spec's env lacks it.
std::string homeOf(uid_t uid) {
  std::optional<PasswdEntry> entry = passwdEntry(uid);
  return entry && !entry->home.empty() ? entry->home : "/";
}

std::optional<std::string> envValue(const std::vector<std::string>& env, const std::string& name) {
  std::optional<std::string> v;
  for (const std::string& e : env) {
    if (e.size() > name.size() && e.compare(0, name.size(), name) == 0 && e[name.size()] == '=')
      v = e.substr(name.size() + 1);
  }
  return v;
}

// exec.LookPath as runc uses it: a name with a slash is used as is; otherwise the first regular
// file with an execute bit along the process's own PATH.
std::string lookPath(const std::string& name, const std::vector<std::string>& env) {
  if (name.find('/') != std::string::npos) return name;
  std::string path = envValue(env, "PATH").value_or("");
  std::istringstream in(path);
  std::string dir;
  while (std::getline(in, dir, ':')) {
    std::string candidate = (dir.empty() ? "." : dir) + "/" + name;
    struct stat st {};
    if (::stat(candidate.c_str(), &st) == 0 && S_ISREG(st.st_mode) && (st.st_mode & 0111)) return candidate;
  }
  // runc's wording; engines map it to exit code 127.
  throw Error(ErrorKind::kNotFound, "exec: \"" + name + "\": executable file not found in $PATH", ENOENT);
}

}  // namespace

void applySysctls(const oci::Spec& spec) {
  if (!spec.linux || !spec.linux->sysctl) return;
  for (const auto& [key, value] : *spec.linux->sysctl)
    writeProcFile(sysctlPath(key, spec), value, "linux.sysctl \"" + key + "\"");
}

void setupProcessAndExec(const ProcessSetup& setup) {
  if (!setup.process || !setup.spec) fail(ErrorKind::kInternal, "setupProcessAndExec: no process or spec");
  const oci::Process& p = *setup.process;
  const oci::Spec& spec = *setup.spec;
  const oci::Linux* linux = spec.linux ? &*spec.linux : nullptr;
  if (p.args.empty()) fail(ErrorKind::kInvalidArgument, "process.args: empty");

  // Built first: a bad profile fails before anything changed.
  std::optional<SeccompFilter> seccomp;
  if (linux && linux->seccomp) seccomp = SeccompFilter::build(*linux->seccomp);

  if (setup.newUts) {
    if (spec.hostname)
      sys(::sethostname(spec.hostname->data(), spec.hostname->size()), "hostname \"" + *spec.hostname + "\"");
    if (spec.domainname)
      sys(::setdomainname(spec.domainname->data(), spec.domainname->size()),
                   "domainname \"" + *spec.domainname + "\"");
  }
  if (setup.applySysctl) applySysctls(spec);
  if (p.oomScoreAdj)
    writeProcFile("/proc/self/oom_score_adj", std::to_string(*p.oomScoreAdj), "process.oomScoreAdj");
  if (p.rlimits) {
    for (size_t i = 0; i < p.rlimits->size(); ++i) {
      const oci::Rlimit& r = (*p.rlimits)[i];
      std::string label = "process.rlimits[" + std::to_string(i) + "] " + r.type;
      int resource = rlimitResource(r.type);
      if (resource < 0) fail(ErrorKind::kInvalidArgument, label + ": unknown rlimit");
      struct rlimit lim {};
      lim.rlim_cur = r.soft;
      lim.rlim_max = r.hard;
      sys(::setrlimit(static_cast<__rlimit_resource>(resource), &lim), label + ": setrlimit");
    }
  }
  if (linux && linux->personality) {
    // runc 1.2: the execution domain only; personality flags are not applied.
    const std::string& domain = linux->personality->domain;
    unsigned long persona = 0;
    if (domain == "LINUX") persona = PER_LINUX;
    else if (domain == "LINUX32") persona = PER_LINUX32;
    else fail(ErrorKind::kInvalidArgument, "linux.personality.domain: unknown domain \"" + domain + "\"");
    sys(::personality(persona), "linux.personality " + domain + ": personality");
  }
  if (p.ioPriority) {
    // <linux/ioprio.h> values: class in the top 3 of 16 bits, level below.
    int ioClass = 0;
    if (p.ioPriority->ioClass == "IOPRIO_CLASS_RT") ioClass = 1;
    else if (p.ioPriority->ioClass == "IOPRIO_CLASS_BE") ioClass = 2;
    else if (p.ioPriority->ioClass == "IOPRIO_CLASS_IDLE") ioClass = 3;
    else fail(ErrorKind::kInvalidArgument, "process.ioPriority.class: unknown class \"" + p.ioPriority->ioClass + "\"");
    int level = p.ioPriority->priority.value_or(0);
    if (level < 0 || level > 7) fail(ErrorKind::kInvalidArgument, "process.ioPriority.priority: must be 0..7");
    sys(::syscall(SYS_ioprio_set, 1 /* IOPRIO_WHO_PROCESS */, 0, (ioClass << 13) | level),
        "process.ioPriority " + p.ioPriority->ioClass + ": ioprio_set");
  }
  if (p.noNewPrivileges) sys(::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "process.noNewPrivileges");
  // Without no_new_privs, loading a filter needs CAP_SYS_ADMIN, which the user change below may
  // take away: load it now (runc does the same), so the profile must allow what follows.
  if (seccomp && !p.noNewPrivileges) seccomp->load();

  if (p.capabilities) applyBoundingSet(*p.capabilities);
  sys(::prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0), "keep capabilities across setuid");
  setupUser(p.user);
  sys(::prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0), "clear keep-capabilities");
  if (p.capabilities) applyCapabilities(*p.capabilities);
  ::umask(p.user.umask.value_or(0022));

  if (::chdir(p.cwd.c_str()) != 0) throwSysError(errno, "process.cwd " + p.cwd + ": chdir");

  std::vector<std::string> env = p.env.value_or(std::vector<std::string>{});
  if (!envValue(env, "HOME")) env.push_back("HOME=" + homeOf(p.user.uid));
  std::string path = lookPath(p.args[0], env);

  std::vector<char*> argv, envp;
  for (const std::string& a : p.args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  for (const std::string& e : env) envp.push_back(const_cast<char*>(e.c_str()));
  envp.push_back(nullptr);

  if (seccomp && p.noNewPrivileges) seccomp->load();
  ::execve(path.c_str(), argv.data(), envp.data());
  throwSysError(errno, "exec " + path);
}

}  // namespace kata::agent
