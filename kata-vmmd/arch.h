// Everything about the QEMU command line that depends on the guest architecture lives behind this
// interface, implemented once per architecture (arch_x86_64.cc; arch_aarch64.cc would add virt +
// pl011 + gic). qemu_config.cc never names a machine type, a console device or a bus.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "kata-vmmd/hypervisor.h"

namespace kata::vmmd {

class Arch {
 public:
  virtual ~Arch() = default;
  virtual const char* name() const = 0;  // "x86_64"
  virtual std::string qemuBinary() const = 0;  // default binary name, looked up by the caller
  // The -machine value, without memory-backend (added by the caller). accel is kKvm or kTcg.
  virtual std::string machine(Accel accel) const = 0;
  // The -cpu value: the host's CPU under KVM, the emulator's richest model under TCG.
  virtual std::string cpuModel(Accel accel) const = 0;
  // Arguments that attach the guest console to the chardev with the given id, and the kernel
  // parameter that makes the guest kernel write to it.
  virtual std::vector<std::string> consoleArgs(const std::string& chardevId) const = 0;
  virtual std::string consoleKernelParam() const = 0;
  // Kernel parameters every guest of this architecture needs (e.g. no i8042 probing on q35).
  virtual std::string extraKernelParams() const = 0;
  // How a virtio device is attached: "virtio-blk" + transportSuffix() → "virtio-blk-pci" on PCI
  // machines, "-device" on MMIO machines (Firecracker-like microvm).
  virtual std::string virtioTransportSuffix() const = 0;
  // The bus cold-plugged devices sit on ("pcie.0"), and whether hot-plug needs root ports.
  virtual std::string rootBus() const = 0;
  virtual bool hotplugViaRootPorts() const = 0;
};

// The architecture of the host we run on (QEMU guests are the host's architecture).
std::unique_ptr<Arch> hostArch();
// By name ("x86_64"); kNotSupported for an architecture without an implementation.
std::unique_ptr<Arch> archByName(const std::string& name);

}  // namespace kata::vmmd
