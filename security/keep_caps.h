// Capability reduction for a long-running privileged process (kata-vmmd): after start-up it keeps
// only the capabilities it names, in every set, and makes sure none can come back.
//
// keepOnlyCapabilities(keep):
//   1. refuses to run with more than one thread (capabilities, the bounding set and securebits are
//      per thread; another thread would keep everything);
//   2. checks that every kept capability is permitted now (a daemon started without one would fail
//      later, at the first request that needs it; better to fail at start-up, naming it);
//   3. locks the securebits: NOROOT (an execve as uid 0 grants no capabilities), NO_CAP_AMBIENT_RAISE
//      and KEEP_CAPS off, all locked. NO_SETUID_FIXUP stays off on purpose: the launcher's child
//      relies on the kernel clearing its capabilities when it switches to the VM's uid;
//   4. drops every other capability from the bounding set (needs CAP_SETPCAP, kept for step C8 of
//      the launcher, which empties the child's bounding set);
//   5. clears the ambient set, sets permitted = effective = keep, inheritable = none;
//   6. reads the state back and fails if it is not exactly that.
#pragma once

#include <set>
#include <string>
#include <vector>

namespace kata::security {

using CapabilitySet = std::set<int>;  // CAP_* numbers

// "CAP_SYS_ADMIN" / "cap_sys_admin" → number; kInvalidArgument for an unknown name.
int capabilityFromName(const std::string& name);
std::string capabilityName(int cap);  // "CAP_SYS_ADMIN"
std::string capabilitySetText(const CapabilitySet& caps);  // "CAP_CHOWN,CAP_KILL" or "none"

struct ProcessCapabilities {
  CapabilitySet effective, permitted, inheritable, bounding, ambient;
};
// The calling thread's capability sets (from the kernel, not from what we asked for).
ProcessCapabilities currentCapabilities();

void keepOnlyCapabilities(const CapabilitySet& keep);

}  // namespace kata::security
