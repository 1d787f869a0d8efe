// The daemon's own hardening, applied once after start-up (socket bound, directories created,
// policy loaded) and before it serves the first request:
//
//   1. capabilities: keep only vmmdCapabilities() (docs/vmmd-security.md gives the reason for each);
//      bounding set, ambient and inheritable emptied of everything else, securebits locked;
//   2. seccomp: load the built-in allow-list (kata-vmmd/seccomp/vmmd.json, compiled into the binary)
//      on every thread.
//
// Capabilities first: capset, prctl(PR_CAPBSET_DROP) and prctl(PR_SET_SECUREBITS) are themselves
// system calls the filter allows only narrowly, and the reduction is easier to reason about before a
// filter that could kill the process mid-way. Both are irreversible for the life of the process.
// Must run while the process has a single thread (capabilities are per thread); it checks.
//
// The seccomp filter and the bounding set are inherited across clone and execve, so the daemon does
// not start QEMU or virtiofsd itself: its launcher process (jail_launcher.h), forked before this,
// keeps launcherCapabilities() and no filter, and starts them. The daemon's set and its filter cover
// only its own work.
#pragma once

#include <string>

#include "common/log.h"
#include "security/keep_caps.h"
#include "security/seccomp.h"

namespace kata::vmmd {

// The capabilities kata-vmmd keeps, and why (one line each, also in docs/vmmd-security.md).
// A required capability missing at start-up is an error; an optional one is a warning naming what
// will not work (e.g. CAP_SYS_RESOURCE, which some container hosts withhold even from root).
struct CapabilityReason {
  int cap;
  bool required;
  const char* reason;
};
const std::vector<CapabilityReason>& vmmdCapabilityReasons();
security::CapabilitySet vmmdCapabilities();          // all of them
security::CapabilitySet vmmdRequiredCapabilities();  // the required ones

// The capabilities the launcher process keeps (the child steps between clone and execve), and why.
const std::vector<CapabilityReason>& launcherCapabilityReasons();
security::CapabilitySet launcherCapabilities();
security::CapabilitySet launcherRequiredCapabilities();

// The built-in policy, as compiled into the binary.
std::string_view vmmdSeccompPolicyText();
security::SeccompPolicy vmmdSeccompPolicy();

struct HardeningOptions {
  security::CapabilitySet keepCapabilities = vmmdRequiredCapabilities();  // missing one: error
  security::CapabilitySet optionalCapabilities = vmmdCapabilities();      // kept when permitted
  // enforce (default): a call outside the list kills the daemon. errno: it fails with EPERM (to
  // diagnose a denial without losing the daemon). log: allowed and logged (to discover a missing
  // entry, e.g. a new QEMU version). All three log the denied call to the kernel's audit log.
  security::SeccompMode seccompMode = security::SeccompMode::kEnforce;
};

// Applies capability reduction, then the seccomp filter. Throws (and has changed nothing the
// caller can rely on) if either step fails: the daemon must then exit, not serve unhardened.
void hardenDaemon(const HardeningOptions& options, const Logger& log);

}  // namespace kata::vmmd
