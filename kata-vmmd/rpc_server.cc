#include "kata-vmmd/rpc_server.h"

#include <fcntl.h>
#include <sys/socket.h>

#include <capnp/rpc-twoparty.h>
#include <capnp/rpc.h>

#include "common/error.h"
#include "ipc/peer_creds.h"
#include "ipc/vmmd_client.h"
#include "kata-vmmd/rpc_decode.h"
#include "kata-vmmd/validation.h"
#include "kata-vmmd/vm_worker.h"

namespace kata::vmmd {
namespace {

namespace api = ipc::vmmd;

kj::Exception toKj(const Error& e) { return rpcException(e); }

// Runs a handler, turning a kata::Error (or anything else) into a clear RPC error for this call only.
// The handler either returns nothing (answered at once) or a promise (the work runs on the VM's
// worker thread, sandbox_manager.h); a promise's failure already carries its kind.
template <typename F>
kj::Promise<void> guarded(const Logger& log, const char* method, F&& f) {
  try {
    if constexpr (std::is_void_v<decltype(f())>) {
      f();
      return kj::READY_NOW;
    } else {
      return f().catch_([log, method](kj::Exception&& e) -> kj::Promise<void> {
        log.info(std::string(method) + " failed: " + e.getDescription().cStr());
        return kj::mv(e);
      });
    }
  } catch (const Error& e) {
    log.info(std::string(method) + " failed: " + e.what());
    return toKj(e);
  } catch (const kj::Exception& e) {
    return toKj(Error(ErrorKind::kInvalidArgument, std::string("malformed request: ") + e.getDescription().cStr()));
  } catch (const std::exception& e) {
    log.error(std::string(method) + " failed unexpectedly: " + e.what());
    return toKj(Error(ErrorKind::kInternal, e.what()));
  }
}

api::VmState toWire(SandboxState s) {
  switch (s) {
    case SandboxState::kCreated: return api::VmState::CREATED;
    case SandboxState::kRunning: return api::VmState::RUNNING;
    case SandboxState::kPaused: return api::VmState::PAUSED;
    case SandboxState::kStopped: return api::VmState::STOPPED;
    case SandboxState::kUnknown: break;
  }
  return api::VmState::UNKNOWN;
}

void fill(api::VmInfo::Builder b, const SandboxInfo& i) {
  b.setSandboxId(i.id);
  b.setOwnerUid(i.ownerUid);
  b.setState(toWire(i.state));
  b.setPid(i.pid);
  b.setVcpus(i.vcpus);
  b.setMemoryMiB(i.memoryMiB);
  b.setDetail(i.detail);
  b.setAdopted(i.adopted);
}

void fill(api::NetInterface::Builder b, const NetInterfaceInfo& info) {
  const netdev::Interface& i = info.iface;
  b.setName(info.nic.podName);
  b.setMac(info.nic.mac);
  b.setMtu(i.link.mtu);
  b.setType(netdev::linkTypeName(i.link.type));
  auto addrs = b.initAddresses(static_cast<unsigned>(i.addresses.size()));
  for (unsigned k = 0; k < addrs.size(); ++k) {
    addrs[k].setAddress(i.addresses[k].address);
    addrs[k].setPrefixLength(i.addresses[k].prefixLength);
  }
  auto routes = b.initRoutes(static_cast<unsigned>(i.routes.size()));
  for (unsigned k = 0; k < routes.size(); ++k) {
    const netdev::Route& r = i.routes[k];
    routes[k].setDestination(r.destination);
    routes[k].setGateway(r.gateway);
    routes[k].setDevice(r.device);
    routes[k].setSource(r.source);
    routes[k].setFamily(r.family == AF_INET6 ? 6 : 4);
    routes[k].setMetric(r.metric);
  }
  b.setDeviceId(info.nic.deviceId);
  b.setModel(info.nic.model);
  b.setHostDevice(info.nic.device);
  b.setQueues(info.nic.queues);
}

template <typename Results>
void fillInterfaces(Results results, const std::vector<NetInterfaceInfo>& all) {
  auto list = results.initInterfaces(static_cast<unsigned>(all.size()));
  for (unsigned k = 0; k < list.size(); ++k) fill(list[k], all[k]);
}

uint32_t timeoutOf(uint32_t ms) { return ms > kMaxTimeoutMs ? kMaxTimeoutMs : ms; }

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wnon-virtual-dtor"

class VmImpl final : public api::Vm::Server {
 public:
  VmImpl(SandboxManager& m, CallerId caller, std::string id, Logger log)
      : m_(m), caller_(caller), id_(std::move(id)), log_(std::move(log)) {}

