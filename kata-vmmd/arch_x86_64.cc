// x86_64: q35 (PCIe, so devices can be hot-plugged into pcie-root-ports), a 16550 UART console.
#include <sys/utsname.h>

#include "common/error.h"
#include "kata-vmmd/arch.h"

namespace kata::vmmd {
namespace {

class ArchX86_64 final : public Arch {
 public:
  const char* name() const override { return "x86_64"; }
  std::string qemuBinary() const override { return "qemu-system-x86_64"; }
  std::string machine(Accel accel) const override {
    // q35 gives PCIe with native hotplug. vmport, SATA, SMBus and USB are devices a
    // container guest never uses: less emulated surface for the guest to attack.
    return std::string("q35,accel=") + (accel == Accel::kKvm ? "kvm" : "tcg") +
           ",vmport=off,sata=off,smbus=off,usb=off";
  }
  std::string cpuModel(Accel accel) const override { return accel == Accel::kKvm ? "host" : "max"; }
  std::vector<std::string> consoleArgs(const std::string& chardevId) const override {
    return {"-device", "isa-serial,chardev=" + chardevId};
  }
  std::string consoleKernelParam() const override { return "console=ttyS0"; }
  std::string extraKernelParams() const override { return "i8042.noaux=1 i8042.nomux=1 i8042.nopnp=1"; }
  std::string virtioTransportSuffix() const override { return "-pci"; }
  std::string rootBus() const override { return "pcie.0"; }
  bool hotplugViaRootPorts() const override { return true; }
};

}  // namespace

std::unique_ptr<Arch> archByName(const std::string& name) {
  if (name == "x86_64") return std::make_unique<ArchX86_64>();
  fail(ErrorKind::kNotSupported, "architecture " + name +
                                     " has no QEMU support in kata-vmmd yet (supported: x86_64)");
}

std::unique_ptr<Arch> hostArch() {
  struct utsname u {};
  KATA_SYSCALL(::uname(&u));
  return archByName(u.machine);
}

}  // namespace kata::vmmd
