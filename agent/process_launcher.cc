// kata-agent's launcher: the OCI set-up pipeline of agent/container/process_init.h.
#include "agent/process_launcher.h"

namespace kata::agent {
namespace {

class OciLauncher final : public ProcessLauncher {
 public:
  void prepareRootfs(const oci::Spec& spec, const std::string& rootfs, const std::string& cgroupPath) override {
    // pivot_root cannot leave the initramfs: move the root over "/" (runc --no-pivot). setns(CLONE_NEWNS)
    // looks "/" up with LOOKUP_DOWN, so exec'd processes land in the moved root too.
    RootfsOptions options;
    options.noPivot = true;
    options.applySysctl = true;  // the rootfs is prepared for the container's init only
    options.cgroupPath = cgroupPath;
    setupRootfs(spec, rootfs, options);
  }
  [[noreturn]] void exec(const ProcessSetup& setup) override { setupProcessAndExec(setup); }
};

}  // namespace

std::unique_ptr<ProcessLauncher> makeProcessLauncher() { return std::make_unique<OciLauncher>(); }

}  // namespace kata::agent
