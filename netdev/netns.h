// Network namespaces by file descriptor. A namespace is always held as an open nsfs descriptor
// (a client's /proc/<pid>/ns/net or /run/netns/<name>), never re-resolved by path, and work inside it
// runs on a short-lived thread that joins it (setns) and ends: the caller's thread never changes
// namespace, so a daemon serving many sandboxes from one thread cannot be left in the wrong one.
//
// What has to happen inside: opening a netlink socket (it stays bound to the namespace it was
// created in, so it can then be used from any thread) and opening /dev/net/tun (the tap is created in
// the namespace of the thread that opened the device).
#pragma once

#include <sys/types.h>

#include <exception>
#include <optional>
#include <string>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

#include "common/fd.h"

namespace kata::netdev {

// The identity of a namespace: nsfs device and inode, as stat(2) of any of its handles reports.
struct NsId {
  dev_t dev = 0;
  ino_t ino = 0;
  bool operator==(const NsId& o) const { return dev == o.dev && ino == o.ino; }
  std::string str() const;  // "net:[4026532178]"
};

class Netns {
 public:
  // Takes a duplicate of fd (the caller keeps its own). kInvalidArgument when fd is not a network
  // namespace (NS_GET_NSTYPE), naming `what` (e.g. "the netns descriptor of sandbox X").
  static Netns fromFd(int fd, const std::string& what);
  // Opens a namespace file (/run/netns/<name>, /proc/<pid>/ns/net, a pin): O_RDONLY|O_CLOEXEC.
  static Netns open(const std::string& path);
  // The namespace of the calling thread.
  static Netns current();

  Netns(Netns&&) = default;
  Netns& operator=(Netns&&) = default;

  int fd() const { return fd_.get(); }
  const NsId& id() const { return id_; }
  bool operator==(const Netns& o) const { return id_ == o.id_; }

  // Runs fn on a new thread that joins this namespace, waits for it and returns its result (or
  // rethrows what it threw). setns failing is kSystem naming the namespace.
  template <typename F>
  auto run(F&& fn) const -> std::invoke_result_t<F&> {
    using R = std::invoke_result_t<F&>;
    std::exception_ptr error;
    if constexpr (std::is_void_v<R>) {
      std::thread t([&] {
        try {
          enterOnThisThread();
          fn();
        } catch (...) {
          error = std::current_exception();
        }
      });
      t.join();
      if (error) std::rethrow_exception(error);
    } else {
      std::optional<R> result;
      std::thread t([&] {
        try {
          enterOnThisThread();
          result.emplace(fn());
        } catch (...) {
          error = std::current_exception();
        }
      });
      t.join();
      if (error) std::rethrow_exception(error);
      return std::move(*result);
    }
  }

 private:
  Netns(UniqueFd fd, NsId id) : fd_(std::move(fd)), id_(id) {}
  void enterOnThisThread() const;  // setns(fd, CLONE_NEWNET); only ever on run()'s own thread

  UniqueFd fd_;
  NsId id_;
};

// Who owns a network namespace, for deciding whether a caller may use it. The kernel lets a process
// of the initial user namespace join a namespace when it has CAP_SYS_ADMIN there, which for an
// unprivileged uid means: the namespace's owning user namespace, or one of its ancestors, is a child
// of the initial user namespace created by that uid. These are the facts that rule needs.
struct NetnsOwnership {
  // The owning user namespace is the caller's own (here: the daemon's, the initial one): the
  // namespace belongs to root (ip netns add, CNI run as root).
  bool ownedByOurUserns = false;
  // Owner uids (NS_GET_OWNER_UID) from the owning user namespace up to the child of ours, in that
  // order; empty when ownedByOurUserns. The last entry is the one the kernel's rule looks at.
  std::vector<uid_t> userChain;
  // The namespace is the one the daemon itself runs in (the host's).
  bool isOurNetns = false;
};
NetnsOwnership netnsOwnership(const Netns& ns);

// Keeps a namespace alive and reachable across a daemon restart: bind-mounts it (open_tree +
// move_mount, the new mount API: the nsfs descriptor is cloned, no path is resolved) onto an empty
// file created at path. The file must not exist.
void pinNetns(const Netns& ns, const std::string& path);
// Detaches the pin and removes the file; a missing pin is not an error.
void unpinNetns(const std::string& path);

}  // namespace kata::netdev
