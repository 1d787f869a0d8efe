#include "kata-vmmd/qemu_config.h"

#include <regex>

#include "common/error.h"
#include "security/validate.h"

namespace kata::vmmd {
namespace {

using nlohmann::json;
using security::validateAbsolutePath;

constexpr unsigned kMaxVcpus = 288;            // q35's limit in QEMU 7.2 (with x2apic)
constexpr uint64_t kMaxMemoryMiB = 1u << 22;   // 4 TiB: a bound, not a policy (policy lives in vmmd)
constexpr unsigned kMaxRootPorts = 32;
constexpr size_t kMaxCmdline = 4096;

std::string invalid(const std::string& msg) { fail(ErrorKind::kInvalidArgument, msg); }

void validateFd(int fd, const std::string& what) {
  // 0-2 are QEMU's stdio (stdin /dev/null, stdout/stderr the log); a device fd there is a bug.
  if (fd < 3) invalid(what + ": file descriptor " + std::to_string(fd) + " is not a valid passed fd");
}

std::string fsdevSecurityModel(FsShareDevice::SecurityModel m) {
  switch (m) {
    case FsShareDevice::SecurityModel::kNone: return "none";
    case FsShareDevice::SecurityModel::kPassthrough: return "passthrough";
    case FsShareDevice::SecurityModel::kMappedXattr: return "mapped-xattr";
    case FsShareDevice::SecurityModel::kMappedFile: return "mapped-file";
  }
  return "none";
}

void validateMac(const std::string& mac) {
  static const std::regex re("^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$");
  if (!std::regex_match(mac, re)) invalid("invalid MAC address \"" + mac + "\" (expected xx:xx:xx:xx:xx:xx)");
}

void validateBdf(const std::string& bdf) {
  static const std::regex re("^[0-9a-fA-F]{4}:[0-9a-fA-F]{2}:[0-9a-fA-F]{2}\\.[0-7]$");
  if (!std::regex_match(bdf, re))
    invalid("invalid PCI address \"" + bdf + "\" (expected domain:bus:slot.function, e.g. 0000:3b:00.1)");
}

void validateTag(const std::string& tag, const std::string& what) {
  static const std::regex re("^[A-Za-z0-9_.-]{1,31}$");
  if (!std::regex_match(tag, re)) invalid(what + " \"" + tag + "\" must be 1-31 characters of [A-Za-z0-9_.-]");
}

void validateDriverName(const std::string& driver) {
  static const std::regex re("^[a-z0-9][a-z0-9_.-]{0,63}$");
  if (!std::regex_match(driver, re)) invalid("invalid QEMU device driver name \"" + driver + "\"");
}

std::string joinFds(const std::vector<int>& fds) {
  std::string s;
  for (int fd : fds) s += (s.empty() ? "" : ":") + std::to_string(fd);
  return s;
}

std::string blockDriver(const BlockDevice& d) {
  if (d.path.rfind("/dev/fdset/", 0) == 0) return d.hostDevice ? "host_device" : "file";
  return d.path.rfind("/dev/", 0) == 0 ? "host_device" : "file";
}

// The serial the guest sees: the device id unless one is given. virtio-blk carries 20 bytes of it
// (VIRTIO_BLK_ID_BYTES); a longer one would reach the guest cut, and two could look the same.
std::string blockSerial(const BlockDevice& d) {
  std::string serial = d.serial.empty() ? d.id : d.serial;
  validateTag(serial, "disk serial of " + d.id);
  if (serial.size() > 20)
    invalid("disk serial \"" + serial + "\" of " + d.id +
            " is longer than 20 characters, all a virtio-blk serial carries to the guest: use a shorter device id or "
            "give a serial");
  return serial;
}

void validateBlockFormat(const std::string& format) {
  if (format != "raw" && format != "qcow2") invalid("unsupported block format \"" + format + "\" (raw or qcow2)");
}

// Turns a GenericDevice property into the JSON type device_add expects (QMP's device_add is typed:
// "on"/"off" are booleans, digits are integers).
json typedProperty(const std::string& value) {
  if (value == "on" || value == "true") return true;
  if (value == "off" || value == "false") return false;
  if (!value.empty() && value.size() < 19 &&
      value.find_first_not_of("0123456789") == std::string::npos)
    return std::stoll(value);
  return value;
}

class ArgvBuilder {
 public:
  ArgvBuilder(const QemuConfig& config, const Arch& arch) : config_(config), arch_(arch) {}

