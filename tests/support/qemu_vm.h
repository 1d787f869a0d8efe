// Boots the guest image (build/guest) under QEMU for functional tests and benchmarks. One QemuVm is
// one QEMU process with its own work directory (console log, agent socket), killed and cleaned up
// when the object goes away. Tests share a VM across cases where they can: a TCG boot costs seconds.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/fd.h"

namespace kata::test {

// What build/guest/manifest.json says about how to boot the image.
struct GuestImage {
  std::string dir;
  std::string kernel;     // absolute path (vmlinux when the kernel has a PVH note)
  std::string initramfs;  // absolute path
  std::string cmdline;
  std::string machine;
  std::string channel;    // virtio-serial port name the agent serves
  std::string kernelRelease;
  std::string agentBuildId;
  std::vector<std::string> modules;

  // nullopt when dir has no manifest.json (image not built); throws if the manifest is malformed.
  static std::optional<GuestImage> load(const std::string& dir);
};

// KATA_BINARY_DIR/guest, where the guest-image target puts the image.
std::string defaultGuestImageDir();

// A host directory shared with the guest over virtio-9p; the agent mounts it by tag (createSandbox).
struct QemuShare {
  std::string tag;   // mount_tag
  std::string path;  // host directory
};

struct QemuVmOptions {
  int memoryMb = 256;
  int cpus = 1;
  std::string accel = "tcg";  // this machine's /dev/kvm is PVM-only: standard guests need TCG
  std::optional<std::string> cmdline;  // overrides the manifest's
  std::optional<std::string> kernel;   // overrides the manifest's (e.g. vmlinuz, for comparisons)
  std::vector<QemuShare> shares;
  std::vector<std::string> extraArgs;
};

class QemuVm {
 public:
  static std::unique_ptr<QemuVm> start(const GuestImage& image, const QemuVmOptions& options = {});
  ~QemuVm();
  QemuVm(const QemuVm&) = delete;
  QemuVm& operator=(const QemuVm&) = delete;

  const std::string& agentSocket() const { return agentSocket_; }
  const std::string& channelName() const { return channel_; }
  pid_t pid() const { return pid_; }
  std::chrono::steady_clock::time_point startedAt() const { return startedAt_; }
  // The guest's serial console so far (kernel messages and the agent's JSON log lines).
  std::string console() const;
  // QEMU's own stdout/stderr so far.
  std::string qemuLog() const;

  // Waits for QEMU to exit; returns its wait status, or nullopt if it is still running at the
  // deadline. Once it has returned a status, returns the same status again.
  std::optional<int> waitExit(std::chrono::milliseconds timeout);
  void kill();

 private:
  QemuVm() = default;
  std::string workDir_;
  std::string agentSocket_;
  std::string consolePath_;
  std::string qemuLogPath_;
  std::string channel_;
  pid_t pid_ = -1;
  UniqueFd pidfd_;
  std::optional<int> status_;
  std::chrono::steady_clock::time_point startedAt_;
};

}  // namespace kata::test
