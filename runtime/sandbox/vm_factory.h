// Where a sandbox's VM comes from. The factory is the seam between the Sandbox API and whoever owns
// hypervisors: kata-vmmd today (VmmdVmFactory), a pre-booted VM cache or template factory later. The
// runtime itself never launches QEMU: it asks the factory, and controls the VM through `Vm`.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "common/fd.h"
#include "runtime/sandbox/event_loop.h"
#include "runtime/sandbox/guest_image.h"

namespace kata::ipc {
class VmmdClient;
}

namespace kata::sandbox {

struct VmRequest {
  std::string sandboxId;
  uint32_t vcpus = 1;
  uint64_t memoryMiB = 1024;
  std::string accel;              // "auto" | "kvm" | "tcg"; empty: the factory's default
  const GuestImage* image = nullptr;
  std::string kernelParams;       // appended to the image's command line
  uint32_t hotplugSlots = 4;
};

struct VmInfo {
  std::string sandboxId;
  std::string state;              // "created" | "running" | "paused" | "stopped" | "unknown"
  int pid = -1;                   // hypervisor process, -1 once stopped
  uint32_t vcpus = 0;
  uint64_t memoryMiB = 0;
  std::string detail;
};

struct VmStats {
  uint64_t memoryBaseBytes = 0;
  uint64_t balloonActualBytes = 0;
  uint32_t vcpus = 0;
};

// A device for Vm::hotplug, as kata-vmmd's policy allows it.
struct HotplugDevice {
  std::string id;                 // unique in the VM; a block device's serial in the guest
  enum class Kind { kEmulated, kBlock, kVfio } kind = Kind::kEmulated;
  std::string driver;             // kEmulated: e.g. "virtio-rng-pci"
  int fileFd = -1;                // kBlock: an image or block device the caller opened (borrowed)
  bool readOnly = false;          // kBlock
  std::string format = "raw";     // kBlock: "raw" | "qcow2"
  std::string hostBdf;            // kVfio: "0000:3b:00.1"
};

class Vm {
 public:
  virtual ~Vm() = default;
  virtual VmInfo info() = 0;
  virtual VmStats stats() = 0;
  virtual void start() = 0;  // runs the CPUs of a VM created paused
  virtual void pause() = 0;
  virtual void resume() = 0;
  // Makes the file or directory `fd` (opened by the caller, which proves access) visible to the guest
  // as <share root>/<name>.
  virtual void share(int fd, const std::string& name, bool readOnly) = 0;
  virtual void unshare(const std::string& name) = 0;
  virtual void hotplug(const HotplugDevice& device) = 0;
  virtual void unplug(const std::string& deviceId, std::chrono::milliseconds timeout) = 0;
  // A new connection to the guest agent's channel.
  virtual UniqueFd agentChannel() = 0;
  // Powers off and removes everything the VM had on the host.
  virtual void destroy(std::chrono::milliseconds timeout) = 0;
};

class VmFactory {
 public:
  virtual ~VmFactory() = default;
  // A new VM booting `request.image`; agentChannel receives a connection to its agent.
  virtual std::unique_ptr<Vm> create(const VmRequest& request, UniqueFd& agentChannel) = 0;
  // The VM of an existing sandbox (created by this or another process). kNotFound when there is none.
  virtual std::unique_ptr<Vm> open(const std::string& sandboxId) = 0;
};

// VMs from kata-vmmd: each call is an RPC on one connection made on first use. Kernel and initramfs
// travel as descriptors this process opened, so the daemon resolves no path of ours.
class VmmdVmFactory final : public VmFactory {
 public:
  VmmdVmFactory(EventLoop& loop, std::string socketPath);
  ~VmmdVmFactory() override;
  std::unique_ptr<Vm> create(const VmRequest& request, UniqueFd& agentChannel) override;
  std::unique_ptr<Vm> open(const std::string& sandboxId) override;

 private:
  ipc::VmmdClient& client();

  EventLoop& loop_;
  std::string socketPath_;
  std::unique_ptr<ipc::VmmdClient> client_;
};

}  // namespace kata::sandbox
