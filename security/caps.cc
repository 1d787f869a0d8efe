#include "security/caps.h"

#include <linux/capability.h>
#include <sys/capability.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <memory>

#include "common/error.h"

namespace kata::security {

CapPlan prepareCapDrop() {
  CapPlan plan;
  int bits = static_cast<int>(cap_max_bits());
  if (bits <= 0 || bits > 64) fail(ErrorKind::kInternal, "libcap reports " + std::to_string(bits) + " capabilities");
  plan.lastCap = bits - 1;
  return plan;
}

int applyBoundingSetDrop(const CapPlan& plan) noexcept {
  for (int cap = 0; cap <= plan.lastCap; ++cap)
    if (::prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0 && errno != EINVAL) return errno;
  return 0;
}

int applyCapClear() noexcept {
  if (::prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0) return errno;
  // Raw capset (libcap's cap_set_proc allocates): version 3, this thread, all sets empty.
  struct __user_cap_header_struct header {_LINUX_CAPABILITY_VERSION_3, 0};
  struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3] = {};
  if (::syscall(SYS_capset, &header, data) < 0) return errno;
  return 0;
}

std::string capabilityText(pid_t pid) {
  std::unique_ptr<struct _cap_struct, int (*)(void*)> caps(cap_get_pid(pid), cap_free);
  if (!caps) throwSysError(errno, "cap_get_pid " + std::to_string(pid));
  std::unique_ptr<char, int (*)(void*)> text(cap_to_text(caps.get(), nullptr), cap_free);
  if (!text) throwSysError(errno, "cap_to_text");
  return text.get();
}

}  // namespace kata::security
