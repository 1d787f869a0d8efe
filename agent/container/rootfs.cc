// The container's mount namespace, in runc's order (libcontainer/rootfs_linux.go prepareRootfs):
// root propagation, rootfs bound onto itself, the OCI mounts, devices and /dev links, pivot_root,
// readonlyPaths, maskedPaths, read-only root. Every destination is resolved inside the rootfs.
#include <fcntl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <sstream>

#include "agent/container/mount_options.h"
#include "agent/container/process_init.h"
#include "agent/container/rootfs_path.h"
#include "common/error.h"
#include "common/fs.h"

namespace kata::agent {
namespace {

void doMount(const std::string& source, const std::string& target, const char* fstype, unsigned long flags,
             const std::string& data, const std::string& what) {
  if (::mount(source.empty() ? nullptr : source.c_str(), target.c_str(), fstype, flags,
              data.empty() ? nullptr : data.c_str()) != 0)
    throwSysError(errno, what);
}

// Flags a remount must keep: the kernel refuses (EPERM) to clear nosuid/nodev/noexec/atime flags
// that are locked, e.g. inherited from a more privileged mount namespace.
unsigned long lockedFlags(const std::string& path) {
  struct statvfs st {};
  if (::statvfs(path.c_str(), &st) != 0) return 0;
  unsigned long f = 0;
  if (st.f_flag & ST_NOSUID) f |= MS_NOSUID;
  if (st.f_flag & ST_NODEV) f |= MS_NODEV;
  if (st.f_flag & ST_NOEXEC) f |= MS_NOEXEC;
  if (st.f_flag & ST_NOATIME) f |= MS_NOATIME;
  if (st.f_flag & ST_NODIRATIME) f |= MS_NODIRATIME;
  if (st.f_flag & ST_RELATIME) f |= MS_RELATIME;
  return f;
}

void remount(const std::string& target, unsigned long flags, const std::string& what) {
  if (::mount(nullptr, target.c_str(), nullptr, flags | MS_REMOUNT, nullptr) == 0) return;
  if (errno != EPERM) throwSysError(errno, what);
  doMount("", target, nullptr, flags | MS_REMOUNT | lockedFlags(target), "", what);
}

// Mount points from /proc/self/mountinfo with their file-system types (octal escapes decoded).
struct MountInfo {
  std::string root, mountPoint, fsType;
};
std::vector<MountInfo> readMountInfo() {
  std::vector<MountInfo> out;
  std::istringstream in(readFile("/proc/self/mountinfo", 16 << 20));
  std::string line;
  auto unescape = [](const std::string& s) {
    std::string r;
    for (size_t i = 0; i < s.size(); ++i) {
      if (s[i] == '\\' && i + 3 < s.size()) {
        r += static_cast<char>(std::stoi(s.substr(i + 1, 3), nullptr, 8));
        i += 3;
      } else {
        r += s[i];
      }
    }
    return r;
  };
  while (std::getline(in, line)) {
    std::istringstream l(line);
    std::string id, parent, dev, root, mp, word;
    l >> id >> parent >> dev >> root >> mp;
    while (l >> word && word != "-") {
    }
    std::string fstype;
    l >> fstype;
    out.push_back({unescape(root), unescape(mp), fstype});
  }
  return out;
}

bool isUnder(const std::string& path, const std::string& dir) {
  if (dir == "/") return true;
  return path == dir || (path.size() > dir.size() && path.compare(0, dir.size(), dir) == 0 && path[dir.size()] == '/');
}

// Destinations under /proc other than these could hide or fake kernel interfaces (runc's list:
// files lxcfs-style tools emulate).
void checkProcDestination(const std::string& dest, size_t index) {
  static const char* const kAllowed[] = {"/proc/cpuinfo", "/proc/diskstats", "/proc/meminfo", "/proc/stat",
                                         "/proc/swaps", "/proc/uptime", "/proc/loadavg", "/proc/slabinfo",
                                         "/proc/net/dev", "/proc/sys/kernel/ns_last_pid"};
  if (dest == "/proc" || !isUnder(dest, "/proc")) return;
  for (const char* a : kAllowed) {
    if (dest == a) return;
  }
  fail(ErrorKind::kInvalidArgument, "mounts[" + std::to_string(index) + "]: destination " + dest +
                                        " is inside /proc, which is not allowed");
}

struct DefaultDevice {
  const char* path;
  unsigned major, minor;
};
constexpr DefaultDevice kDefaultDevices[] = {{"/dev/null", 1, 3},   {"/dev/zero", 1, 5},    {"/dev/full", 1, 7},
                                             {"/dev/random", 1, 8}, {"/dev/urandom", 1, 9}, {"/dev/tty", 5, 0}};

class RootfsSetup {
 public:
  RootfsSetup(const oci::Spec& spec, std::string rootfs, const RootfsOptions& options)
      : spec_(spec), rootfs_(std::move(rootfs)), options_(options) {}

