#include "kata-vmmd/policy.h"

#include <fcntl.h>
#include <grp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <climits>
#include <sstream>
#include <toml.hpp>

#include "common/error.h"
#include "common/fd.h"
#include "common/fs.h"
#include "kata-vmmd/validation.h"

namespace kata::vmmd {
namespace {

constexpr size_t kMaxPolicyBytes = 1 << 20;
constexpr size_t kMaxListEntries = 4096;

[[noreturn]] void bad(const std::string& origin, const std::string& key, const std::string& why) {
  fail(ErrorKind::kInvalidArgument, "policy " + origin + ": " + key + ": " + why);
}

using Table = toml::value::table_type;

const Table& asTable(const toml::value& v, const std::string& origin, const std::string& key) {
  if (!v.is_table()) bad(origin, key, "must be a table");
  return v.as_table();
}

void checkKeys(const Table& t, const std::set<std::string>& known, const std::string& origin,
               const std::string& where) {
  for (const auto& [k, _] : t)
    if (!known.count(k)) bad(origin, where.empty() ? k : where + "." + k, "unknown key (check the spelling)");
}

uint64_t asUnsigned(const toml::value& v, const std::string& origin, const std::string& key, uint64_t max) {
  if (!v.is_integer()) bad(origin, key, "must be an integer");
  auto n = v.as_integer();
  if (n < 0 || static_cast<uint64_t>(n) > max)
    bad(origin, key, std::to_string(n) + " is out of range 0.." + std::to_string(max));
  return static_cast<uint64_t>(n);
}

std::string asString(const toml::value& v, const std::string& origin, const std::string& key) {
  if (!v.is_string()) bad(origin, key, "must be a string");
  const std::string& s = v.as_string().str;
  if (s.size() > 4096) bad(origin, key, "longer than 4096 bytes");
  return s;
}

const toml::value::array_type& asArray(const toml::value& v, const std::string& origin, const std::string& key) {
  if (!v.is_array()) bad(origin, key, "must be an array");
  if (v.as_array().size() > kMaxListEntries) bad(origin, key, "more than 4096 entries");
  return v.as_array();
}

gid_t parseGroup(const toml::value& v, const std::string& origin, const std::string& key) {
  if (v.is_integer()) return static_cast<gid_t>(asUnsigned(v, origin, key, UINT32_MAX - 1));
  std::string name = asString(v, origin, key);
  group grp{};
  group* result = nullptr;
  std::vector<char> buf(16384);
  int rc = ::getgrnam_r(name.c_str(), &grp, buf.data(), buf.size(), &result);
  if (rc != 0 || result == nullptr) bad(origin, key, "group \"" + name + "\" does not exist");
  return result->gr_gid;
}

Limits parseLimits(const Table& t, const Limits& base, const std::string& origin, const std::string& where) {
  checkKeys(t, {"max_sandboxes", "max_memory_mib", "max_vcpus"}, origin, where);
  Limits l = base;
  if (auto it = t.find("max_sandboxes"); it != t.end())
    l.maxSandboxes = static_cast<uint32_t>(asUnsigned(it->second, origin, where + ".max_sandboxes", 4096));
  if (auto it = t.find("max_memory_mib"); it != t.end())
    l.maxMemoryMiB = asUnsigned(it->second, origin, where + ".max_memory_mib", uint64_t{1} << 30);
  if (auto it = t.find("max_vcpus"); it != t.end())
    l.maxVcpus = static_cast<uint32_t>(asUnsigned(it->second, origin, where + ".max_vcpus", 4096));
  return l;
}

bool isHex(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); }

void checkOwnerAndMode(const struct stat& st, const std::string& path, const std::string& what) {
  uid_t me = ::geteuid();
  if (st.st_uid != 0 && st.st_uid != me)
    fail(ErrorKind::kPermissionDenied, what + " " + path + " is owned by uid " + std::to_string(st.st_uid) +
                                           ", not root: refusing it (chown root " + path + ")");
}

}  // namespace

