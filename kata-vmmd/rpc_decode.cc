#include "kata-vmmd/rpc_decode.h"

#include "common/error.h"
#include "kata-vmmd/policy.h"
#include "kata-vmmd/qemu_config.h"
#include "kata-vmmd/validation.h"

namespace kata::vmmd {

capnp::ReaderOptions vmmdReaderOptions() {
  capnp::ReaderOptions o;
  o.traversalLimitInWords = 1u << 20;
  o.nestingLimit = 16;
  return o;
}

std::string decodeText(capnp::Text::Reader text, size_t maxBytes, const std::string& what) {
  if (text.size() > maxBytes)
    fail(ErrorKind::kInvalidArgument, what + " is " + std::to_string(text.size()) + " bytes, the limit is " +
                                          std::to_string(maxBytes));
  std::string s(text.cStr(), text.size());
  if (s.find('\0') != std::string::npos) fail(ErrorKind::kInvalidArgument, what + " contains a NUL byte");
  return s;
}

CreateRequest decodeVmSpec(ipc::vmmd::VmSpec::Reader spec) {
  CreateRequest r;
  r.sandboxId = decodeText(spec.getSandboxId(), 64, "sandbox id");
  r.vcpus = spec.getVcpus();
  r.memoryMiB = spec.getMemoryMiB();
  r.accel = decodeText(spec.getAccel(), 8, "accel");
  r.kernelCmdline = decodeText(spec.getKernelCmdline(), kMaxCmdlineBytes, "kernel command line");
  r.startPaused = spec.getStartPaused();
  r.hotplugSlots = spec.getHotplugSlots();
  r.sharedFs = decodeText(spec.getSharedFs(), 16, "sharedFs");
  if (r.sharedFs.empty()) r.sharedFs = "virtio-9p";
  r.netModel = decodeText(spec.getNetworkModel(), 16, "network model");
  r.netQueues = spec.getNetQueues();
  validateCreateRequest(r);
  return r;
}

Device decodeDevice(ipc::vmmd::Device::Reader d) {
  std::string id = decodeText(d.getId(), 32, "device id");
  validateDeviceId(id);
  switch (d.which()) {
    case ipc::vmmd::Device::EMULATED: {
      std::string driver = decodeText(d.getEmulated().getDriver(), 64, "device driver");
      if (driver.empty()) fail(ErrorKind::kInvalidArgument, "device " + id + ": empty driver name");
      return GenericDevice{id, driver, {}};
    }
    case ipc::vmmd::Device::VFIO: {
      std::string bdf = decodeText(d.getVfio().getHostBdf(), 16, "PCI address");
      validatePciAddress(bdf);
      return VfioDevice{id, bdf};
    }
    case ipc::vmmd::Device::BLOCK: {
      // The descriptor (block.file) arrives separately (an Fd capability); the server fills it in.
      BlockDevice b;
      b.id = id;
      b.format = decodeText(d.getBlock().getFormat(), 8, "block device format");
      if (b.format.empty()) b.format = "raw";
      if (b.format != "raw" && b.format != "qcow2")
        fail(ErrorKind::kInvalidArgument, "device " + id + ": block format \"" + b.format + "\" is not raw or qcow2");
      b.readOnly = d.getBlock().getReadOnly();
      return b;
    }
  }
  fail(ErrorKind::kInvalidArgument, "device " + id + ": unknown device type (a newer client?)");
}

}  // namespace kata::vmmd
