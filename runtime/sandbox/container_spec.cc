#include "runtime/sandbox/container_spec.h"

#include <fcntl.h>
#include <sys/stat.h>

#include <algorithm>
#include <cstring>

#include "common/error.h"
#include "common/root_path.h"

namespace kata::sandbox {
namespace {

bool hasOption(const nlohmann::json& mount, const char* opt) {
  auto it = mount.find("options");
  if (it == mount.end() || !it->is_array()) return false;
  return std::any_of(it->begin(), it->end(), [&](const nlohmann::json& o) { return o.is_string() && o == opt; });
}

bool isBind(const nlohmann::json& mount) {
  return mount.value("type", "") == "bind" || hasOption(mount, "bind") || hasOption(mount, "rbind");
}

bool underGuestOwn(const std::string& path) {
  for (const char* prefix : {"/dev", "/proc", "/sys"}) {
    size_t n = std::strlen(prefix);
    if (path.compare(0, n, prefix) == 0 && (path.size() == n || path[n] == '/')) return true;
  }
  return false;
}

const char* fileKind(mode_t mode) {
  if (S_ISSOCK(mode)) return "a socket";
  if (S_ISFIFO(mode)) return "a fifo";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  return "a special file";
}

// Creates, in the root on the host, the mount points the guest will mount on, as runc creates them
// in a root: the 9p server (QEMU, an unprivileged uid) could not create them in a root-owned image,
// and the caller may. Destinations inside another mount of the spec (/dev/pts inside /dev) are
// made by the agent in that mount, in the guest. Symlinks resolve inside the root (RESOLVE_IN_ROOT).
void createMountPoints(int rootFd, const nlohmann::json& mounts) {
  std::vector<std::string> dests;
  for (const auto& m : mounts)
    if (m.is_object() && m.contains("destination") && m["destination"].is_string())
      dests.push_back(cleanPath(m["destination"].get<std::string>()));
  auto coveredByAnother = [&](const std::string& d) {
    for (const auto& o : dests)
      if (o != d && (o == "/" || (d.size() > o.size() && d.compare(0, o.size(), o) == 0 && d[o.size()] == '/')))
        return true;
    return false;
  };
  for (const auto& m : mounts) {
    if (!m.is_object() || !m.contains("destination") || !m["destination"].is_string()) continue;
    std::string dest = cleanPath(m["destination"].get<std::string>());
    if (dest == "/" || coveredByAnother(dest)) continue;
    bool dir = true;
    if (isBind(m) && m.contains("source") && m["source"].is_string()) {
      struct stat st {};
      if (::stat(m["source"].get<std::string>().c_str(), &st) == 0) dir = S_ISDIR(st.st_mode);
    }
    try {
      (void)openInRoot(rootFd, dest, O_PATH);
    } catch (const Error&) {
      try {
        (void)createInRoot(rootFd, dest, dir);
      } catch (const Error& e) {
        // A read-only root the caller cannot write either: the agent reports what is missing.
        if (e.sysErrno() != EROFS && e.sysErrno() != EACCES && e.sysErrno() != EPERM) throw;
      }
    }
  }
}

}  // namespace

GuestContainerSpec prepareGuestSpec(const nlohmann::json& spec, const std::string& bundle, const std::string& shareTag,
                                    const std::function<std::string()>& newShareName) {
  GuestContainerSpec g;
  g.spec = spec;
  const std::string guestRoot = std::string(kGuestShareDir) + "/" + shareTag + "/";

  // The root file system.
  if (!spec.contains("root") || !spec["root"].contains("path"))
    fail(ErrorKind::kInvalidArgument, "config.json: root must be specified");
  std::string root = spec["root"]["path"].get<std::string>();
  if (root.empty() || root[0] != '/') root = bundle + "/" + root;
  GuestShare rootShare;
  rootShare.name = newShareName();
  rootShare.hostPath = root;
  rootShare.readOnly = spec["root"].value("readonly", false);
  rootShare.fd = UniqueFd(::open(root.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!rootShare.fd) throwSysError(errno, "open the root file system " + root);
  g.rootfsPath = rootShare.name;
  if (spec.contains("mounts") && spec["mounts"].is_array()) {
    UniqueFd rootDir(::open(root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!rootDir) throwSysError(errno, "open the root file system " + root);
    createMountPoints(rootDir.get(), spec["mounts"]);
  }
  g.shares.push_back(std::move(rootShare));

  // Bind mounts of host paths.
  if (g.spec.contains("mounts") && g.spec["mounts"].is_array()) {
    for (auto& m : g.spec["mounts"]) {
      if (!m.is_object() || !isBind(m) || !m.contains("source") || !m["source"].is_string()) continue;
      std::string src = m["source"].get<std::string>();
      const std::string dst = m.value("destination", "?");
      if (src.empty()) fail(ErrorKind::kInvalidArgument, "mount " + dst + ": a bind mount needs a source");
      if (src[0] != '/') src = bundle + "/" + src;
      if (underGuestOwn(src)) continue;
      struct stat st {};
      if (::stat(src.c_str(), &st) != 0) throwSysError(errno, "bind mount " + dst + ": stat " + src);
      if (!S_ISDIR(st.st_mode) && !S_ISREG(st.st_mode))
        fail(ErrorKind::kNotSupported, "bind mount " + dst + ": " + src + " is " + fileKind(st.st_mode) +
                                           ", which the VM's shared file system cannot carry");
      GuestShare share;
      share.name = newShareName();
      share.hostPath = src;
      share.readOnly = hasOption(m, "ro");
      share.fd = UniqueFd(::open(src.c_str(), O_PATH | O_CLOEXEC | (S_ISDIR(st.st_mode) ? O_DIRECTORY : 0)));
      if (!share.fd) throwSysError(errno, "bind mount " + dst + ": open " + src);
      m["source"] = guestRoot + share.name;
      g.shares.push_back(std::move(share));
    }
  }

  // What belongs to the host.
  g.spec.erase("hooks");
  if (g.spec.contains("linux") && g.spec["linux"].is_object()) {
    auto& linux = g.spec["linux"];
    linux.erase("cgroupsPath");
    if (linux.contains("namespaces") && linux["namespaces"].is_array()) {
      nlohmann::json kept = nlohmann::json::array();
      for (const auto& ns : linux["namespaces"]) {
        if (ns.is_object() && ns.value("type", "") == "network") {
          // The VM's network is the pod's: the agent keeps the entry (net.* sysctls are the pod's to
          // set, as runc allows them in a container with a network namespace) and creates none.
          g.netnsPath = ns.value("path", "");
          kept.push_back({{"type", "network"}});
          continue;
        }
        kept.push_back(ns);
      }
      linux["namespaces"] = kept;
    }
  }
  return g;
}

}  // namespace kata::sandbox