void validatePciAddress(const std::string& bdf) {
  // dddd:bb:dd.f
  bool ok = bdf.size() == 12 && bdf[4] == ':' && bdf[7] == ':' && bdf[10] == '.' && bdf[11] >= '0' &&
            bdf[11] <= '7';
  for (size_t i : {0, 1, 2, 3, 5, 6, 8, 9}) ok = ok && isHex(bdf[i]);
  if (!ok)
    fail(ErrorKind::kInvalidArgument,
         "invalid PCI address \"" + bdf.substr(0, 64) + "\" (expected dddd:bb:dd.f in lower-case hex)");
}

Policy parsePolicy(const std::string& text, const std::string& origin) {
  toml::value root;
  try {
    std::istringstream in(text);
    root = toml::parse(in, origin);
  } catch (const std::exception& e) {
    fail(ErrorKind::kInvalidArgument, "policy " + origin + " is not valid TOML: " + e.what());
  }
  Policy p;
  const Table& top = asTable(root, origin, "(document)");
  checkKeys(top, {"socket", "access", "limits", "devices", "network", "vm"}, origin, "");

  if (auto it = top.find("socket"); it != top.end()) {
    const Table& t = asTable(it->second, origin, "socket");
    checkKeys(t, {"mode", "group"}, origin, "socket");
    if (auto m = t.find("mode"); m != t.end()) {
      p.socketMode = static_cast<mode_t>(asUnsigned(m->second, origin, "socket.mode", 0777));
      if (p.socketMode & 0007)
        bad(origin, "socket.mode", "must not grant access to others (use group access and socket.group)");
    }
    if (auto g = t.find("group"); g != t.end()) p.socketGid = parseGroup(g->second, origin, "socket.group");
  }

  if (auto it = top.find("access"); it != top.end()) {
    const Table& t = asTable(it->second, origin, "access");
    checkKeys(t, {"uids", "gids"}, origin, "access");
    if (auto u = t.find("uids"); u != t.end())
      for (const auto& v : asArray(u->second, origin, "access.uids"))
        p.allowedUids.insert(static_cast<uid_t>(asUnsigned(v, origin, "access.uids", UINT32_MAX - 1)));
    if (auto g = t.find("gids"); g != t.end())
      for (const auto& v : asArray(g->second, origin, "access.gids")) p.allowedGids.insert(parseGroup(v, origin, "access.gids"));
  }

  if (auto it = top.find("limits"); it != top.end()) {
    const Table& t = asTable(it->second, origin, "limits");
    Table defaults;
    for (const auto& [k, v] : t)
      if (k != "uid") defaults.emplace(k, v);
    p.defaultLimits = parseLimits(defaults, Limits{}, origin, "limits");
    if (auto u = t.find("uid"); u != t.end()) {
      const Table& perUid = asTable(u->second, origin, "limits.uid");
      if (perUid.size() > kMaxListEntries) bad(origin, "limits.uid", "more than 4096 entries");
      for (const auto& [k, v] : perUid) {
        std::string where = "limits.uid." + k;
        if (k.empty() || k.size() > 10 || k.find_first_not_of("0123456789") != std::string::npos)
          bad(origin, where, "the key must be a numeric uid");
        uint64_t uid = std::stoull(k);
        if (uid >= UINT32_MAX) bad(origin, where, "uid out of range");
        p.uidLimits[static_cast<uid_t>(uid)] = parseLimits(asTable(v, origin, where), p.defaultLimits, origin, where);
      }
    }
  }

  if (auto it = top.find("devices"); it != top.end()) {
    const Table& t = asTable(it->second, origin, "devices");
    checkKeys(t, {"vfio_groups", "sriov_pfs", "vhost_user_dirs", "emulated"}, origin, "devices");
    if (auto v = t.find("vfio_groups"); v != t.end())
      for (const auto& g : asArray(v->second, origin, "devices.vfio_groups"))
        p.vfioGroups.insert(static_cast<unsigned>(asUnsigned(g, origin, "devices.vfio_groups", 1u << 20)));
    if (auto v = t.find("sriov_pfs"); v != t.end())
      for (const auto& s : asArray(v->second, origin, "devices.sriov_pfs")) {
        std::string bdf = asString(s, origin, "devices.sriov_pfs");
        try {
          validatePciAddress(bdf);
        } catch (const Error& e) {
          bad(origin, "devices.sriov_pfs", e.what());
        }
        p.sriovPfs.insert(bdf);
      }
    if (auto v = t.find("vhost_user_dirs"); v != t.end())
      for (const auto& s : asArray(v->second, origin, "devices.vhost_user_dirs")) {
        std::string dir = asString(s, origin, "devices.vhost_user_dirs");
        try {
          security::validateAbsolutePath(dir, "vhost-user socket directory");
        } catch (const Error& e) {
          bad(origin, "devices.vhost_user_dirs", e.what());
        }
        p.vhostUserDirs.push_back(dir);
      }
    if (auto v = t.find("emulated"); v != t.end()) {
      p.emulatedDevices.clear();
      for (const auto& s : asArray(v->second, origin, "devices.emulated")) {
        std::string d = asString(s, origin, "devices.emulated");
        if (d.empty() || d.size() > 64 ||
            d.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_") != std::string::npos)
          bad(origin, "devices.emulated", "\"" + d.substr(0, 64) + "\" is not a device driver name");
        p.emulatedDevices.insert(d);
      }
    }
  }

  if (auto it = top.find("network"); it != top.end()) {
    const Table& t = asTable(it->second, origin, "network");
    checkKeys(t, {"trusted_uids", "max_interfaces"}, origin, "network");
    if (auto u = t.find("trusted_uids"); u != t.end())
      for (const auto& v : asArray(u->second, origin, "network.trusted_uids"))
        p.netnsTrustedUids.insert(static_cast<uid_t>(asUnsigned(v, origin, "network.trusted_uids", UINT32_MAX - 1)));
    if (auto m = t.find("max_interfaces"); m != t.end())
      p.maxInterfaces = static_cast<uint32_t>(asUnsigned(m->second, origin, "network.max_interfaces", 8));
  }

  if (auto it = top.find("vm"); it != top.end()) {
    const Table& t = asTable(it->second, origin, "vm");
    checkKeys(t, {"qemu_binary", "accel", "qemu_uid", "qemu_gid", "virtiofsd"}, origin, "vm");
    if (auto v = t.find("virtiofsd"); v != t.end()) {
      p.virtiofsd = asString(v->second, origin, "vm.virtiofsd");
      if (!p.virtiofsd.empty()) {
        try {
          security::validateAbsolutePath(p.virtiofsd, "vm.virtiofsd");
        } catch (const Error& e) {
          bad(origin, "vm.virtiofsd", e.what());
        }
      }
    }
    if (auto v = t.find("qemu_binary"); v != t.end()) {
      p.qemuBinary = asString(v->second, origin, "vm.qemu_binary");
      try {
        security::validateAbsolutePath(p.qemuBinary, "vm.qemu_binary");
      } catch (const Error& e) {
        bad(origin, "vm.qemu_binary", e.what());
      }
    }
    if (auto v = t.find("accel"); v != t.end()) {
      p.accel = asString(v->second, origin, "vm.accel");
      if (p.accel != "auto" && p.accel != "kvm" && p.accel != "tcg") bad(origin, "vm.accel", "must be auto, kvm or tcg");
    }
    if (auto v = t.find("qemu_uid"); v != t.end())
      p.qemuUid = static_cast<uid_t>(asUnsigned(v->second, origin, "vm.qemu_uid", UINT32_MAX - 1));
    if (auto v = t.find("qemu_gid"); v != t.end())
      p.qemuGid = static_cast<gid_t>(asUnsigned(v->second, origin, "vm.qemu_gid", UINT32_MAX - 1));
    if ((p.qemuUid == 0) != (p.qemuGid == 0)) bad(origin, "vm.qemu_uid", "set qemu_uid and qemu_gid together");
  }
  return p;
}

Policy loadPolicy(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
  if (!fd) throwSysError(errno, "open policy file " + path + " (create it or pass --policy)");
  struct stat st{};
  KATA_SYSCALL(::fstat(fd.get(), &st), path);
  if (!S_ISREG(st.st_mode)) fail(ErrorKind::kPermissionDenied, "policy " + path + " is not a regular file");
  checkOwnerAndMode(st, path, "policy file");
  if (st.st_mode & (S_IWGRP | S_IWOTH))
    fail(ErrorKind::kPermissionDenied, "policy file " + path + " is writable by group or others (mode " +
                                           ([&] { std::ostringstream o; o << std::oct << (st.st_mode & 07777); return o.str(); })() +
                                           "): refusing it (chmod go-w " + path + ")");
  std::string::size_type slash = path.rfind('/');
  checkSecureDir(slash == std::string::npos || slash == 0 ? (slash == 0 ? "/" : ".") : path.substr(0, slash));
  std::string text;
  char buf[8192];
  for (;;) {
    ssize_t n = KATA_SYSCALL(::read(fd.get(), buf, sizeof buf), path);
    if (n == 0) break;
    if (text.size() + static_cast<size_t>(n) > kMaxPolicyBytes)
      fail(ErrorKind::kInvalidArgument, "policy " + path + " is larger than 1 MiB");
    text.append(buf, static_cast<size_t>(n));
  }
  return parsePolicy(text, path);
}

void checkSecureDir(const std::string& path) {
  std::string p = path;
  while (!p.empty()) {
    struct stat st{};
    if (::stat(p.c_str(), &st) == 0) {
      if (!S_ISDIR(st.st_mode)) fail(ErrorKind::kPermissionDenied, p + " is not a directory");
      checkOwnerAndMode(st, p, "directory");
      if ((st.st_mode & (S_IWGRP | S_IWOTH)) && !(st.st_mode & S_ISVTX))
        fail(ErrorKind::kPermissionDenied, "directory " + p + " is writable by group or others: refusing to "
                                           "keep the daemon's socket or state below it (chmod go-w " + p + ")");
    } else if (errno != ENOENT) {
      throwSysError(errno, "stat " + p);
    }
    if (p == "/" || p == ".") break;
    auto slash = p.rfind('/');
    p = slash == 0 ? "/" : (slash == std::string::npos ? "." : p.substr(0, slash));
  }
}

void authorizeConnect(const Policy& policy, const CallerId& caller) {
  if (caller.isRoot() || policy.allowedUids.count(caller.uid) || policy.allowedGids.count(caller.gid)) return;
  for (gid_t g : caller.groups)
    if (policy.allowedGids.count(g)) return;
  std::string groups;
  for (size_t i = 0; i < caller.groups.size() && i < 16; ++i) groups += (i ? "," : "") + std::to_string(caller.groups[i]);
  if (caller.groups.size() > 16) groups += ",...";
  fail(ErrorKind::kPermissionDenied, "uid " + std::to_string(caller.uid) + " (gid " + std::to_string(caller.gid) +
                                         (groups.empty() ? std::string(", no supplementary groups")
                                                         : ", groups " + groups) +
                                         ") is not allowed to use kata-vmmd: ask the administrator to add it to "
                                         "[access] uids or gids in the daemon's policy file");
}

const Limits& limitsFor(const Policy& policy, uid_t uid) {
  auto it = policy.uidLimits.find(uid);
  return it == policy.uidLimits.end() ? policy.defaultLimits : it->second;
}

void authorizeCreate(const Policy& policy, const CallerId& caller, const Usage& current, uint32_t vcpus,
                     uint64_t memoryMiB) {
  if (caller.isRoot()) return;
  const Limits& l = limitsFor(policy, caller.uid);
  std::string who = "uid " + std::to_string(caller.uid);
  if (current.sandboxes + 1 > l.maxSandboxes)
    fail(ErrorKind::kPermissionDenied, who + " already has " + std::to_string(current.sandboxes) +
                                           " sandboxes, the policy's limit is " + std::to_string(l.maxSandboxes) +
                                           ": destroy one first");
  if (current.vcpus + static_cast<uint64_t>(vcpus) > l.maxVcpus)
    fail(ErrorKind::kPermissionDenied, who + " would use " + std::to_string(current.vcpus + uint64_t{vcpus}) +
                                           " vCPUs, the policy's limit is " + std::to_string(l.maxVcpus));
  if (current.memoryMiB + memoryMiB > l.maxMemoryMiB)
    fail(ErrorKind::kPermissionDenied, who + " would use " + std::to_string(current.memoryMiB + memoryMiB) +
                                           " MiB of guest memory, the policy's limit is " +
                                           std::to_string(l.maxMemoryMiB) + " MiB");
}

void authorizeAccess(const CallerId& caller, uid_t owner, const std::string& sandboxId) {
  if (caller.isRoot() || caller.uid == owner) return;
  // The same words as for an id that does not exist: another uid's sandboxes are invisible.
  fail(ErrorKind::kNotFound, "sandbox " + sandboxId + " does not exist");
}

void authorizeNetns(const Policy& policy, const CallerId& caller, const netdev::NetnsOwnership& owner,
                    const std::string& nsName) {
  if (owner.isOurNetns)
    fail(ErrorKind::kPermissionDenied, "network namespace " + nsName +
                                           " is kata-vmmd's own (the host's): its interfaces cannot be carried into "
                                           "a VM; pass the pod's network namespace");
  if (caller.isRoot() || policy.netnsTrustedUids.count(caller.uid)) return;
  // The kernel's rule for a process of the initial user namespace: CAP_SYS_ADMIN over the namespace
  // when the user namespace just below ours on its chain was created by the caller's uid.
  if (!owner.ownedByOurUserns && !owner.userChain.empty() && owner.userChain.back() == caller.uid) return;
  std::string who = "uid " + std::to_string(caller.uid);
  std::string whose = owner.ownedByOurUserns ? "it belongs to root (it was not created in a user namespace of " + who + ")"
                                             : "it belongs to a user namespace of uid " +
                                                   std::to_string(owner.userChain.back());
  fail(ErrorKind::kPermissionDenied, who + " may not use network namespace " + nsName + ": " + whose +
                                         "; use a namespace of your own user namespace, or ask the administrator "
                                         "to add the uid to [network] trusted_uids");
}

void authorizeEmulatedDevice(const Policy& policy, const std::string& driver) {
  if (!policy.emulatedDevices.count(driver))
    fail(ErrorKind::kPermissionDenied, "device driver \"" + driver.substr(0, 64) +
                                           "\" is not on the policy's [devices] emulated list");
}

void authorizeVfio(const Policy& policy, const std::string& sysfsRoot, const std::string& bdf) {
  validatePciAddress(bdf);
  std::string dev = sysfsRoot + "/bus/pci/devices/" + bdf;
  char buf[PATH_MAX];
  ssize_t n = ::readlink((dev + "/iommu_group").c_str(), buf, sizeof(buf) - 1);
  if (n < 0) {
    if (errno == ENOENT)
      fail(ErrorKind::kNotFound, "PCI device " + bdf + " does not exist or has no IOMMU group (is the IOMMU on?)");
    throwSysError(errno, "readlink " + dev + "/iommu_group");
  }
  std::string target(buf, static_cast<size_t>(n));
  std::string group = target.substr(target.rfind('/') + 1);
  if (!group.empty() && group.size() <= 7 && group.find_first_not_of("0123456789") == std::string::npos &&
      policy.vfioGroups.count(static_cast<unsigned>(std::stoul(group))))
    return;
  n = ::readlink((dev + "/physfn").c_str(), buf, sizeof(buf) - 1);
  if (n > 0) {
    std::string pf(buf, static_cast<size_t>(n));
    pf = pf.substr(pf.rfind('/') + 1);
    if (policy.sriovPfs.count(pf)) return;
  }
  fail(ErrorKind::kPermissionDenied, "PCI device " + bdf + " (IOMMU group " + group +
                                         ") is not allowed by the policy's [devices] vfio_groups or sriov_pfs");
}

void authorizeVhostUserSocket(const Policy& policy, const std::string& socketPath) {
  security::validateAbsolutePath(socketPath, "vhost-user socket");
  std::string dir = socketPath.substr(0, socketPath.rfind('/'));
  for (const auto& allowed : policy.vhostUserDirs)
    if (dir == allowed) return;
  fail(ErrorKind::kPermissionDenied, "vhost-user socket " + socketPath +
                                         " is not in a directory on the policy's [devices] vhost_user_dirs");
}

}  // namespace kata::vmmd
