// Where a sandbox's VM comes from. The factory is the seam between the Sandbox API and whoever owns
// hypervisors: kata-vmmd today (VmmdVmFactory), a pre-booted VM cache or template factory later. The
// runtime itself never launches QEMU: it asks the factory, and controls the VM through `Vm`.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "common/fd.h"
#include "runtime/sandbox/event_loop.h"
#include "runtime/sandbox/guest_image.h"

namespace kata::ipc {
class VmmdClient;
}

namespace kata::sandbox {

// A network interface, as the pod's namespace has it (kata-vmmd's description of what it carried)
// or as the guest has it (the agent's).
struct Route {
  std::string destination;  // CIDR, or "default"
  std::string gateway;      // empty: on-link
  std::string device;
  std::string source;
  uint8_t family = 0;       // 4 | 6; 0: from destination/gateway
  uint32_t metric = 0;
};
struct Interface {
  std::string name;
  std::string mac;
  uint32_t mtu = 0;
  std::vector<std::pair<std::string, int>> addresses;  // address, prefix length
  std::vector<Route> routes;                           // through this interface (kata-vmmd's view)
  std::string type;                                    // veth | tap | macvlan | ipvlan | physical
};

struct VmRequest {
  std::string sandboxId;
  uint32_t vcpus = 1;
  uint64_t memoryMiB = 1024;
  std::string accel;              // "auto" | "kvm" | "tcg"; empty: the factory's default
  const GuestImage* image = nullptr;
  std::string kernelParams;       // appended to the image's command line
  uint32_t hotplugSlots = 4;
  int netnsFd = -1;               // the pod's network namespace, opened by the caller; -1: none
  std::string networkModel;
  uint32_t netQueues = 0;
  std::string sharedFs;           // "virtio-9p" | "virtio-fs"; empty: virtio-9p
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
  // The pod interfaces carried into the VM, with addresses and routes as the namespace has them.
  virtual std::vector<Interface> network() = 0;
  // Hot-plugs NICs for the pod namespace's interfaces not carried yet (the one named, or all);
  // netnsFd -1: the sandbox's own namespace. Returns what it added.
  virtual std::vector<Interface> attachNetwork(int netnsFd, const std::string& interfaceName) = 0;
  virtual void detachInterface(const std::string& name, std::chrono::milliseconds timeout) = 0;
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