  void run() {
    prepareRoot();
    rootFd_ = UniqueFd(KATA_SYSCALL(::open(rootfs_.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC), "open rootfs " + rootfs_));
    if (spec_.mounts) {
      for (size_t i = 0; i < spec_.mounts->size(); ++i) mountOne((*spec_.mounts)[i], i);
    }
    if (setupDev()) {
      mode_t old = ::umask(0);
      try {
        createDevices();
      } catch (...) {
        ::umask(old);
        throw;
      }
      ::umask(old);
      devSymlinks();
    }
    rootFd_.reset();
    enterRoot();
    if (options_.applySysctl) applySysctls(spec_);
    const oci::Linux* l = spec_.linux ? &*spec_.linux : nullptr;
    if (l && l->readonlyPaths) {
      for (const std::string& p : *l->readonlyPaths) readonlyPath(p);
    }
    if (l && l->maskedPaths) {
      for (const std::string& p : *l->maskedPaths) maskPath(p);
    }
    if (devReadonly_) remount("/dev", MS_BIND | MS_RDONLY, "remount /dev read-only");
    if (spec_.root && spec_.root->readonly) remount("/", MS_BIND | MS_RDONLY, "root.readonly: remount / read-only");
  }

 private:
  void prepareRoot() {
    std::string propagation = "rslave";
    if (spec_.linux && spec_.linux->rootfsPropagation) propagation = *spec_.linux->rootfsPropagation;
    doMount("", "/", nullptr, parsePropagation(propagation), "", "linux.rootfsPropagation: make / " + propagation);
    // The rootfs's parent mount must be private: pivot_root refuses a shared parent, and the
    // rootfs bind below must not propagate anywhere.
    char* real = ::realpath(rootfs_.c_str(), nullptr);
    if (!real) throwSysError(errno, "rootfs " + rootfs_);
    rootfs_ = real;
    ::free(real);
    std::string parentMount = "/";
    for (const MountInfo& m : readMountInfo()) {
      if (isUnder(rootfs_, m.mountPoint) && m.mountPoint.size() > parentMount.size()) parentMount = m.mountPoint;
    }
    doMount("", parentMount, nullptr, MS_PRIVATE, "", "make the rootfs's parent mount " + parentMount + " private");
    doMount(rootfs_, rootfs_, nullptr, MS_BIND | MS_REC, "", "bind rootfs " + rootfs_ + " onto itself");
  }

  UniqueFd openSource(const std::string& source, size_t index) {
    std::string what = "mounts[" + std::to_string(index) + "]: source " + source;
    if (!source.empty() && source[0] == '/') {
      return UniqueFd(KATA_SYSCALL(::open(source.c_str(), O_PATH | O_CLOEXEC), what));
    }
    if (!baseFd_) {
      std::string base = options_.sourceBase;
      if (base.empty()) base = rootfs_.substr(0, std::max<size_t>(rootfs_.rfind('/'), 1));
      baseFd_ = UniqueFd(KATA_SYSCALL(::open(base.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC), "mount source base " + base));
    }
    try {
      return openInRoot(baseFd_.get(), source, O_PATH);
    } catch (const Error& e) {
      throw Error(e.kind(), what + ": " + e.what(), e.sysErrno());
    }
  }

