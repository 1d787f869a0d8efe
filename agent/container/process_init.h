// CONTRACT between the agent's container manager (agent/container_manager*, which clones processes,
// joins namespaces and tracks them) and the OCI set-up pipeline (agent/container/*, which turns an OCI
// spec into the state of one process right before execve). Both sides may add members; none renamed.
//
// Order inside a new container's init process (after clone with the spec's namespaces, and after the
// parent wrote uid/gid maps when a user namespace is asked for):
//   1. setupRootfs(spec, rootfs)   mount namespace: propagation, rootfs bind, OCI mounts, devices,
//                                  /dev symlinks, pivot_root, maskedPaths, readonlyPaths, readonly root
//   2. setupProcess(spec.linux + process) hostname/domainname (when a UTS ns is new), sysctl,
//                                  oomScoreAdj, rlimits, personality, ioPriority, no_new_privs,
//                                  bounding set, setgroups/setgid/setuid, capabilities, umask, cwd,
//                                  env, seccomp (last, after everything needing syscalls the profile
//                                  may deny), then execve. Without noNewPrivileges the filter is
//                                  loaded before the uid change instead (it needs CAP_SYS_ADMIN then),
//                                  exactly as runc does.
// Neither function closes inherited fds, resets signal dispositions or sets the parent-death
// signal: that is the manager's part of the clone.
// An exec'd process (kata-ctl exec) runs only step 2 after setns into the container's namespaces and
// cgroup.
#pragma once

#include <string>
#include <vector>

#include "runtime/oci/spec.h"

namespace kata::agent {

// Prepares the container's mount namespace and pivots into it. Runs in the container's init process,
// which is already in its new mount namespace. rootfs is the guest path of the container's root
// (e.g. /run/kata/shared/<container>/rootfs). Throws kata::Error naming the failing mount/path.
struct RootfsOptions {
  // Where relative bind-mount sources are resolved (beneath it, never above); empty: the directory
  // holding rootfs (the container's share directory). Absolute sources are guest paths.
  std::string sourceBase;
  // runc --no-pivot: MS_MOVE the rootfs onto "/" and chroot. Used anyway when pivot_root is refused
  // with EINVAL, which it always is while the guest's root is the initramfs.
  bool noPivot = false;
  // Write linux.sysctl once the container's /proc is mounted and before readonlyPaths make
  // /proc/sys read-only (runc's order). The container's init only.
  bool applySysctl = false;
  // The container's cgroup directory in the guest (e.g. /sys/fs/cgroup/kata/<id>). A cgroup2 mount
  // that the kernel refuses (a user namespace without its own cgroup namespace: EPERM; EBUSY) binds
  // it instead, as runc does; empty: the whole /sys/fs/cgroup.
  std::string cgroupPath;
};
// linux.sysctl of the spec, each checked against the namespaces the container owns.
void applySysctls(const oci::Spec& spec);
void setupRootfs(const oci::Spec& spec, const std::string& rootfs, const RootfsOptions& options = {});

struct ProcessSetup {
  const oci::Process* process = nullptr;  // the process to run (spec.process or an exec's process)
  const oci::Spec* spec = nullptr;        // for linux.* (seccomp, sysctl, hostname, namespaces)
  bool newUts = false;                    // set hostname/domainname
  bool applySysctl = false;               // only for the container's init
};

// Applies every per-process OCI setting and execs process.args[0] (PATH lookup in process.env as runc
// does). Never returns: throws kata::Error on failure before the exec (the caller reports it to the
// parent over its sync pipe and _exits).
[[noreturn]] void setupProcessAndExec(const ProcessSetup& setup);

}  // namespace kata::agent