  std::vector<std::string> build() {
    validateTop();
    args_.push_back(config_.binary.empty() ? arch_.qemuBinary() : config_.binary);
    // No default devices, no host configuration files, no display: every device the guest sees is
    // one this function added.
    add({"-nodefaults", "-nographic", "-no-user-config"});
    if (config_.seccompSandbox)
      add({"-sandbox", "on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny"});
    add({"-name", qemuOptValue(config_.name, "VM name") + ",debug-threads=on"});
    machineAndMemory();
    add({"-cpu", config_.cpuModel.empty() ? arch_.cpuModel(config_.accel) : config_.cpuModel});
    unsigned maxVcpus = config_.maxVcpus ? config_.maxVcpus : config_.vcpus;
    add({"-smp", std::to_string(config_.vcpus) + ",maxcpus=" + std::to_string(maxVcpus)});
    kernel();
    qmp();
    console();
    for (unsigned i = 0; i < config_.hotplugRootPorts; ++i)
      add({"-device", "pcie-root-port,id=" + rootPortId(i) + ",bus=" + arch_.rootBus() +
                          ",chassis=" + std::to_string(i + 1)});
    for (const Device& d : config_.devices) std::visit([this](const auto& dev) { device(dev); }, d);
    if (config_.startPaused) add({"-S"});
    return std::move(args_);
  }

 private:
  void add(std::initializer_list<std::string> items) { args_.insert(args_.end(), items); }

  void validateTop() {
    if (config_.name.empty() || config_.name.size() > 64) invalid("VM name must be 1-64 characters");
    if (config_.accel == Accel::kAuto)
      fail(ErrorKind::kInternal, "QEMU config with accel=auto: resolve the accelerator before building argv");
    if (config_.vcpus == 0 || config_.vcpus > kMaxVcpus)
      invalid("vCPU count " + std::to_string(config_.vcpus) + " is out of range 1-" + std::to_string(kMaxVcpus));
    if (config_.maxVcpus && (config_.maxVcpus < config_.vcpus || config_.maxVcpus > kMaxVcpus))
      invalid("maximum vCPU count " + std::to_string(config_.maxVcpus) + " must be between vcpus and " +
              std::to_string(kMaxVcpus));
    if (config_.memory.sizeMiB < 64 || config_.memory.sizeMiB > kMaxMemoryMiB)
      invalid("memory size " + std::to_string(config_.memory.sizeMiB) + " MiB is out of range 64-" +
              std::to_string(kMaxMemoryMiB));
    if (config_.hotplugRootPorts > kMaxRootPorts)
      invalid("at most " + std::to_string(kMaxRootPorts) + " hot-plug slots");
    if (config_.hotplugRootPorts && !arch_.hotplugViaRootPorts())
      fail(ErrorKind::kNotSupported, std::string("hot-plug slots are not supported on ") + arch_.name());
    std::vector<std::string> ids;
    for (const Device& d : config_.devices) {
      const std::string& id = deviceId(d);
      validateDeviceId(id);
      for (const auto& seen : ids)
        if (seen == id) invalid("device id \"" + id + "\" is used twice");
      ids.push_back(id);
    }
  }