  void mountOne(const oci::Mount& m, size_t index) {
    std::string dest = cleanPath(m.destination);
    std::string label = "mounts[" + std::to_string(index) + "] " + dest;
    checkProcDestination(dest, index);
    std::string type = m.type.value_or("");
    std::string source = m.source.value_or("");
    MountOptions opts = parseMountOptions(m.options.value_or(std::vector<std::string>{}));
    bool bind = (opts.flags & MS_BIND) || type == "bind";
    try {
      if (bind) {
        UniqueFd src = openSource(source, index);
        struct stat st {};
        KATA_SYSCALL(::fstat(src.get(), &st), label + ": stat source");
        UniqueFd dst = createInRoot(rootFd_.get(), dest, S_ISDIR(st.st_mode));
        checkProcDestination(pathInRoot(dst.get()), index);
        doMount(procFdPath(src.get()), procFdPath(dst.get()), nullptr, MS_BIND | (opts.flags & MS_REC), "",
                label + ": bind " + source);
        // A bind ignores every other flag: ro, nosuid, ... need a remount of the new mount.
        if (opts.flags & ~(MS_REC | MS_REMOUNT | MS_BIND)) {
          UniqueFd top = openInRoot(rootFd_.get(), dest, O_PATH);
          remount(procFdPath(top.get()), (opts.flags & ~MS_REC) | MS_BIND, label + ": remount with options");
        }
      } else {
        unsigned long flags = opts.flags;
        // /dev read-only would stop us creating device nodes; made read-only at the end instead.
        if (dest == "/dev" && (flags & MS_RDONLY)) {
          flags &= ~MS_RDONLY;
          devReadonly_ = true;
        }
        // On a cgroup v2 kernel there is one hierarchy: a v1 "cgroup" mount becomes cgroup2.
        if (type == "cgroup") type = "cgroup2";
        if (type.empty()) fail(ErrorKind::kInvalidArgument, label + ": no type");
        UniqueFd dst = createInRoot(rootFd_.get(), dest, true);
        // The lexical check above is not enough: a symlink in the image may lead into /proc.
        if (type != "proc") checkProcDestination(pathInRoot(dst.get()), index);
        std::string target = procFdPath(dst.get());
        if (type == "mqueue" &&
            ::mount(source.empty() ? "mqueue" : source.c_str(), target.c_str(), "mqueue", flags, nullptr) != 0) {
          // Not permitted (a user namespace without its own ipc namespace): the guest's
          // /dev/mqueue instead, as runc does.
          if (errno != EPERM) throwSysError(errno, label + ": mount mqueue");
          doMount("/dev/mqueue", target, nullptr, MS_BIND, "", label + ": bind /dev/mqueue");
        } else if ((type == "sysfs" || type == "cgroup2") &&
                   ::mount(source.empty() ? type.c_str() : source.c_str(), target.c_str(), type.c_str(), flags,
                           opts.data.empty() ? nullptr : opts.data.c_str()) != 0) {
          // runc's fallbacks for a user namespace. sysfs: the kernel refuses (EPERM) a fresh sysfs
          // to a user namespace that does not own the network namespace, which in the pod is the
          // VM's: bind the guest's /sys recursively instead. cgroup2: a fresh mount needs a cgroup
          // namespace owned by the user namespace (EPERM without one; EBUSY is runc's other case):
          // bind the container's own cgroup (runc binds the whole /sys/fs/cgroup without a cgroup
          // namespace; in the VM that would show the pod's other containers).
          int err = errno;
          bool fallback = err == EPERM || (type == "cgroup2" && err == EBUSY);
          if (!fallback) throwSysError(err, label + ": mount " + type);
          std::string from = type == "sysfs" ? "/sys" : options_.cgroupPath.empty() ? "/sys/fs/cgroup" : options_.cgroupPath;
          bindGuestDir(from, dest, flags,
                       label + ": bind " + from + " (a fresh " + type + " mount was refused: " + std::strerror(err) + ")");
        } else if (type != "mqueue" && type != "sysfs" && type != "cgroup2") {
          doMount(source.empty() ? type : source, target, type.c_str(), flags, opts.data, label + ": mount " + type);
        }
      }
      if (dest == "/dev" && bind) devBound_ = true;
      for (unsigned long p : opts.propagation) {
        UniqueFd top = openInRoot(rootFd_.get(), dest, O_PATH);
        doMount("", procFdPath(top.get()), nullptr, p, "", label + ": set propagation");
      }
    } catch (const Error& e) {
      std::string msg = e.what();
      if (msg.rfind("mounts[", 0) == 0) throw;
      throw Error(e.kind(), label + ": " + msg, e.sysErrno());
    }
  }

  // Binds a guest directory (recursively: its submounts may be locked to it) at dest, then applies
  // the mount's flags (ro, nosuid, ...) with a remount, as for any bind.
  void bindGuestDir(const std::string& from, const std::string& dest, unsigned long flags, const std::string& what) {
    UniqueFd src(KATA_SYSCALL(::open(from.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC), what + ": open " + from));
    UniqueFd dst = openInRoot(rootFd_.get(), dest, O_PATH);
    doMount(procFdPath(src.get()), procFdPath(dst.get()), nullptr, MS_BIND | MS_REC, "", what);
    unsigned long extra = flags & ~(MS_REC | MS_BIND | MS_REMOUNT);
    if (extra) {
      UniqueFd top = openInRoot(rootFd_.get(), dest, O_PATH);
      remount(procFdPath(top.get()), extra | MS_BIND, what + ": remount with options");
    }
  }

