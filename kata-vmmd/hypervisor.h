// The hypervisor interface of kata-vmmd: one VM, driven by one driver. QEMU is the first driver; the
// model below is deliberately hypervisor-neutral (no QEMU option names) so Cloud Hypervisor (REST over
// a unix socket) and Firecracker (REST, MMIO devices, no PCI hotplug) drivers fit the same shape:
//   - VmConfig says WHAT the VM is (vCPUs, memory, kernel, devices); a driver decides HOW to spell it.
//   - Files the VM needs (taps, vhost fds, listening sockets) are file descriptors the caller opened,
//     kept open in the hypervisor process at the same numbers.
//   - Helper processes a device needs (virtiofsd for virtio-fs) belong to the driver: launched,
//     stopped and re-adopted with the VM.
//   - Every call that waits takes a deadline; nothing blocks forever on a hypervisor that hangs.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <variant>
#include <vector>

namespace kata::vmmd {

// How the guest's CPU is virtualized. kAuto resolves to kKvm only when a real guest runs on /dev/kvm
// (see accel_probe.h), to kTcg otherwise.
enum class Accel { kAuto, kKvm, kTcg };
const char* accelName(Accel accel);
Accel parseAccel(const std::string& name);  // "auto" | "kvm" | "tcg"; kInvalidArgument otherwise

// Direct kernel boot. No kernel at all is a firmware-only VM (it exists, with its devices and control
// channel, before a client has a guest image). The image may come as a path or, preferred for
// anything a client supplies, as a descriptor the caller opened: the driver passes it to the
// hypervisor process and never resolves a client's path.
struct KernelSpec {
  std::string kernel;   // path to the guest kernel image; empty with kernelFd < 0: no kernel
  std::string initrd;   // optional initramfs
  std::string cmdline;  // kernel command line, without the console= the architecture adds
  int kernelFd = -1;    // an open kernel image (takes the place of the path)
  int initrdFd = -1;    // an open initramfs
};

// Guest RAM. A shared backend (memfd or a file on hugetlbfs/tmpfs, share=on) is what vhost-user and
// virtio-fs need: the daemon on the host maps the guest's memory.
struct MemorySpec {
  enum class Backend { kPrivate, kMemfd, kFile };
  uint64_t sizeMiB = 2048;
  Backend backend = Backend::kPrivate;
  std::string filePath;  // kFile only: directory or file for memory-backend-file (mem-path)
  bool hugepages = false;
};

// ---- devices --------------------------------------------------------------------------------------
// Each device has an id unique within the VM ([A-Za-z0-9_-], at most 32 chars); hotplug/unplug use it.

// A virtio-serial port whose host end is a unix socket the hypervisor listens on (the agent channel).
struct SerialPortDevice {
  std::string id;
  std::string name;        // port name the guest sees (/dev/virtio-ports/<name>)
  std::string socketPath;  // the hypervisor creates and listens on it...
  int listenFd = -1;       // ...or uses this listening socket the caller created (preferred)
};

struct VsockDevice {
  std::string id;
  uint32_t guestCid = 3;
  int vhostFd = -1;  // an open /dev/vhost-vsock; -1: the hypervisor opens it itself
};

// A host directory shared with the guest over virtio-9p.
struct FsShareDevice {
  enum class SecurityModel { kNone, kPassthrough, kMappedXattr, kMappedFile };
  std::string id;
  std::string path;      // host directory
  std::string mountTag;  // what the guest mounts (mount -t 9p <tag>)
  SecurityModel securityModel = SecurityModel::kNone;
  bool readOnly = false;
};

// A host directory shared with the guest over virtio-fs: a vhost-user-fs device whose backend is a
// virtiofsd process serving path. The driver launches that virtiofsd (jailed like the hypervisor,
// virtiofsd.h) and needs the guest RAM in a shared memory backend (MemorySpec kMemfd or kFile): the
// virtiofsd process maps it.
struct VirtioFsDevice {
  std::string id;
  std::string path;      // host directory virtiofsd serves
  std::string mountTag;  // what the guest mounts (mount -t virtiofs <tag>)
  int socketFd = -1;     // the vhost-user connection to virtiofsd, for the hypervisor (the driver fills it in)
  unsigned queueSize = 1024;
};

struct NetDevice {
  std::string id;
  std::vector<int> tapFds;  // one per queue, opened by the caller (netdev/)
  std::vector<int> vhostFds;  // optional vhost-net fds, one per tap fd
  std::string mac;          // "02:00:00:00:00:01"
  std::optional<uint32_t> mtu;
  // Cold-plugged only: the hot-plug slot's bus (rootPortId(k)) to put the NIC behind, so it can be
  // unplugged later like a hot-plugged one; empty: the root bus (removable only with the VM).
  std::string bus{};
};

struct BlockDevice {
  std::string id;
  std::string path;  // file or block device on the host
  std::string format = "raw";  // raw | qcow2
  bool readOnly = false;
  // What the guest sees as the disk serial (/sys/block/vdX/serial: the agent's waitBlockDevice finds
  // the disk by it). Empty: the device id. At most 20 characters (VIRTIO_BLK_ID_BYTES).
  std::string serial;
  // Hot-plug only: a descriptor the client opened (it proves access) instead of `path`; QEMU gets it
  // with add-fd and opens /dev/fdset/N. hostDevice: the descriptor is a block device, not a file.
  int fd = -1;
  bool hostDevice = false;
};

// A host PCI function handed to the guest through vfio-pci.
struct VfioDevice {
  std::string id;
  std::string hostBdf;  // "0000:3b:00.1"
};

// An emulated device by driver name, for devices the model has no type for yet (and for tests that
// hot-plug a real device into a guest without any host resources: e.g. "virtio-rng-pci").
struct GenericDevice {
  std::string id;
  std::string driver;
  std::map<std::string, std::string> properties;
};

using Device = std::variant<SerialPortDevice, VsockDevice, FsShareDevice, VirtioFsDevice, NetDevice, BlockDevice,
                            VfioDevice, GenericDevice>;
const std::string& deviceId(const Device& device);

struct VmConfig {
  std::string id;  // the sandbox id; validated like a container id
  Accel accel = Accel::kAuto;
  unsigned vcpus = 1;
  unsigned maxVcpus = 0;  // 0: same as vcpus
  MemorySpec memory;
  KernelSpec kernel;
  std::vector<Device> devices;  // cold-plugged at boot
  unsigned hotplugSlots = 2;    // free slots (PCIe root ports on x86) for devices added later
  std::string runDir;           // per-VM directory for sockets and logs, owned by the VM's uid
  std::string consoleLogPath;   // guest console output; empty: <runDir>/console.log
};

enum class VmState { kNotStarted, kRunning, kPaused, kShutdown, kExited, kUnknown };
const char* vmStateName(VmState state);

struct VmStatus {
  VmState state = VmState::kUnknown;
  pid_t pid = -1;
  std::string detail;  // the hypervisor's own word for the state (QMP "status"), for logs
};

struct VmStats {
  uint64_t memoryBaseBytes = 0;     // RAM present at boot
  uint64_t memoryPluggedBytes = 0;  // RAM hot-plugged since
  std::optional<uint64_t> balloonActualBytes;  // when a balloon device exists
  unsigned vcpus = 0;
};

struct ExitStatus {
  bool exited = false;   // false: still running when the deadline passed
  int code = -1;         // exit code when it exited normally
  int signal = 0;        // signal number when it was killed
  std::string reason;    // why the VM ended, when the driver knows more than the status (e.g. its virtiofsd died)
};

using Deadline = std::chrono::steady_clock::time_point;
inline Deadline deadlineIn(std::chrono::milliseconds ms) { return std::chrono::steady_clock::now() + ms; }

// One VM. Not thread-safe: the daemon serializes calls per sandbox.
class Hypervisor {
 public:
  virtual ~Hypervisor() = default;
  virtual const char* name() const = 0;  // "qemu", later "cloud-hypervisor", "firecracker"

  // Starts the hypervisor process (jailed) and connects its control channel. The VM starts running
  // unless the driver was asked to start it paused.
  virtual void launch() = 0;
  // Asks the guest to power off (ACPI), then forces the hypervisor to quit, then kills it, each stage
  // bounded by the deadline. Returns how the process ended.
  virtual ExitStatus stop(Deadline deadline) = 0;
  virtual void pause() = 0;
  virtual void resume() = 0;
  virtual VmStatus status() = 0;
  // Adds a device to the running VM; returns when the hypervisor accepted it.
  virtual void hotplug(const Device& device) = 0;
  // Asks the guest to release the device and waits until it did (or the deadline passed: kTimeout).
  virtual void unplug(const std::string& deviceId, Deadline deadline) = 0;
  virtual VmStats stats() = 0;
  // Waits for the hypervisor process to exit, at most until the deadline.
  virtual ExitStatus waitForExit(Deadline deadline) = 0;
  virtual pid_t pid() const = 0;
};

}  // namespace kata::vmmd