  void machineAndMemory() {
    std::string machine = arch_.machine(config_.accel);
    const MemorySpec& mem = config_.memory;
    std::string size = std::to_string(mem.sizeMiB) + "M";
    if (mem.backend != MemorySpec::Backend::kPrivate) {
      // A shared backend replaces the machine's anonymous RAM: virtio-fs / vhost-user daemons map it.
      std::string object;
      if (mem.backend == MemorySpec::Backend::kMemfd) {
        object = "memory-backend-memfd,id=mem0,size=" + size + ",share=on";
        if (mem.hugepages) object += ",hugetlb=on";
      } else {
        validateAbsolutePath(mem.filePath, "memory backend path");
        object = "memory-backend-file,id=mem0,size=" + size + ",mem-path=" +
                 qemuOptValue(mem.filePath, "memory backend path") + ",share=on";
        if (mem.hugepages) object += ",prealloc=on";
      }
      add({"-object", object});
      machine += ",memory-backend=mem0";
    } else if (mem.hugepages) {
      invalid("hugepages need a shared memory backend (memfd or file)");
    }
    add({"-machine", machine, "-m", size});
  }

  void kernel() {
    const KernelSpec& k = config_.kernel;
    if (k.kernel.empty()) {
      // Firmware only: the VM exists (devices, QMP) before the client has a guest image.
      if (!k.initrd.empty() || !k.cmdline.empty()) invalid("an initrd or kernel command line needs a guest kernel");
      return;
    }
    validateAbsolutePath(k.kernel, "guest kernel");
    add({"-kernel", qemuOptValue(k.kernel, "guest kernel")});
    if (!k.initrd.empty()) {
      validateAbsolutePath(k.initrd, "guest initrd");
      add({"-initrd", qemuOptValue(k.initrd, "guest initrd")});
    }
    std::string cmdline = k.cmdline;
    auto append = [&](const std::string& p) {
      if (!p.empty()) cmdline += (cmdline.empty() ? "" : " ") + p;
    };
    if (!config_.consoleLogPath.empty()) append(arch_.consoleKernelParam());
    append(arch_.extraKernelParams());
    if (cmdline.size() > kMaxCmdline) invalid("kernel command line is longer than 4096 bytes");
    for (char c : cmdline)
      if (static_cast<unsigned char>(c) < 0x20) invalid("kernel command line contains a control character");
    // -append is a plain string for QEMU (not option syntax): no ',' escaping.
    add({"-append", cmdline});
  }

  void qmp() {
    const QmpEndpoint& q = config_.qmp;
    std::string chardev = "socket,id=qmp,";
    if (q.listenFd >= 0) {
      validateFd(q.listenFd, "QMP socket");
      chardev += "fd=" + std::to_string(q.listenFd);
    } else if (!q.path.empty()) {
      validateAbsolutePath(q.path, "QMP socket path");
      chardev += "path=" + qemuOptValue(q.path, "QMP socket path");
    } else {
      invalid("a QMP endpoint (listening fd or socket path) is required");
    }
    add({"-chardev", chardev + ",server=on,wait=off", "-mon", "chardev=qmp,mode=control"});
  }

  void console() {
    if (config_.consoleLogPath.empty()) return;
    validateAbsolutePath(config_.consoleLogPath, "console log path");
    add({"-chardev", "file,id=console,path=" + qemuOptValue(config_.consoleLogPath, "console log path")});
    auto extra = arch_.consoleArgs("console");
    args_.insert(args_.end(), extra.begin(), extra.end());
  }

  std::string virtio(const std::string& base) const { return base + arch_.virtioTransportSuffix(); }

  void device(const SerialPortDevice& d) {
    validateTag(d.name, "virtio-serial port name");
    if (!serialBus_) {
      add({"-device", virtio("virtio-serial") + ",id=vserial0"});
      serialBus_ = true;
    }
    std::string chardev = "socket,id=char-" + d.id + ",";
    if (d.listenFd >= 0) {
      validateFd(d.listenFd, "serial port " + d.id);
      chardev += "fd=" + std::to_string(d.listenFd);
    } else {
      validateAbsolutePath(d.socketPath, "serial port " + d.id + " socket");
      chardev += "path=" + qemuOptValue(d.socketPath, "serial port socket");
    }
    add({"-chardev", chardev + ",server=on,wait=off",
         "-device", "virtserialport,bus=vserial0.0,id=" + d.id + ",chardev=char-" + d.id + ",name=" + d.name});
  }

