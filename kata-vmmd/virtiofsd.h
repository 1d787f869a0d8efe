// virtiofsd, the vhost-user back end of a virtio-fs share, launched by the QEMU driver for a VM that
// shares its directory over virtio-fs instead of virtio-9p. It is a second process of the VM and goes
// through the same jailed pipeline as QEMU (launcher.h): its own session, only its own fds, the
// VM's cgroup, RLIMIT_CORE 0, no_new_privs, stdout/stderr to <runDir>/virtiofsd-<device>.log.
//
// Two programs answer to the name, with different option syntax: QEMU's C virtiofsd (QEMU <= 7.2,
// Debian 12: /usr/lib/qemu/virtiofsd; `-o source=DIR`, `-o sandbox=namespace`) and the Rust one
// (gitlab.com/virtio-fs/virtiofsd; `--shared-dir=DIR`, `--sandbox=namespace`). Which one the policy
// names is found once per daemon start from its --version output (probeVirtiofsd).
//
// The jail, the same for both: a file server must act as root on the share (create files as the
// guest's uid, chown, chmod, write where root may), and must build its own namespace sandbox
// (unshare of a mount, pid and net namespace, pivot_root into the share; CAP_SYS_ADMIN), so unlike
// QEMU it needs capabilities. It gets them only inside a user namespace of its own
// (security/userns.h), as its uid 0 there, keeping CHOWN, DAC_OVERRIDE, FOWNER, FSETID, SETUID,
// SETGID (the file server's), SYS_ADMIN (its sandbox; it drops it itself before serving) and SETPCAP
// (it empties its bounding set itself): never one in the host's namespace, no device nodes
// (-mknod), no file capabilities (-setfcap). The namespace's uid 0 is the sandbox owner on the host:
//   - root's sandboxes: the whole id range maps to itself, so files keep their host owners, guest
//     root writes where host root may (a root-owned directory of the image), and what the guest
//     creates as uid N is owned by host uid N — as with runc;
//   - another owner's: only the owner's uid and gid are mapped, as 0: what the guest's root creates
//     is the owner's, files of other owners are not writable through the capabilities, and guest
//     uids other than 0 cannot create files (rootless runc without subuids behaves alike).
#pragma once

#include <sys/resource.h>

#include <map>
#include <string>
#include <vector>

#include "common/log.h"
#include "kata-vmmd/launcher.h"
#include "security/cgroup.h"
#include "security/identity.h"
#include "security/userns.h"

namespace kata::vmmd {

enum class VirtiofsdFlavour { kQemu, kRust };
const char* virtiofsdFlavourName(VirtiofsdFlavour flavour);  // "qemu" | "rust"

struct VirtiofsdVersion {
  VirtiofsdFlavour flavour = VirtiofsdFlavour::kRust;
  std::string version;  // "7.2.22", "1.10.1"
};

// What `virtiofsd --version` printed → which program it is. QEMU's: "virtiofsd version 7.2.22 (...)"
// and a copyright line naming the QEMU Project; the Rust one: "virtiofsd 1.10.1". Anything else is
// kFailedPrecondition quoting the first line.
VirtiofsdVersion parseVirtiofsdVersion(const std::string& output, const std::string& binary);

// Runs `binary --version` once, jailed like a VM's process (uid/gid `identity`, no capabilities),
// output to scratchLog (removed again), and parses it. Bounded to 10 s.
VirtiofsdVersion probeVirtiofsd(const std::string& binary, const std::string& scratchLog,
                                const security::IdentitySpec& identity, LaunchBackend* launcher, const Logger& log);

struct VirtiofsdSpec {
  std::string binary;     // absolute path: the policy's [vm] virtiofsd
  VirtiofsdFlavour flavour = VirtiofsdFlavour::kQemu;
  std::string sandboxId;
  std::string deviceId;
  std::string sharedDir;  // what the guest sees as the share's root
  int listenFd = -1;      // the vhost-user listening socket, passed at the same number
  uid_t ownerUid = 0;     // the host ids the namespace's uid/gid 0 are (the sandbox owner's)
  gid_t ownerGid = 0;
  std::string logPath;
  const security::Cgroup* cgroup = nullptr;  // the VM's, joined (QEMU's LaunchedProcess owns it)
  std::map<int, rlimit> rlimits;             // empty: virtiofsdRlimits()
  LaunchBackend* launcher = nullptr;         // the daemon's launcher process (null: this process)
};

// No core dumps; as many fds as the daemon's own hard limit allows (virtiofsd holds an O_PATH fd per
// inode the guest looked up), without needing CAP_SYS_RESOURCE to raise it.
std::map<int, rlimit> virtiofsdRlimits();

// The capabilities it keeps in its namespace, and the namespace for an owner (above).
security::CapabilitySet virtiofsdCapabilities();
security::UserNamespaceSpec virtiofsdUserNamespace(uid_t ownerUid, gid_t ownerGid);

// The argv in the flavour's syntax, argv[0] included (golden-tested).
std::vector<std::string> buildVirtiofsdArgs(const VirtiofsdSpec& spec);

// Validates the spec and launches it jailed.
LaunchedProcess launchVirtiofsd(const VirtiofsdSpec& spec, const Logger& log);

}  // namespace kata::vmmd
