// Decides whether /dev/kvm can run a real guest. "The device exists and opens" is not enough: this
// machine's /dev/kvm is PVM, which answers the KVM API but only boots PVM-patched guest kernels. So
// the probe runs two tiny guests and checks their exits:
//   1. real mode: mov al,0x42; out 0x10,al; hlt  → KVM_EXIT_IO (port 0x10, 0x42), then KVM_EXIT_HLT;
//   2. what a standard kernel needs: 64-bit mode, paging, ring 0 at 0xffffffff81000000, int3 delivered
//      through the IDT to a handler doing out 0x11 + hlt → KVM_EXIT_IO (0x11, 0x43), KVM_EXIT_HLT.
// PVM passes 1 but fails 2 (KVM_EXIT_INTERNAL_ERROR: it cannot deliver exceptions to a non-PVM guest).
// It runs in a forked child with a hard deadline: a broken KVM may hang in KVM_RUN, and the daemon
// must not.
#pragma once

#include <chrono>
#include <string>

#include "common/log.h"
#include "kata-vmmd/hypervisor.h"

namespace kata::vmmd {

struct KvmProbeResult {
  bool usable = false;
  std::string reason;  // why not (or "ran a real-mode guest: KVM_EXIT_IO then KVM_EXIT_HLT")
};

KvmProbeResult probeKvm(const std::string& devicePath = "/dev/kvm",
                        std::chrono::milliseconds deadline = std::chrono::milliseconds(3000));

// Resolves the configured accelerator: kTcg → kTcg without probing; kKvm → kKvm, or kFailedPrecondition
// naming why KVM is unusable; kAuto → kKvm when usable, else kTcg with a warning on the log.
Accel resolveAccel(Accel requested, const Logger& log, const std::string& devicePath = "/dev/kvm");

}  // namespace kata::vmmd