  // Where an fd from openInRoot really is, as a path inside the rootfs ("/proc/x"), for the checks
  // that must see through symlinks in the image.
  std::string pathInRoot(int fd) const {
    char buf[4096];
    ssize_t n = ::readlink(procFdPath(fd).c_str(), buf, sizeof buf - 1);
    if (n < 0) throwSysError(errno, "readlink " + procFdPath(fd));
    std::string real(buf, static_cast<size_t>(n));
    if (!isUnder(real, rootfs_)) fail(ErrorKind::kInvalidArgument, "resolved outside the rootfs: " + real);
    std::string rel = real.substr(rootfs_.size());
    return rel.empty() ? "/" : rel;
  }

  // runc creates device nodes unless /dev itself is a bind mount.
  bool setupDev() const { return !devBound_; }

  void makeDevice(const std::string& path, mode_t type, unsigned major, unsigned minor, mode_t perm, uid_t uid,
                  gid_t gid, const std::string& label) {
    std::string dest = cleanPath(path);
    size_t slash = dest.rfind('/');
    std::string dir = dest.substr(0, slash);
    std::string name = dest.substr(slash + 1);
    if (name.empty()) fail(ErrorKind::kInvalidArgument, label + ": path " + path + " names no file");
    UniqueFd parent = createInRoot(rootFd_.get(), dir.empty() ? "/" : dir, true);
    if (::mknodat(parent.get(), name.c_str(), type | perm, makedev(major, minor)) != 0) {
      if (errno == EEXIST) return;
      if (errno != EPERM) throwSysError(errno, label + ": mknod " + dest);
      // Not allowed to create nodes (user namespace): bind the guest's node, as runc does.
      UniqueFd dst = createInRoot(rootFd_.get(), dest, false);
      UniqueFd src(KATA_SYSCALL(::open(dest.c_str(), O_PATH | O_CLOEXEC), label + ": open guest node " + dest));
      doMount(procFdPath(src.get()), procFdPath(dst.get()), nullptr, MS_BIND, "", label + ": bind guest node " + dest);
      return;
    }
    KATA_SYSCALL(::fchownat(parent.get(), name.c_str(), uid, gid, AT_SYMLINK_NOFOLLOW), label + ": chown " + dest);
    KATA_SYSCALL(::fchmodat(parent.get(), name.c_str(), perm, 0), label + ": chmod " + dest);
  }

  void createDevices() {
    const std::vector<oci::Device>* devices =
        spec_.linux && spec_.linux->devices ? &*spec_.linux->devices : nullptr;
    for (const DefaultDevice& d : kDefaultDevices) {
      bool listed = devices && std::any_of(devices->begin(), devices->end(),
                                           [&](const oci::Device& x) { return cleanPath(x.path) == d.path; });
      if (!listed) makeDevice(d.path, S_IFCHR, d.major, d.minor, 0666, 0, 0, std::string("default device ") + d.path);
    }
    if (!devices) return;
    for (size_t i = 0; i < devices->size(); ++i) {
      const oci::Device& d = (*devices)[i];
      std::string label = "linux.devices[" + std::to_string(i) + "] " + d.path;
      mode_t type = 0;
      if (d.type == "c" || d.type == "u") type = S_IFCHR;
      else if (d.type == "b") type = S_IFBLK;
      else if (d.type == "p") type = S_IFIFO;
      else fail(ErrorKind::kInvalidArgument, label + ": unknown type \"" + d.type + "\"");
      if (type != S_IFIFO && (!d.major || !d.minor || *d.major < 0 || *d.minor < 0))
        fail(ErrorKind::kInvalidArgument, label + ": major and minor are required");
      mode_t perm = d.fileMode ? (*d.fileMode & 07777) : 0666;
      makeDevice(d.path, type, static_cast<unsigned>(d.major.value_or(0)), static_cast<unsigned>(d.minor.value_or(0)),
                 perm, d.uid.value_or(0), d.gid.value_or(0), label);
    }
  }

  void devSymlinks() {
    UniqueFd dev = createInRoot(rootFd_.get(), "/dev", true);
    const std::pair<const char*, const char*> links[] = {
        {"/proc/self/fd", "fd"}, {"/proc/self/fd/0", "stdin"}, {"/proc/self/fd/1", "stdout"}, {"/proc/self/fd/2", "stderr"}};
    for (const auto& [target, name] : links) {
      if (::symlinkat(target, dev.get(), name) != 0 && errno != EEXIST)
        throwSysError(errno, std::string("symlink /dev/") + name);
    }
    // /dev/ptmx must be the devpts instance's (pts/ptmx), not a node from anywhere else.
    if (::unlinkat(dev.get(), "ptmx", 0) != 0 && errno != ENOENT) throwSysError(errno, "remove /dev/ptmx");
    KATA_SYSCALL(::symlinkat("pts/ptmx", dev.get(), "ptmx"), "symlink /dev/ptmx");
  }