  kj::Promise<void> info(InfoContext ctx) override {
    return guarded(log_, "info", [&] { fill(ctx.getResults().initInfo(), m_.info(caller_, id_)); });
  }
  kj::Promise<void> start(StartContext) override {
    return guarded(log_, "start", [&] { return m_.start(caller_, id_); });
  }
  kj::Promise<void> stop(StopContext ctx) override {
    return guarded(log_, "stop", [&] {
      return m_.stop(caller_, id_, timeoutOf(ctx.getParams().getTimeoutMs())).then([ctx](SandboxInfo i) mutable {
        fill(ctx.getResults().initInfo(), i);
      });
    });
  }
  kj::Promise<void> pause(PauseContext) override {
    return guarded(log_, "pause", [&] { return m_.pause(caller_, id_); });
  }
  kj::Promise<void> resume(ResumeContext) override {
    return guarded(log_, "resume", [&] { return m_.resume(caller_, id_); });
  }
  kj::Promise<void> status(StatusContext ctx) override {
    return guarded(log_, "status", [&] {
      return m_.status(caller_, id_).then([ctx](SandboxInfo i) mutable { fill(ctx.getResults().initInfo(), i); });
    });
  }
  kj::Promise<void> stats(StatsContext ctx) override {
    return guarded(log_, "stats", [&] {
      return m_.stats(caller_, id_).then([ctx](VmStats s) mutable {
        auto b = ctx.getResults().initStats();
        b.setMemoryBaseBytes(s.memoryBaseBytes);
        b.setMemoryPluggedBytes(s.memoryPluggedBytes);
        b.setBalloonActualBytes(s.balloonActualBytes.value_or(0));
        b.setVcpus(s.vcpus);
      });
    });
  }
  kj::Promise<void> hotplug(HotplugContext ctx) override {
    auto device = ctx.getParams().getDevice();
    if (device.isBlock()) {
      // A block device is a descriptor the client opened; wait for it, then plug with it.
      Device decoded;
      try {
        decoded = decodeDevice(device);
      } catch (const Error& e) {
        return toKj(e);
      }
      return device.getBlock().getFile().getFd().then([this, decoded](kj::Maybe<int> fd) mutable -> kj::Promise<void> {
        return guarded(log_, "hotplug", [&]() -> kj::Promise<void> {
          KJ_IF_MAYBE(n, fd) {
            std::get<BlockDevice>(decoded).fd = *n;
            return m_.hotplug(caller_, id_, decoded);  // takes its own copy of the descriptor
          }
          fail(ErrorKind::kInvalidArgument, "hotplug " + deviceId(decoded) + ": no file descriptor was passed");
        });
      });
    }
    return guarded(log_, "hotplug", [&] { return m_.hotplug(caller_, id_, decodeDevice(device)); });
  }
  kj::Promise<void> unplug(UnplugContext ctx) override {
    return guarded(log_, "unplug", [&] {
      std::string dev = decodeText(ctx.getParams().getDeviceId(), 32, "device id");
      return m_.unplug(caller_, id_, dev, timeoutOf(ctx.getParams().getTimeoutMs()));
    });
  }
  kj::Promise<void> shareDirectory(ShareDirectoryContext ctx) override {
    auto params = ctx.getParams();
    std::string name;
    try {
      name = decodeText(params.getName(), 64, "share name");
      validateShareName(name);
    } catch (const Error& e) {
      return toKj(e);
    }
    bool ro = params.getReadOnly();
    return params.getDir().getFd().then([this, name, ro](kj::Maybe<int> fd) -> kj::Promise<void> {
      return guarded(log_, "shareDirectory", [&] {
        KJ_IF_MAYBE(n, fd) { m_.shareDirectory(caller_, id_, *n, name, ro); }
        else fail(ErrorKind::kInvalidArgument, "shareDirectory: no directory descriptor was passed");
      });
    });
  }
  kj::Promise<void> unshareDirectory(UnshareDirectoryContext ctx) override {
    return guarded(log_, "unshareDirectory", [&] {
      m_.unshareDirectory(caller_, id_, decodeText(ctx.getParams().getName(), 64, "share name"));
    });
  }
  kj::Promise<void> agentChannel(AgentChannelContext ctx) override {
    return guarded(log_, "agentChannel", [&] {
      ctx.getResults().setChannel(kj::heap<ipc::FdHolder>(m_.agentChannel(caller_, id_)));
    });
  }
  kj::Promise<void> console(ConsoleContext ctx) override {
    return guarded(log_, "console", [&] { ctx.getResults().setLog(kj::heap<ipc::FdHolder>(m_.console(caller_, id_))); });
  }
  kj::Promise<void> destroy(DestroyContext ctx) override {
    return guarded(log_, "destroy", [&] { return m_.destroy(caller_, id_, timeoutOf(ctx.getParams().getTimeoutMs())); });
  }