  void device(const VsockDevice& d) {
    if (d.guestCid < 3) invalid("vsock guest CID must be 3 or more, got " + std::to_string(d.guestCid));
    std::string dev = virtio("vhost-vsock") + ",id=" + d.id + ",guest-cid=" + std::to_string(d.guestCid);
    if (d.vhostFd >= 0) {
      validateFd(d.vhostFd, "vsock " + d.id);
      dev += ",vhostfd=" + std::to_string(d.vhostFd);
    }
    add({"-device", dev});
  }

  void device(const FsShareDevice& d) {
    validateAbsolutePath(d.path, "shared directory " + d.id);
    validateTag(d.mountTag, "9p mount tag");
    std::string fsdev = "local,id=fs-" + d.id + ",path=" + qemuOptValue(d.path, "shared directory") +
                        ",security_model=" + fsdevSecurityModel(d.securityModel) +
                        // remap: files from different host file systems keep distinct inode numbers.
                        ",multidevs=remap";
    if (d.readOnly) fsdev += ",readonly=on";
    add({"-fsdev", fsdev, "-device", virtio("virtio-9p") + ",id=" + d.id + ",fsdev=fs-" + d.id +
                                         ",mount_tag=" + d.mountTag});
  }

  void device(const VirtioFsDevice& d) {
    validateTag(d.mountTag, "virtio-fs tag");
    validateFd(d.socketFd, "virtio-fs device " + d.id + " (its vhost-user connection to virtiofsd)");
    if (d.queueSize < 64 || d.queueSize > 1024 || (d.queueSize & (d.queueSize - 1)))
      invalid("virtio-fs device " + d.id + ": queue size " + std::to_string(d.queueSize) +
              " must be a power of two in 64-1024");
    // virtiofsd maps the guest's RAM: it must be a shared backend, never the anonymous default.
    if (config_.memory.backend == MemorySpec::Backend::kPrivate)
      invalid("virtio-fs device " + d.id + " needs guest memory in a shared backend (memfd or file)");
    // A connected socket (fd= without server=on): QEMU is the vhost-user front end on a connection
    // vmmd opened to virtiofsd's listening socket, so QEMU needs no path and no access to it.
    add({"-chardev", "socket,id=char-" + d.id + ",fd=" + std::to_string(d.socketFd),
         "-device", virtio("vhost-user-fs") + ",id=" + d.id + ",chardev=char-" + d.id + ",tag=" + d.mountTag +
                        ",queue-size=" + std::to_string(d.queueSize)});
  }

  void device(const NetDevice& d) {
    add({"-netdev", netdevTap(d), "-device", netDevice(d)});
  }

  std::string netdevTap(const NetDevice& d) const {
    if (d.tapFds.empty() || d.tapFds.size() > 16) invalid("network device " + d.id + " needs 1-16 tap fds");
    for (int fd : d.tapFds) validateFd(fd, "tap of " + d.id);
    std::string s = "tap,id=net-" + d.id;
    s += d.tapFds.size() == 1 ? ",fd=" + std::to_string(d.tapFds[0]) : ",fds=" + joinFds(d.tapFds);
    if (!d.vhostFds.empty()) {
      if (d.vhostFds.size() != d.tapFds.size())
        invalid("network device " + d.id + " needs one vhost fd per tap fd");
      for (int fd : d.vhostFds) validateFd(fd, "vhost-net of " + d.id);
      s += ",vhost=on,";
      s += d.vhostFds.size() == 1 ? "vhostfd=" + std::to_string(d.vhostFds[0]) : "vhostfds=" + joinFds(d.vhostFds);
    }
    return s;
  }

