#include "runtime/sandbox/vm_factory.h"

#include <fcntl.h>

#include "common/error.h"
#include "ipc/vmmd_client.h"

namespace kata::sandbox {
namespace {

namespace api = ipc::vmmd;

// kata-vmmd bounds its own calls (QMP timeouts); these only catch a daemon that stopped answering.
constexpr std::chrono::milliseconds kCreateTimeout{120000};
constexpr std::chrono::milliseconds kCallTimeout{60000};

const char* stateName(api::VmState s) {
  switch (s) {
    case api::VmState::CREATED: return "created";
    case api::VmState::RUNNING: return "running";
    case api::VmState::PAUSED: return "paused";
    case api::VmState::STOPPED: return "stopped";
    default: return "unknown";
  }
}

VmInfo toInfo(api::VmInfo::Reader r) {
  VmInfo i;
  i.sandboxId = r.getSandboxId();
  i.state = stateName(r.getState());
  i.pid = r.getPid();
  i.vcpus = r.getVcpus();
  i.memoryMiB = r.getMemoryMiB();
  i.detail = r.getDetail();
  return i;
}

std::vector<Interface> toInterfaces(capnp::List<api::NetInterface>::Reader list) {
  std::vector<Interface> out;
  for (auto i : list) {
    Interface x;
    x.name = i.getName();
    x.mac = i.getMac();
    x.mtu = i.getMtu();
    x.type = i.getType();
    for (auto a : i.getAddresses()) x.addresses.emplace_back(a.getAddress().cStr(), a.getPrefixLength());
    for (auto r : i.getRoutes())
      x.routes.push_back(Route{r.getDestination(), r.getGateway(), r.getDevice(), r.getSource(), r.getFamily(),
                               r.getMetric()});
    out.push_back(std::move(x));
  }
  return out;
}

UniqueFd openForVm(const std::string& path, const std::string& what) {
  return UniqueFd(KATA_SYSCALL(::open(path.c_str(), O_RDONLY | O_CLOEXEC), "open " + what + " " + path));
}

class VmmdVm final : public Vm {
 public:
  VmmdVm(EventLoop& loop, ipc::VmmdClient& client, api::Vm::Client vm, std::string id)
      : loop_(loop), client_(client), vm_(kj::mv(vm)), id_(std::move(id)) {}
  ~VmmdVm() noexcept override {}

 private:
  template <typename T>
  auto call(T&& promise, const std::string& what, std::chrono::milliseconds timeout = kCallTimeout) {
    return loop_.wait(kj::mv(promise), timeout, "kata-vmmd: sandbox " + id_ + ": " + what, "kata-vmmd");
  }

 public:

  VmInfo info() override {
    auto r = call(vm_.statusRequest().send(), "status");
    return toInfo(r.getInfo());
  }
  VmStats stats() override {
    auto r = call(vm_.statsRequest().send(), "stats");
    VmStats s;
    s.memoryBaseBytes = r.getStats().getMemoryBaseBytes();
    s.balloonActualBytes = r.getStats().getBalloonActualBytes();
    s.vcpus = r.getStats().getVcpus();
    return s;
  }
  void start() override { call(vm_.startRequest().send(), "start"); }
  void pause() override { call(vm_.pauseRequest().send(), "pause"); }
  void resume() override { call(vm_.resumeRequest().send(), "resume"); }
  void share(int fd, const std::string& name, bool readOnly) override {
    auto req = vm_.shareDirectoryRequest();
    req.setDir(client_.makeFd(fd));
    req.setName(name);
    req.setReadOnly(readOnly);
    call(req.send(), "sharing " + name);
  }
  void unshare(const std::string& name) override {
    auto req = vm_.unshareDirectoryRequest();
    req.setName(name);
    call(req.send(), "unsharing " + name);
  }
  void hotplug(const HotplugDevice& d) override {
    auto req = vm_.hotplugRequest();
    auto dev = req.initDevice();
    dev.setId(d.id);
    switch (d.kind) {
      case HotplugDevice::Kind::kEmulated: dev.initEmulated().setDriver(d.driver); break;
      case HotplugDevice::Kind::kVfio: dev.initVfio().setHostBdf(d.hostBdf); break;
      case HotplugDevice::Kind::kBlock: {
        auto b = dev.initBlock();
        b.setFile(client_.makeFd(d.fileFd));
        b.setReadOnly(d.readOnly);
        b.setFormat(d.format);
        break;
      }
    }
    call(req.send(), "hot-plugging " + d.id);
  }
  void unplug(const std::string& deviceId, std::chrono::milliseconds timeout) override {
    auto req = vm_.unplugRequest();
    req.setDeviceId(deviceId);
    req.setTimeoutMs(static_cast<uint32_t>(timeout.count()));
    call(req.send(), "unplugging " + deviceId, timeout + kCallTimeout);
  }
  UniqueFd agentChannel() override {
    auto r = call(vm_.agentChannelRequest().send(), "agent channel");
    return client_.takeFd(r.getChannel());
  }
  std::vector<Interface> network() override {
    return toInterfaces(call(vm_.listNetworkRequest().send(), "listing the carried network").getInterfaces());
  }
  std::vector<Interface> attachNetwork(int netnsFd, const std::string& interfaceName) override {
    auto req = vm_.attachNetworkRequest();
    if (netnsFd >= 0) req.setNetns(client_.makeFd(netnsFd));
    req.setInterfaceName(interfaceName);
    return toInterfaces(call(req.send(), "attaching the network" + (interfaceName.empty() ? std::string() : " interface " + interfaceName))
                            .getInterfaces());
  }
  void detachInterface(const std::string& name, std::chrono::milliseconds timeout) override {
    auto req = vm_.detachInterfaceRequest();
    req.setName(name);
    req.setTimeoutMs(static_cast<uint32_t>(timeout.count()));
    call(req.send(), "detaching network interface " + name, timeout + kCallTimeout);
  }
  void destroy(std::chrono::milliseconds timeout) override {
    auto req = vm_.destroyRequest();
    req.setTimeoutMs(static_cast<uint32_t>(timeout.count()));
    call(req.send(), "destroying the VM", timeout + kCallTimeout);
  }