  kj::Promise<void> attachNetwork(AttachNetworkContext ctx) override {
    auto params = ctx.getParams();
    std::string name, model;
    uint32_t queues = params.getQueues();
    try {
      name = decodeText(params.getInterfaceName(), 15, "interface name");
      model = decodeText(params.getModel(), 16, "network model");
    } catch (const Error& e) {
      return toKj(e);
    }
    kj::Promise<kj::Maybe<int>> fd = params.hasNetns() ? params.getNetns().getFd() : kj::Promise<kj::Maybe<int>>(kj::Maybe<int>(nullptr));
    bool hasNetns = params.hasNetns();
    return fd.then([this, ctx, name, model, queues, hasNetns](kj::Maybe<int> n) mutable -> kj::Promise<void> {
      return guarded(log_, "attachNetwork", [&] {
        std::optional<int> netns;
        KJ_IF_MAYBE(v, n) { netns = *v; }
        else if (hasNetns) fail(ErrorKind::kInvalidArgument, "attachNetwork: the netns capability carried no descriptor");
        return m_.attachNetwork(caller_, id_, netns, name, model, queues)
            .then([ctx](std::vector<NetInterfaceInfo> added) mutable { fillInterfaces(ctx.getResults(), added); });
      });
    });
  }
  kj::Promise<void> detachInterface(DetachInterfaceContext ctx) override {
    return guarded(log_, "detachInterface", [&] {
      return m_.detachInterface(caller_, id_, decodeText(ctx.getParams().getName(), 15, "interface name"),
                                timeoutOf(ctx.getParams().getTimeoutMs()));
    });
  }
  kj::Promise<void> listNetwork(ListNetworkContext ctx) override {
    return guarded(log_, "listNetwork", [&] { fillInterfaces(ctx.getResults(), m_.listNetwork(caller_, id_)); });
  }

 private:
  SandboxManager& m_;
  CallerId caller_;
  std::string id_;
  Logger log_;
};

class VmmdImpl final : public api::Vmmd::Server {
 public:
  VmmdImpl(SandboxManager& m, CallerId caller, Logger log) : m_(m), caller_(caller), log_(std::move(log)) {}

  kj::Promise<void> whoami(WhoamiContext ctx) override {
    auto c = ctx.getResults().initCaller();
    c.setUid(caller_.uid);
    c.setGid(caller_.gid);
    c.setPid(caller_.pid);
    auto groups = c.initGroups(static_cast<unsigned>(caller_.groups.size()));
    for (unsigned i = 0; i < caller_.groups.size(); ++i) groups.set(i, caller_.groups[i]);
    return kj::READY_NOW;
  }