  std::string netDevice(const NetDevice& d) const {
    validateMac(d.mac);
    std::string s = virtio("virtio-net") + ",id=" + d.id + ",netdev=net-" + d.id + ",mac=" + d.mac;
    if (!d.bus.empty()) {
      validateDeviceId(d.bus);
      s += ",bus=" + d.bus;
    }
    if (d.tapFds.size() > 1)  // multi-queue: one MSI-X vector per queue pair direction + config + control
      s += ",mq=on,vectors=" + std::to_string(2 * d.tapFds.size() + 2);
    if (d.mtu) {
      if (*d.mtu < 68 || *d.mtu > 65535) invalid("MTU of " + d.id + " is out of range 68-65535");
      s += ",host_mtu=" + std::to_string(*d.mtu);
    }
    return s;
  }

  void device(const BlockDevice& d) {
    if (d.fd >= 0) invalid("block device " + d.id + ": a passed descriptor is for hot-plug only; give a path");
    validateAbsolutePath(d.path, "block device " + d.id);
    validateBlockFormat(d.format);
    std::string bd = "driver=" + d.format + ",node-name=blk-" + d.id + ",file.driver=" + blockDriver(d) +
                     ",file.filename=" + qemuOptValue(d.path, "block device path");
    if (d.readOnly) bd += ",read-only=on";
    std::string dev = virtio("virtio-blk") + ",id=" + d.id + ",drive=blk-" + d.id + ",serial=" + blockSerial(d);
    add({"-blockdev", bd, "-device", dev});
  }

  void device(const VfioDevice& d) {
    validateBdf(d.hostBdf);
    add({"-device", "vfio-pci,id=" + d.id + ",host=" + d.hostBdf});
  }

  void device(const GenericDevice& d) {
    validateDriverName(d.driver);
    std::string s = d.driver + ",id=" + d.id;
    for (const auto& [k, v] : d.properties) {
      validateDriverName(k);
      if (k == "id" || k == "driver") invalid("device " + d.id + ": property \"" + k + "\" is reserved");
      s += "," + k + "=" + qemuOptValue(v, "property " + k + " of " + d.id);
    }
    add({"-device", s});
  }

  const QemuConfig& config_;
  const Arch& arch_;
  std::vector<std::string> args_;
  bool serialBus_ = false;
};

}  // namespace

void validateDeviceId(const std::string& id) {
  static const std::regex re("^[A-Za-z0-9_-]{1,32}$");
  if (!std::regex_match(id, re))
    invalid("invalid device id \"" + id + "\": use 1-32 characters of [A-Za-z0-9_-]");
}

std::string qemuOptValue(const std::string& value, const std::string& what) {
  if (value.empty()) invalid(what + " is empty");
  std::string out;
  for (char c : value) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) invalid(what + " contains a control character");
    out += c;
    if (c == ',') out += ',';
  }
  return out;
}

std::string rootPortId(unsigned index) { return "rp" + std::to_string(index); }

std::vector<std::string> buildQemuArgs(const QemuConfig& config, const Arch& arch) {
  return ArgvBuilder(config, arch).build();
}

