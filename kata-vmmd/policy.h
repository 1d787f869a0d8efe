// The daemon's policy: who may connect, how much each uid may use, which host devices a client may
// ask for. Read once at start-up from /etc/kata-vmmd/policy.toml (docs/vmmd.md, "Policy file").
// Every decision is a pure function of the policy and the caller's SO_PEERCRED identity, so the unit
// tests check authorization without a socket.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "netdev/netns.h"

namespace kata::vmmd {

struct Limits {
  uint32_t maxSandboxes = 4;
  uint64_t maxMemoryMiB = 8192;  // total guest RAM over the uid's live sandboxes
  uint32_t maxVcpus = 16;        // total vCPUs over the uid's live sandboxes
};

struct Policy {
  // Socket: mode (octal in the file, e.g. 0o660) and group (name or number; empty: root's group).
  mode_t socketMode = 0660;
  std::optional<gid_t> socketGid;

  std::set<uid_t> allowedUids;  // root is always allowed
  std::set<gid_t> allowedGids;  // the peer's primary gid (SO_PEERCRED) or a supplementary one (SO_PEERGROUPS)
  Limits defaultLimits;
  std::map<uid_t, Limits> uidLimits;

  std::set<unsigned> vfioGroups;          // IOMMU group numbers
  std::set<std::string> sriovPfs;         // PF BDFs whose VFs may be handed out
  std::vector<std::string> vhostUserDirs; // directories a vhost-user socket may live in
  std::set<std::string> emulatedDevices = {"virtio-rng-pci"};

  // Pod networks (docs/networking.md): uids that may carry any network namespace into their VMs
  // (a CRI shim running as a service uid for namespaces root's CNI made); everyone else only
  // namespaces of user namespaces they own. Root always may.
  std::set<uid_t> netnsTrustedUids;
  uint32_t maxInterfaces = 8;  // NICs per sandbox

  // How VMs are run.
  std::string qemuBinary = "/usr/bin/qemu-system-x86_64";
  std::string accel = "auto";
  uid_t qemuUid = 0;  // the identity QEMU runs as; 0 means "the sandbox owner's uid"
  gid_t qemuGid = 0;
  std::string virtiofsd;  // virtiofsd binary for sandboxes that ask for virtio-fs; empty: none
};

// Parses and validates a policy document; kInvalidArgument naming the key and the file for anything
// unknown, mistyped or out of range (an unknown key is an error: a typo must not widen access).
Policy parsePolicy(const std::string& text, const std::string& origin);

// Reads the policy file, refusing one that is not a regular file owned by root (or by the daemon's
// euid) or that is writable by group or others: whoever can write it controls the daemon.
Policy loadPolicy(const std::string& path);

// Refuses a directory that a non-root user could change: not owned by root (or by the daemon's euid),
// or writable by group/others without the sticky bit. Checked for every existing ancestor too.
void checkSecureDir(const std::string& path);

// ---- decisions ------------------------------------------------------------------------------------
struct CallerId {
  uid_t uid = 0;
  gid_t gid = 0;
  pid_t pid = 0;
  std::vector<gid_t> groups;  // supplementary groups (SO_PEERGROUPS at accept time)
  bool isRoot() const { return uid == 0; }
};

// May this caller use the daemon at all? Root, a uid in [access] uids, or a caller whose primary gid
// or any supplementary group is in [access] gids. kPermissionDenied with a message naming the uid
// and its groups otherwise.
void authorizeConnect(const Policy& policy, const CallerId& caller);

const Limits& limitsFor(const Policy& policy, uid_t uid);

struct Usage {
  uint32_t sandboxes = 0;
  uint64_t memoryMiB = 0;
  uint32_t vcpus = 0;
};
// Would one more sandbox of this size exceed the caller's limits (root: unlimited)?
void authorizeCreate(const Policy& policy, const CallerId& caller, const Usage& current, uint32_t vcpus,
                     uint64_t memoryMiB);

// Owner or root; kNotFound for anyone else, so another uid cannot even learn that the id exists.
void authorizeAccess(const CallerId& caller, uid_t owner, const std::string& sandboxId);

// Device allow-lists. sysfsRoot is "/sys" on a real host, a fake tree in tests.
void authorizeEmulatedDevice(const Policy& policy, const std::string& driver);
// A PCI function may be handed out when its IOMMU group is allowed, or when it is a VF of an allowed
// SR-IOV PF.
void authorizeVfio(const Policy& policy, const std::string& sysfsRoot, const std::string& bdf);
// A vhost-user socket (as the path the client's fd names) must sit directly in an allowed directory.
void authorizeVhostUserSocket(const Policy& policy, const std::string& socketPath);

// May this caller carry the network namespace with these owners into a VM? The kernel's own rule for
// joining a namespace, applied to the caller: root may; an ordinary uid may when the namespace's
// user namespace (or an ancestor of it just below the daemon's) was created by that uid; the
// policy's [network] trusted_uids may use any. The daemon's own namespace (the host's) is refused
// to everyone: carrying it would hand the host's interfaces to a guest. kPermissionDenied naming why.
void authorizeNetns(const Policy& policy, const CallerId& caller, const netdev::NetnsOwnership& owner,
                    const std::string& nsName);

// "0000:3b:00.1": domain:bus:device.function in lower-case hex.
void validatePciAddress(const std::string& bdf);

}  // namespace kata::vmmd
