#include "netdev/netns.h"

#include <fcntl.h>
#include <linux/nsfs.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common/error.h"

namespace kata::netdev {
namespace {

NsId idOf(int fd, const std::string& what) {
  struct stat st{};
  KATA_SYSCALL(::fstat(fd, &st), what);
  return NsId{st.st_dev, st.st_ino};
}

// The owning user namespace of a namespace (or the parent of a user namespace): a new descriptor.
UniqueFd nsIoctlFd(int fd, unsigned long request, const std::string& what) {
  return UniqueFd(KATA_SYSCALL(::ioctl(fd, request), what));
}

}  // namespace

std::string NsId::str() const { return "net:[" + std::to_string(ino) + "]"; }

Netns Netns::fromFd(int fd, const std::string& what) {
  if (fd < 0) fail(ErrorKind::kInvalidArgument, what + ": no descriptor");
  int type = ::ioctl(fd, NS_GET_NSTYPE);
  if (type < 0) {
    if (errno == ENOTTY || errno == EINVAL)
      fail(ErrorKind::kInvalidArgument, what + " is not a namespace file (open /proc/<pid>/ns/net or /run/netns/<name>)");
    throwSysError(errno, "ioctl NS_GET_NSTYPE [" + what + "]");
  }
  if (type != CLONE_NEWNET)
    fail(ErrorKind::kInvalidArgument, what + " is a namespace, but not a network namespace");
  UniqueFd dup(KATA_SYSCALL(::fcntl(fd, F_DUPFD_CLOEXEC, 3), what));
  NsId id = idOf(dup.get(), what);
  return Netns(std::move(dup), id);
}

Netns Netns::open(const std::string& path) {
  UniqueFd fd(KATA_SYSCALL(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY), path));
  return fromFd(fd.get(), path);
}

Netns Netns::current() { return open("/proc/thread-self/ns/net"); }

void Netns::enterOnThisThread() const {
  // CLONE_NEWNET is per thread: only this (short-lived) thread changes namespace.
  KATA_SYSCALL(::setns(fd_.get(), CLONE_NEWNET), "setns into network namespace " + id_.str());
}

NetnsOwnership netnsOwnership(const Netns& ns) {
  NetnsOwnership o;
  o.isOurNetns = Netns::current() == ns;
  UniqueFd ours(KATA_SYSCALL(::open("/proc/thread-self/ns/user", O_RDONLY | O_CLOEXEC), "/proc/thread-self/ns/user"));
  NsId ourUserns = idOf(ours.get(), "our user namespace");
  UniqueFd userns = nsIoctlFd(ns.fd(), NS_GET_USERNS, "NS_GET_USERNS of " + ns.id().str());
  // A user namespace chain is at most 32 deep (the kernel's limit); bound the walk anyway.
  for (int depth = 0; depth < 33; ++depth) {
    if (idOf(userns.get(), "user namespace") == ourUserns) {
      o.ownedByOurUserns = o.userChain.empty();
      return o;
    }
    uid_t owner = 0;
    KATA_SYSCALL(::ioctl(userns.get(), NS_GET_OWNER_UID, &owner), "NS_GET_OWNER_UID");
    o.userChain.push_back(owner);
    int parent = ::ioctl(userns.get(), NS_GET_PARENT);
    if (parent < 0) {
      // EPERM: the parent is outside our view, i.e. this namespace is not below ours.
      if (errno == EPERM) fail(ErrorKind::kPermissionDenied, "network namespace " + ns.id().str() +
                                                                 " belongs to a user namespace outside the daemon's");
      throwSysError(errno, "NS_GET_PARENT");
    }
    userns = UniqueFd(parent);
  }
  fail(ErrorKind::kInvalidArgument, "network namespace " + ns.id().str() + ": user namespace chain too deep");
}

void pinNetns(const Netns& ns, const std::string& path) {
  UniqueFd file(KATA_SYSCALL(::open(path.c_str(), O_CREAT | O_EXCL | O_RDONLY | O_CLOEXEC | O_NOFOLLOW, 0400),
                             "create netns pin " + path));
  file.reset();
  try {
    UniqueFd tree(KATA_SYSCALL(static_cast<int>(::syscall(SYS_open_tree, ns.fd(), "",
                                                          OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_EMPTY_PATH)),
                               "open_tree of network namespace " + ns.id().str()));
    KATA_SYSCALL(static_cast<int>(::syscall(SYS_move_mount, tree.get(), "", AT_FDCWD, path.c_str(),
                                            MOVE_MOUNT_F_EMPTY_PATH)),
                 "move_mount of network namespace " + ns.id().str() + " to " + path);
  } catch (...) {
    (void)::unlink(path.c_str());
    throw;
  }
}

void unpinNetns(const std::string& path) {
  if (::umount2(path.c_str(), MNT_DETACH | UMOUNT_NOFOLLOW) != 0 && errno != EINVAL && errno != ENOENT)
    throwSysError(errno, "umount netns pin " + path);
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) throwSysError(errno, "unlink netns pin " + path);
}

}  // namespace kata::netdev
