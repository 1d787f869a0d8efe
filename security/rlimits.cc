#include "security/rlimits.h"

#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <string>

#include "common/error.h"

namespace kata::security {

std::map<int, rlimit> defaultQemuRlimits() {
  return {{RLIMIT_CORE, {0, 0}}, {RLIMIT_NOFILE, {4096, 4096}}};
}

RlimitPlan prepareRlimits(const std::map<int, rlimit>& limits) {
  RlimitPlan plan;
  if (limits.size() > RlimitPlan::kMax) fail(ErrorKind::kInvalidArgument, "too many resource limits");
  for (const auto& [res, lim] : limits) {
    if (res < 0 || res >= RLIMIT_NLIMITS) fail(ErrorKind::kInvalidArgument, "unknown resource limit " + std::to_string(res));
    if (lim.rlim_cur > lim.rlim_max)
      fail(ErrorKind::kInvalidArgument, "resource limit " + std::to_string(res) + ": soft limit above hard limit");
    plan.resource[plan.count] = res;
    plan.limit[plan.count] = lim;
    ++plan.count;
  }
  return plan;
}

int applyRlimits(const RlimitPlan& plan) noexcept {
  for (size_t i = 0; i < plan.count; ++i)
    if (::syscall(SYS_prlimit64, 0, plan.resource[i], &plan.limit[i], nullptr) < 0) return errno;
  return 0;
}

}  // namespace kata::security