 private:
  EventLoop& loop_;
  ipc::VmmdClient& client_;
  api::Vm::Client vm_;
  std::string id_;
};

}  // namespace

VmmdVmFactory::VmmdVmFactory(EventLoop& loop, std::string socketPath)
    : loop_(loop), socketPath_(std::move(socketPath)) {}

VmmdVmFactory::~VmmdVmFactory() = default;

ipc::VmmdClient& VmmdVmFactory::client() {
  if (!client_) {
    try {
      client_ = std::make_unique<ipc::VmmdClient>(loop_.io(), socketPath_);
    } catch (const Error& e) {
      throw Error(e.sysErrno() == EACCES ? ErrorKind::kPermissionDenied : ErrorKind::kFailedPrecondition,
                  "cannot reach kata-vmmd at " + socketPath_ + ": " + e.what() +
                      " (is kata-vmmd running, and does its policy admit this user? see docs/vmmd.md)",
                  e.sysErrno());
    }
  }
  return *client_;
}

std::unique_ptr<Vm> VmmdVmFactory::create(const VmRequest& request, UniqueFd& agentChannel) {
  if (request.image == nullptr) fail(ErrorKind::kInvalidArgument, "sandbox " + request.sandboxId + ": no guest image");
  auto& c = client();
  UniqueFd kernel = openForVm(request.image->kernel, "guest kernel");
  UniqueFd initrd = openForVm(request.image->initramfs, "guest initramfs");
  auto req = c.vmmd().createVmRequest();
  auto spec = req.initSpec();
  spec.setSandboxId(request.sandboxId);
  spec.setVcpus(request.vcpus);
  spec.setMemoryMiB(request.memoryMiB);
  spec.setAccel(request.accel);
  spec.setKernel(c.makeFd(kernel.get()));
  spec.setInitrd(c.makeFd(initrd.get()));
  std::string cmdline = request.image->cmdline;
  if (!request.kernelParams.empty()) cmdline += " " + request.kernelParams;
  spec.setKernelCmdline(cmdline);
  spec.setHotplugSlots(request.hotplugSlots);
  spec.setSharedFs(request.sharedFs);
  if (request.netnsFd >= 0) {
    spec.setNetns(c.makeFd(request.netnsFd));
    spec.setNetworkModel(request.networkModel);
    spec.setNetQueues(request.netQueues);
  }
  auto r = loop_.wait(req.send(), kCreateTimeout, "kata-vmmd: creating the VM of sandbox " + request.sandboxId,
                      "kata-vmmd");
  agentChannel = c.takeFd(r.getAgentChannel());
  return std::make_unique<VmmdVm>(loop_, c, r.getVm(), request.sandboxId);
}

std::unique_ptr<Vm> VmmdVmFactory::open(const std::string& sandboxId) {
  auto& c = client();
  auto req = c.vmmd().openVmRequest();
  req.setSandboxId(sandboxId);
  auto r = loop_.wait(req.send(), kCallTimeout, "kata-vmmd: opening the VM of sandbox " + sandboxId, "kata-vmmd");
  return std::make_unique<VmmdVm>(loop_, c, r.getVm(), sandboxId);
}

}  // namespace kata::sandbox