HotplugPlan planHotplug(const Device& device, const std::string& bus, const Arch& arch) {
  HotplugPlan plan;
  const std::string& id = deviceId(device);
  validateDeviceId(id);
  validateDeviceId(bus);
  auto virtio = [&](const std::string& base) { return base + arch.virtioTransportSuffix(); };
  std::visit(
      [&](const auto& d) {
        using T = std::decay_t<decltype(d)>;
        if constexpr (std::is_same_v<T, GenericDevice>) {
          validateDriverName(d.driver);
          plan.deviceAdd = {{"driver", d.driver}, {"id", id}, {"bus", bus}};
          for (const auto& [k, v] : d.properties) {
            validateDriverName(k);
            if (k == "id" || k == "driver" || k == "bus") invalid("device " + id + ": property \"" + k + "\" is reserved");
            plan.deviceAdd[k] = typedProperty(v);
          }
        } else if constexpr (std::is_same_v<T, BlockDevice>) {
          validateAbsolutePath(d.path, "block device " + id);
          validateBlockFormat(d.format);
          json blockdev = {{"driver", d.format},
                           {"node-name", "blk-" + id},
                           {"read-only", d.readOnly},
                           {"file", {{"driver", blockDriver(d)}, {"filename", d.path}}}};
          // An image the client passed as a descriptor: QEMU must not open a backing file a qcow2
          // header names (a path the client never proved it may read).
          if (d.format == "qcow2" && d.path.rfind("/dev/fdset/", 0) == 0) blockdev["backing"] = nullptr;
          plan.backends.push_back({"blockdev-add", blockdev});
          plan.deviceAdd = {{"driver", virtio("virtio-blk")}, {"id", id}, {"bus", bus}, {"drive", "blk-" + id},
                            {"serial", blockSerial(d)}};
        } else if constexpr (std::is_same_v<T, NetDevice>) {
          validateMac(d.mac);
          if (d.tapFds.empty() || d.tapFds.size() > 16) invalid("network device " + id + " needs 1-16 tap fds");
          if (!d.vhostFds.empty() && d.vhostFds.size() != d.tapFds.size())
            invalid("network device " + id + " needs one vhost fd per tap fd");
          std::string tapNames, vhostNames;
          for (size_t i = 0; i < d.tapFds.size(); ++i) {
            std::string n = "tap-" + id + "-" + std::to_string(i);
            plan.fds.push_back({n, d.tapFds[i]});
            tapNames += (i ? ":" : "") + n;
          }
          for (size_t i = 0; i < d.vhostFds.size(); ++i) {
            std::string n = "vhost-" + id + "-" + std::to_string(i);
            plan.fds.push_back({n, d.vhostFds[i]});
            vhostNames += (i ? ":" : "") + n;
          }
          json netdev = {{"type", "tap"}, {"id", "net-" + id}};
          netdev[d.tapFds.size() == 1 ? "fd" : "fds"] = tapNames;
          if (!d.vhostFds.empty()) {
            netdev["vhost"] = true;
            netdev[d.vhostFds.size() == 1 ? "vhostfd" : "vhostfds"] = vhostNames;
          }
          plan.backends.push_back({"netdev_add", netdev});
          plan.deviceAdd = {{"driver", virtio("virtio-net")}, {"id", id}, {"bus", bus},
                            {"netdev", "net-" + id}, {"mac", d.mac}};
          if (d.tapFds.size() > 1) {
            plan.deviceAdd["mq"] = true;
            plan.deviceAdd["vectors"] = 2 * d.tapFds.size() + 2;
          }
          if (d.mtu) plan.deviceAdd["host_mtu"] = *d.mtu;
        } else if constexpr (std::is_same_v<T, VfioDevice>) {
          validateBdf(d.hostBdf);
          plan.deviceAdd = {{"driver", "vfio-pci"}, {"id", id}, {"bus", bus}, {"host", d.hostBdf}};
        } else if constexpr (std::is_same_v<T, VsockDevice>) {
          if (d.guestCid < 3) invalid("vsock guest CID must be 3 or more");
          plan.deviceAdd = {{"driver", virtio("vhost-vsock")}, {"id", id}, {"bus", bus}, {"guest-cid", d.guestCid}};
          if (d.vhostFd >= 0) {
            plan.fds.push_back({"vhost-" + id, d.vhostFd});
            plan.deviceAdd["vhostfd"] = "vhost-" + id;
          }
        } else if constexpr (std::is_same_v<T, VirtioFsDevice>) {
          fail(ErrorKind::kNotSupported, "device " + id +
                                             ": hot-plugging a virtio-fs share is not supported; add it when "
                                             "the VM is created");
        } else if constexpr (std::is_same_v<T, FsShareDevice>) {
          fail(ErrorKind::kNotSupported, "device " + id +
                                             ": QEMU cannot hot-plug a 9p share (QMP has no fsdev_add); "
                                             "add the share when the VM is created");
        } else {
          fail(ErrorKind::kNotSupported, "device " + id +
                                             ": hot-plugging virtio-serial ports is not supported; "
                                             "add the port when the VM is created");
        }
      },
      device);
  return plan;
}

}  // namespace kata::vmmd