  kj::Promise<void> createVm(CreateVmContext ctx) override {
    CreateRequest req;
    try {
      req = decodeVmSpec(ctx.getParams().getSpec());
    } catch (const Error& e) {
      return toKj(e);
    } catch (const kj::Exception& e) {
      return toKj(Error(ErrorKind::kInvalidArgument, std::string("malformed VmSpec: ") + e.getDescription().cStr()));
    }
    auto spec = ctx.getParams().getSpec();
    // Resolve the optional kernel and initrd Fd capabilities, then create.
    auto fdOf = [](api::Fd::Client cap, bool present) -> kj::Promise<kj::Maybe<int>> {
      if (!present) return kj::Maybe<int>(nullptr);
      return cap.getFd();
    };
    bool hasKernel = spec.hasKernel(), hasInitrd = spec.hasInitrd(), hasNetns = spec.hasNetns();
    auto kernel = fdOf(hasKernel ? spec.getKernel() : api::Fd::Client(nullptr), hasKernel);
    auto initrd = fdOf(hasInitrd ? spec.getInitrd() : api::Fd::Client(nullptr), hasInitrd);
    auto netns = fdOf(hasNetns ? spec.getNetns() : api::Fd::Client(nullptr), hasNetns);
    auto shared = kj::heap<CreateRequest>(std::move(req));
    auto* reqPtr = shared.get();
    struct Fds {
      kj::Maybe<int> kernel, initrd, netns;
    };
    return kernel.then([initrd = kj::mv(initrd), netns = kj::mv(netns)](kj::Maybe<int> k) mutable {
             return initrd.then([k, netns = kj::mv(netns)](kj::Maybe<int> i) mutable {
               return netns.then([k, i](kj::Maybe<int> n) { return Fds{k, i, n}; });
             });
           })
        .then([this, ctx, reqPtr, hasKernel, hasInitrd, hasNetns](Fds fds) mutable {
          return guarded(log_, "createVm", [&] {
            auto dupFd = [](kj::Maybe<int> fd, bool wanted, const char* what) {
              KJ_IF_MAYBE(n, fd) { return UniqueFd(KATA_SYSCALL(::fcntl(*n, F_DUPFD_CLOEXEC, 3), what)); }
              if (wanted) fail(ErrorKind::kInvalidArgument, std::string(what) + ": no descriptor was passed");
              return UniqueFd();
            };
            reqPtr->kernel = dupFd(fds.kernel, hasKernel, "guest kernel");
            reqPtr->initrd = dupFd(fds.initrd, hasInitrd, "guest initrd");
            reqPtr->netns = dupFd(fds.netns, hasNetns, "network namespace");
            std::string id = reqPtr->sandboxId;
            return m_.create(caller_, std::move(*reqPtr)).then([this, ctx, id](CreatedSandbox created) mutable {
              auto results = ctx.getResults();
              fill(results.initInfo(), created.info);
              results.setVm(kj::heap<VmImpl>(m_, caller_, id, log_.with("sandbox", id)));
              if (created.agentChannel.valid())
                results.setAgentChannel(kj::heap<ipc::FdHolder>(std::move(created.agentChannel)));
              if (created.console.valid()) results.setConsole(kj::heap<ipc::FdHolder>(std::move(created.console)));
            });
          });
        })
        .attach(kj::mv(shared));
  }

  kj::Promise<void> openVm(OpenVmContext ctx) override {
    return guarded(log_, "openVm", [&] {
      std::string id = decodeText(ctx.getParams().getSandboxId(), 64, "sandbox id");
      SandboxInfo info = m_.info(caller_, id);  // owner or root, else "does not exist"
      auto results = ctx.getResults();
      fill(results.initInfo(), info);
      results.setVm(kj::heap<VmImpl>(m_, caller_, id, log_.with("sandbox", id)));
    });
  }

  kj::Promise<void> listVms(ListVmsContext ctx) override {
    return guarded(log_, "listVms", [&] {
      auto all = m_.list(caller_);
      auto list = ctx.getResults().initVms(static_cast<unsigned>(all.size()));
      for (unsigned i = 0; i < all.size(); ++i) fill(list[i], all[i]);
    });
  }

