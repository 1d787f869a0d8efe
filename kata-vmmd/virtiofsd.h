// virtiofsd, the vhost-user back end of a virtio-fs share, launched by the QEMU driver for a VM that
// shares its directory over virtio-fs instead of virtio-9p. It is a second process of the VM and goes
// through the same jailed pipeline as QEMU (launcher.h): the VM's uid/gid, no supplementary groups,
// no capabilities (bounding set included), no_new_privs, its own session, only its own fds, in the
// VM's cgroup, stdout/stderr to <runDir>/virtiofsd.log.
//
// virtiofsd is written to start as (possibly fake) root and drop to a capability set it keeps for
// file ownership changes. Here it never has any privilege: --modcaps removes every capability it
// would keep, --sandbox=none because our jail replaces its namespace sandbox (which needs root or a
// user namespace), --rlimit-nofile=0 because it cannot raise its limit and the jail sets it. It
// accesses the share with the VM uid's permissions, as QEMU's 9p does with security_model=none.
// Its own seccomp filter stays on (--seccomp=kill).
//
// The socket: vmmd creates the listening socket (<runDir>/virtiofsd-<device>.sock, root's, 0600) and
// hands virtiofsd only the fd (--fd); QEMU gets a connection vmmd opened to it. Neither needs the path.
#pragma once

#include <sys/resource.h>

#include <map>
#include <string>
#include <vector>

#include "common/log.h"
#include "kata-vmmd/launcher.h"
#include "security/cgroup.h"
#include "security/identity.h"

namespace kata::vmmd {

struct VirtiofsdSpec {
  std::string binary;     // absolute path: the policy's [vm] virtiofsd
  std::string sandboxId;
  std::string deviceId;
  std::string sharedDir;  // what the guest sees as the share's root
  int listenFd = -1;      // the vhost-user listening socket, passed at the same number
  security::IdentitySpec identity;
  std::string logPath;
  const security::Cgroup* cgroup = nullptr;  // the VM's, joined (QEMU's LaunchedProcess owns it)
  std::map<int, rlimit> rlimits;             // empty: virtiofsdRlimits()
  LaunchBackend* launcher = nullptr;         // the daemon's launcher process (null: this process)
};

// No core dumps; as many fds as the daemon's own hard limit allows (virtiofsd holds an O_PATH fd per
// inode the guest looked up), without needing CAP_SYS_RESOURCE to raise it.
std::map<int, rlimit> virtiofsdRlimits();

// The argv, argv[0] included (golden-tested).
std::vector<std::string> buildVirtiofsdArgs(const VirtiofsdSpec& spec);

// Validates the spec and launches it jailed.
LaunchedProcess launchVirtiofsd(const VirtiofsdSpec& spec, const Logger& log);

}  // namespace kata::vmmd
