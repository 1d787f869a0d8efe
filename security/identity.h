// The user and groups a launched child runs as. Validated in the parent (no root unless asked, no
// "nobody"-like overflow ids by accident), switched in the child with raw system calls: glibc's
// setuid family signals every thread of the process, and after clone the child has one thread that
// glibc does not know about.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <vector>

namespace kata::security {

struct IdentityPlan {
  static constexpr size_t kMaxGroups = 32;
  uid_t uid = 0;
  gid_t gid = 0;
  gid_t groups[kMaxGroups] = {};
  size_t groupCount = 0;
};

struct IdentitySpec {
  uid_t uid = 0;
  gid_t gid = 0;
  std::vector<gid_t> supplementaryGroups;  // empty: none at all (setgroups(0))
  bool allowRoot = false;  // uid 0 or gid 0: refused unless set
};

IdentityPlan prepareIdentity(const IdentitySpec& spec);
// setgroups, setresgid, setresuid, in that order (groups and gid need the privilege uid 0 gives).
int applyIdentity(const IdentityPlan& plan) noexcept;

}  // namespace kata::security
