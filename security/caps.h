// Capabilities of a launched child: all of them dropped, bounding set included, so nothing the child
// executes can regain one (with no_new_privs, not even through a file capability or setuid root).
#pragma once

#include <sys/types.h>

#include <string>

namespace kata::security {

struct CapPlan {
  int lastCap = 0;  // highest capability number the running kernel knows
};

// Asks libcap (which reads /proc/sys/kernel/cap_last_cap) how many capabilities this kernel has.
CapPlan prepareCapDrop();
// Before the uid change (PR_CAPBSET_DROP needs CAP_SETPCAP): empties the bounding set.
int applyBoundingSetDrop(const CapPlan& plan) noexcept;
// After the uid change: clears the ambient set, then the permitted, effective and inheritable sets.
int applyCapClear() noexcept;

// The capability state of a process in libcap's text form ("=" means none), for logs and checks.
std::string capabilityText(pid_t pid);

}  // namespace kata::security
