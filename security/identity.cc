#include "security/identity.h"

#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <string>

#include "common/error.h"

namespace kata::security {

IdentityPlan prepareIdentity(const IdentitySpec& spec) {
  constexpr uid_t kInvalid = static_cast<uid_t>(-1);  // "unchanged" to setresuid: never a target
  if (spec.uid == kInvalid || spec.gid == static_cast<gid_t>(-1))
    fail(ErrorKind::kInvalidArgument, "launcher: uid/gid -1 is not a valid identity");
  if (!spec.allowRoot && (spec.uid == 0 || spec.gid == 0))
    fail(ErrorKind::kInvalidArgument,
         "launcher: refusing to run the hypervisor as uid/gid 0; configure an unprivileged VM uid (vm_uid)");
  if (spec.supplementaryGroups.size() > IdentityPlan::kMaxGroups)
    fail(ErrorKind::kInvalidArgument, "launcher: too many supplementary groups");
  IdentityPlan plan;
  plan.uid = spec.uid;
  plan.gid = spec.gid;
  for (gid_t g : spec.supplementaryGroups) {
    if (g == 0 && !spec.allowRoot) fail(ErrorKind::kInvalidArgument, "launcher: refusing supplementary group 0");
    plan.groups[plan.groupCount++] = g;
  }
  return plan;
}

int applyIdentity(const IdentityPlan& plan) noexcept {
  if (::syscall(SYS_setgroups, plan.groupCount, plan.groups) < 0) return errno;
  if (::syscall(SYS_setresgid, plan.gid, plan.gid, plan.gid) < 0) return errno;
  if (::syscall(SYS_setresuid, plan.uid, plan.uid, plan.uid) < 0) return errno;
  return 0;
}

}  // namespace kata::security