  void enterRoot() {
    UniqueFd newRoot(KATA_SYSCALL(::open(rootfs_.c_str(), O_DIRECTORY | O_RDONLY | O_CLOEXEC), "open rootfs " + rootfs_));
    UniqueFd oldRoot(KATA_SYSCALL(::open("/", O_DIRECTORY | O_RDONLY | O_CLOEXEC), "open /"));
    KATA_SYSCALL(::fchdir(newRoot.get()), "chdir to rootfs " + rootfs_);
    if (!options_.noPivot) {
      // pivot_root(".", "."): the old root ends up stacked on "."; detach it from where we stand.
      if (::syscall(SYS_pivot_root, ".", ".") == 0) {
        KATA_SYSCALL(::fchdir(oldRoot.get()), "chdir to the old root");
        doMount("", ".", nullptr, MS_SLAVE | MS_REC, "", "make the old root a slave");
        KATA_SYSCALL(::umount2(".", MNT_DETACH), "detach the old root");
        KATA_SYSCALL(::chdir("/"), "chdir /");
        return;
      }
      // The initramfs (rootfs) cannot be pivoted away from: fall back to the move below.
      if (errno != EINVAL) throwSysError(errno, "pivot_root to " + rootfs_);
    }
    // Hide every full proc/sysfs outside the rootfs first: after chroot they would still be in the
    // namespace and count for the kernel's "may this proc be mounted" checks.
    std::vector<MountInfo> mounts = readMountInfo();
    std::sort(mounts.begin(), mounts.end(),
              [](const MountInfo& a, const MountInfo& b) { return a.mountPoint.size() > b.mountPoint.size(); });
    for (const MountInfo& m : mounts) {
      if (m.root != "/" || (m.fsType != "proc" && m.fsType != "sysfs") || isUnder(m.mountPoint, rootfs_)) continue;
      if (::mount(nullptr, m.mountPoint.c_str(), nullptr, MS_SLAVE | MS_REC, nullptr) != 0 && errno != EINVAL &&
          errno != ENOENT)
        throwSysError(errno, "make " + m.mountPoint + " a slave");
      if (::umount2(m.mountPoint.c_str(), MNT_DETACH) != 0) {
        if (errno == EINVAL || errno == ENOENT) continue;  // already gone with a parent
        if (errno != EPERM) throwSysError(errno, "detach " + m.mountPoint);
        doMount("tmpfs", m.mountPoint, "tmpfs", 0, "", "cover " + m.mountPoint);
      }
    }
    KATA_SYSCALL(::fchdir(newRoot.get()), "chdir to rootfs " + rootfs_);
    doMount(rootfs_, "/", nullptr, MS_MOVE, "", "move rootfs " + rootfs_ + " onto /");
    KATA_SYSCALL(::chroot("."), "chroot into rootfs");
    KATA_SYSCALL(::chdir("/"), "chdir /");
  }

  static void readonlyPath(const std::string& path) {
    std::string label = "linux.readonlyPaths " + path;
    if (::mount(path.c_str(), path.c_str(), nullptr, MS_BIND | MS_REC, nullptr) != 0) {
      if (errno == ENOENT) return;
      throwSysError(errno, label + ": bind");
    }
    remount(path, MS_BIND | MS_REC | MS_RDONLY, label + ": remount read-only");
  }

  static void maskPath(const std::string& path) {
    std::string label = "linux.maskedPaths " + path;
    if (::mount("/dev/null", path.c_str(), nullptr, MS_BIND, nullptr) == 0) return;
    if (errno == ENOENT) return;
    if (errno != ENOTDIR) throwSysError(errno, label + ": bind /dev/null");
    // A directory: an empty read-only tmpfs over it.
    doMount("tmpfs", path, "tmpfs", MS_RDONLY, "", label + ": read-only tmpfs");
  }

  const oci::Spec& spec_;
  std::string rootfs_;
  RootfsOptions options_;
  UniqueFd rootFd_;
  UniqueFd baseFd_;
  bool devBound_ = false;
  bool devReadonly_ = false;
};

}  // namespace

void setupRootfs(const oci::Spec& spec, const std::string& rootfs, const RootfsOptions& options) {
  RootfsSetup(spec, rootfs, options).run();
}

}  // namespace kata::agent