 private:
  SandboxManager& m_;
  CallerId caller_;
  Logger log_;
};

#pragma GCC diagnostic pop

struct Connection {
  Connection(kj::Own<kj::AsyncCapabilityStream> s, capnp::Capability::Client bootstrap)
      : stream(kj::mv(s)),
        network(*stream, kMaxFdsPerMessage, capnp::rpc::twoparty::Side::SERVER, vmmdReaderOptions()),
        rpc(capnp::makeRpcServer(network, kj::mv(bootstrap))) {}
  kj::Own<kj::AsyncCapabilityStream> stream;
  capnp::TwoPartyVatNetwork network;
  capnp::RpcSystem<capnp::rpc::twoparty::VatId> rpc;
};

}  // namespace

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wnon-virtual-dtor"
struct RpcServer::State final : public kj::TaskSet::ErrorHandler {
  State(kj::AsyncIoContext& i, SandboxManager& m, UniqueFd fd, Logger l)
      : io(i), manager(m), listenFd(std::move(fd)), log(std::move(l)),
        observer(io.unixEventPort, listenFd.get(), kj::UnixEventPort::FdObserver::OBSERVE_READ), tasks(*this) {}
  void taskFailed(kj::Exception&& e) override {
    log.info(std::string("connection ended: ") + e.getDescription().cStr());
  }

  kj::Promise<void> acceptLoop() {
    for (;;) {
      int fd = ::accept4(listenFd.get(), nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
      if (fd < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK)
          return observer.whenBecomesReadable().then([this] { return acceptLoop(); });
        if (errno == EINTR || errno == ECONNABORTED) continue;
        if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
          log.error("accept on the vmmd socket failed (out of descriptors or memory); retrying in 100 ms");
          return io.provider->getTimer().afterDelay(100 * kj::MILLISECONDS).then([this] { return acceptLoop(); });
        }
        throwSysError(errno, "accept on the vmmd socket");
      }
      serve(UniqueFd(fd));
    }
  }

  void serve(UniqueFd fd) {
    ipc::PeerCreds creds;
    try {
      creds = ipc::peerCreds(fd.get());
    } catch (const Error& e) {
      log.warn(std::string("dropping a connection without credentials: ") + e.what());
      return;
    }
    CallerId caller{creds.uid, creds.gid, creds.pid, std::move(creds.groups)};
    capnp::Capability::Client bootstrap = nullptr;
    try {
      authorizeConnect(manager.policy(), caller);
      bootstrap = kj::heap<VmmdImpl>(manager, caller, log);
      log.debug("accepted uid " + std::to_string(caller.uid) + " pid " + std::to_string(caller.pid));
    } catch (const Error& e) {
      log.warn(std::string("refused a connection: ") + e.what());
      // A capability that is nothing but the reason: every call the client makes fails with it.
      bootstrap = capnp::Capability::Client(toKj(e));
    }
    auto stream = io.lowLevelProvider->wrapUnixSocketFd(
        fd.release(), kj::LowLevelAsyncIoProvider::TAKE_OWNERSHIP | kj::LowLevelAsyncIoProvider::ALREADY_CLOEXEC |
                          kj::LowLevelAsyncIoProvider::ALREADY_NONBLOCK);
    auto conn = kj::heap<Connection>(kj::mv(stream), kj::mv(bootstrap));
    ++open;
    auto done = conn->network.onDisconnect();
    tasks.add(done.attach(kj::mv(conn), kj::defer([this] { --open; })));
  }

  kj::AsyncIoContext& io;
  SandboxManager& manager;
  UniqueFd listenFd;
  Logger log;
  kj::UnixEventPort::FdObserver observer;
  kj::TaskSet tasks;
  size_t open = 0;
};
#pragma GCC diagnostic pop

RpcServer::RpcServer(kj::AsyncIoContext& io, SandboxManager& manager, UniqueFd listenFd, Logger log)
    : state_(std::make_unique<State>(io, manager, std::move(listenFd), std::move(log))) {}
RpcServer::~RpcServer() = default;
kj::Promise<void> RpcServer::run() { return state_->acceptLoop(); }
size_t RpcServer::connections() const { return state_->open; }

}  // namespace kata::vmmd
