// Resource limits for a launched child, set with prlimit before it drops privileges (raising a hard
// limit needs CAP_SYS_RESOURCE, which it will not have afterwards).
#pragma once

#include <sys/resource.h>

#include <cstddef>
#include <map>

namespace kata::security {

struct RlimitPlan {
  static constexpr size_t kMax = 16;
  int resource[kMax] = {};
  struct rlimit limit[kMax] = {};
  size_t count = 0;
};

// QEMU's defaults: no core dumps (a core of QEMU is the guest's memory), a bounded fd table.
std::map<int, rlimit> defaultQemuRlimits();
RlimitPlan prepareRlimits(const std::map<int, rlimit>& limits);
int applyRlimits(const RlimitPlan& plan) noexcept;

}  // namespace kata::security
