#include "kata-vmmd/hypervisor.h"

#include "common/error.h"

namespace kata::vmmd {

const char* accelName(Accel accel) {
  switch (accel) {
    case Accel::kAuto: return "auto";
    case Accel::kKvm: return "kvm";
    case Accel::kTcg: return "tcg";
  }
  return "unknown";
}

Accel parseAccel(const std::string& name) {
  if (name == "auto") return Accel::kAuto;
  if (name == "kvm") return Accel::kKvm;
  if (name == "tcg") return Accel::kTcg;
  fail(ErrorKind::kInvalidArgument, "invalid accelerator \"" + name + "\" (expected auto, kvm or tcg)");
}

const std::string& deviceId(const Device& device) {
  return std::visit([](const auto& d) -> const std::string& { return d.id; }, device);
}

const char* vmStateName(VmState state) {
  switch (state) {
    case VmState::kNotStarted: return "not-started";
    case VmState::kRunning: return "running";
    case VmState::kPaused: return "paused";
    case VmState::kShutdown: return "shutdown";
    case VmState::kExited: return "exited";
    case VmState::kUnknown: return "unknown";
  }
  return "unknown";
}

}  // namespace kata::vmmd
