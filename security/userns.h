// A user namespace of its own for a launched child: the one way a jailed helper may hold
// capabilities at all.
//
// The launcher process locks SECBIT_NOROOT and SECBIT_NO_CAP_AMBIENT_RAISE (keep_caps.h), so no child
// it starts gains a capability through execve, uid 0 or not. A new user namespace starts with the
// default securebits and a full capability set *inside it* (set_cred_user_ns in the kernel): the child
// can keep a few capabilities across execve there, and every one of them is bounded by the namespace.
// None reaches the initial namespace: no device nodes, no module loading, no mounts outside the
// mount namespaces it creates, no raw I/O; a file capability (CAP_DAC_OVERRIDE, CAP_CHOWN, ...) works
// only on files whose owner and group are mapped into the namespace.
//
// The steps, split as the launch pipeline splits every mechanism (child_step.h):
//   parent: prepareUserNamespace() validates the maps and the capabilities and makes the two pipes
//   child:  applyUnshareUser()  unshare(CLONE_NEWUSER), tell the parent, wait until the maps exist
//   parent: writeIdMaps()       /proc/<pid>/uid_map and gid_map (needs CAP_SETUID/CAP_SETGID), go
//   child:  applyBoundingSetKeep() and applyCapKeep() instead of emptying everything (caps.h),
//           after the identity switch inside the namespace (normally uid 0 there).
// With no_new_privs set, the execve of the program as uid 0 in the namespace leaves it exactly the
// kept capabilities (permitted = the old permitted set), in its effective set too.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "common/fd.h"
#include "security/keep_caps.h"

namespace kata::security {

// One line of /proc/<pid>/uid_map: ids [inside, inside+count) are host ids [outside, outside+count).
struct IdMapping {
  uint32_t inside = 0;
  uint32_t outside = 0;
  uint32_t count = 0;
};

struct UserNamespaceSpec {
  std::vector<IdMapping> uidMap;  // 1-5 ranges, no overlap inside or outside
  std::vector<IdMapping> gidMap;
  CapabilitySet keep;             // kept inside the namespace across execve (bounding set included)
};

// The whole host id range, the map of the initial user namespace: ids mean on the host what they
// mean inside, and only the capabilities are confined.
IdMapping identityMapping();

// "0 0 4294967295\n" (the kernel's text form).
std::string idMapText(const std::vector<IdMapping>& map);
// Throws kInvalidArgument naming what is wrong (empty, more than 5 ranges, zero count, a range past
// the 32-bit id space or over the id 4294967295 ("no id"), overlapping ranges).
void validateIdMap(const std::vector<IdMapping>& map, const std::string& what);

struct UserNamespacePlan {
  bool enabled = false;
  uint64_t keepMask = 0;   // CAP_* bits
  int lastCap = 0;
  int readyWrite = -1;     // child → parent: "unshared"
  int goRead = -1;         // parent → child: "the maps are written" (EOF: they could not be)
};

// The parent's half of a launch with a user namespace: the plan and the ends it keeps.
struct UserNamespaceSetup {
  UserNamespacePlan plan;
  UniqueFd readyRead, readyWrite, goRead, goWrite;
  std::string uidMap, gidMap;
};

UserNamespaceSetup prepareUserNamespace(const UserNamespaceSpec& spec, int lastCap);

// Child, after every step that needs the initial namespace's privileges (cgroup, netns, rlimits).
int applyUnshareUser(const UserNamespacePlan& plan) noexcept;
// Parent: waits (bounded) for the child's "unshared", writes its maps, lets it go. Throws with errno
// when a map cannot be written (the child then reads EOF and fails); returns false when the child
// ended before it unshared (its report is on the launch's error pipe).
bool writeIdMaps(pid_t pid, UserNamespaceSetup& setup);

// Child, in the namespace: the bounding set and the permitted/effective sets become exactly the kept
// capabilities; inheritable and ambient stay empty.
int applyBoundingSetKeep(const UserNamespacePlan& plan) noexcept;
int applyCapKeep(const UserNamespacePlan& plan) noexcept;

}  // namespace kata::security
