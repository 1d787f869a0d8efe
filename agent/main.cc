// kata-agent: PID 1 of the guest. Boot sequence, in order:
//   1. mount /proc, /sys, /dev, /dev/pts, /dev/shm, /run, /tmp; attach the console to fds 0-2
//   2. load the kernel modules the channel needs (virtio_pci, virtio_console) in dependency order
//   3. find the virtio-serial port named agent.channel.0 (or kata.agent_channel=NAME on the kernel
//      command line) and open it
//   3b. bring up loopback (netlink); the host configures the NICs later (updateInterface)
//   4. start loading the other modules (net, blk, 9p, vsock, overlay) on a background thread
//   5. run the event loop: reap orphans on SIGCHLD, serve the Agent RPC interface on the port, and
//      on vsock (kata.agent_vsock_port, default 1024) once the late modules are in, if the VM has it
// A fatal error powers the VM off (PID 1 must never exit: that panics the kernel) after logging why.
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <kj/async-io.h>
#include <kj/async-unix.h>
#include <kj/thread.h>
#include <optional>
#include <string>

#include "agent/agent_server.h"
#include "agent/channel.h"
#include "agent/console_log.h"
#include "agent/container_manager.h"
#include "agent/process_launcher.h"
#include "agent/guest_stats.h"
#include "agent/modules.h"
#include "agent/network.h"
#include "agent/network_rpc.h"
#include "agent/pid1.h"
#include "agent/reaper.h"
#include "agent/socket_server.h"
#include "agent/virtio_ports.h"
#include "common/error.h"
#include "common/fd.h"
#include "common/fs.h"

namespace kata::agent {
namespace {

constexpr const char* kModuleDir = "/lib/modules/kata";
constexpr const char* kDefaultChannel = "agent.channel.0";
// How long the port may take to appear after virtio_console is loaded (the device announces its
// ports asynchronously). Generous: TCG is slow.
constexpr int kPortWaitMs = 20000;
// Grace period between answering shutdown and powering off, so the reply reaches the host.
constexpr auto kPowerOffDelay = 50 * kj::MILLISECONDS;

class PowerOffOnRequest final : public AgentHost {
 public:
  PowerOffOnRequest(kj::Timer& timer, const ConsoleLog& log) : timer_(timer), log_(log) {}
  // kj::Promise's destructor may throw in theory; here it would only run at the end of main().
  ~PowerOffOnRequest() noexcept override {}
  void requestPowerOff() override {
    if (pending_ != nullptr) return;
    log_.info("shutdown requested by the host");
    pending_ = kj::evalLast([this] { return timer_.afterDelay(kPowerOffDelay); })
                   .then([this] { powerOff(log_); })
                   .eagerlyEvaluate([this](kj::Exception&&) { powerOff(log_); });
  }

 private:
  kj::Timer& timer_;
  const ConsoleLog& log_;
  kj::Maybe<kj::Promise<void>> pending_;
};

UniqueFd openChannel(const std::string& name, const ConsoleLog& log) {
  for (int waited = 0;; waited += 5) {
    if (auto dev = findVirtioPort("/sys", name)) {
      std::string path = "/dev/" + *dev;
      // devtmpfs creates the node right after the port registers; allow it a moment.
      int fd = ::open(path.c_str(), O_RDWR | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
      if (fd >= 0) {
        log.info("agent channel found", {{"port", name}, {"device", path}});
        return UniqueFd(fd);
      }
      if (errno != ENOENT || waited >= kPortWaitMs) throwSysError(errno, "open " + path);
    } else if (waited >= kPortWaitMs) {
      fail(ErrorKind::kNotFound, "no virtio-serial port named \"" + name + "\" appeared within " +
                                     std::to_string(kPortWaitMs / 1000) +
                                     " s; start QEMU with -device virtserialport,name=" + name);
    }
    ::usleep(5000);
  }
}

kj::Promise<void> waitForLateModules(kj::Timer& timer, const LoadedModules& modules) {
  if (!modules.loading()) return kj::READY_NOW;
  return timer.afterDelay(50 * kj::MILLISECONDS).then([&timer, &modules] { return waitForLateModules(timer, modules); });
}

[[noreturn]] void run(uint64_t startNs, ConsoleLog& log) {
  try {
    mountAll(earlyMounts());
    if (attachConsole()) log.setFd(STDERR_FILENO);
    log.info("kata-agent starting");
    // Writes to a vanished peer must fail with EPIPE, not kill PID 1. Cannot fail for SIGPIPE.
    (void)::signal(SIGPIPE, SIG_IGN);
    Reaper::captureSigchld();

    AgentBootInfo boot;
    boot.startNs = startNs;
    boot.identity = currentIdentity();
    // Only what the channel needs before serving; the rest loads in the background below.
    boot.modules.add(loadModules(kModuleDir, "load-order", log));

    std::string cmdline = readFile("/proc/cmdline", 64 * 1024);
    std::string channelName = kernelCmdlineValue(cmdline, "kata.agent_channel").value_or(kDefaultChannel);
    UniqueFd port = openChannel(channelName, log);

    // The guest's network: loopback up now (containers share the VM's namespace and expect it);
    // the NICs the host carried in are configured when the host says how (updateInterface).
    std::optional<GuestNetwork> network;
    try {
      network.emplace(netdev::Rtnl::open());
      network->bringUpLoopback();
    } catch (const std::exception& e) {
      log.error(std::string("network set-up failed; the guest has no loopback: ") + e.what());
    }

    auto io = kj::setupAsyncIo();
    std::optional<NetworkService> netService;
    if (network) netService.emplace(NetworkService{*network, io.provider->getTimer()});
    Reaper reaper(io.unixEventPort, log);
    PowerOffOnRequest power(io.provider->getTimer(), log);
    ContainerManager containers(*io.lowLevelProvider, io.provider->getTimer(), reaper, boot.modules,
                                makeProcessLauncher(), log);
    ChannelServer channel(*io.lowLevelProvider, io.provider->getTimer(), port.get(),
                          [&]() -> capnp::Capability::Client {
                            return kj::heap<AgentServer>(boot, power, containers, netService ? &*netService : nullptr);
                          },
                          log);
    boot.modules.setLoading(true);
    kj::Thread lateModules([&boot, &log] {
      uint64_t t0 = bootTimeNs();
      try {
        boot.modules.add(loadModules(kModuleDir, "load-order.late", log));
      } catch (const std::exception& e) {
        log.error(std::string("loading the late kernel modules failed: ") + e.what());
      }
      boot.modules.setLoading(false);
      log.info("late kernel modules loaded", {{"ms", std::to_string((bootTimeNs() - t0) / 1000000)}});
    });
    // vsock, when the VM has the device: its transport is a late module, so the listener starts once
    // those are loaded. The virtio-serial channel is served either way.
    uint32_t vsockPort = 0;
    try {
      vsockPort = vsockPortFromCmdline(cmdline);
    } catch (const std::exception& e) {
      log.error(std::string("vsock listener off: ") + e.what());
    }
    kj::Maybe<kj::Own<SocketServer>> vsock;
    kj::Promise<void> vsockServing =
        waitForLateModules(io.provider->getTimer(), boot.modules)
            .then([&]() -> kj::Promise<void> {
              if (vsockPort == 0) return kj::READY_NOW;
              if (!hasVirtioVsockDevice("/sys")) {
                log.info("no virtio vsock device: serving the virtio-serial channel only");
                return kj::READY_NOW;
              }
              auto server = kj::heap<SocketServer>(
                  *io.lowLevelProvider, io.provider->getTimer(), listenVsock(vsockPort),
                  [&]() -> capnp::Capability::Client {
                    return kj::heap<AgentServer>(boot, power, containers, netService ? &*netService : nullptr);
                  },
                  log);
              auto& ref = *server;
              vsock = kj::mv(server);
              log.info("serving the agent on vsock", {{"port", std::to_string(vsockPort)}});
              return ref.run();
            })
            .eagerlyEvaluate([&log](kj::Exception&& e) {
              log.error("the vsock listener failed; serving the virtio-serial channel only",
                        {{"error", e.getDescription().cStr()}});
            });
    boot.readyNs = bootTimeNs();
    log.info("kata-agent ready", {{"version", boot.identity.version},
                                  {"kernel", boot.identity.kernelRelease},
                                  {"modules", std::to_string(boot.modules.names().size())},
                                  {"boot_ms", std::to_string(boot.readyNs / 1000000)}});
    for (;;) {
      try {
        channel.run().wait(io.waitScope);
      } catch (const kj::Exception& e) {
        // run() never resolves normally; an escape is a bug, but serving again beats dying.
        log.error("agent channel loop failed; restarting it", {{"error", e.getDescription().cStr()}});
        ::usleep(100 * 1000);  // never spin, even on a bug
      }
    }
  } catch (const std::exception& e) {
    log.error(std::string("kata-agent cannot continue: ") + e.what());
  } catch (const kj::Exception& e) {
    log.error(std::string("kata-agent cannot continue: ") + e.getDescription().cStr());
  }
  powerOff(log);
}

}  // namespace
}  // namespace kata::agent

int main() {
  uint64_t startNs = kata::agent::bootTimeNs();
  // Before /dev is mounted the kernel's initial console may be missing; log to whatever fd 2 is.
  kata::agent::ConsoleLog log(STDERR_FILENO);
  if (::getpid() != 1) {
    log.error("kata-agent must run as PID 1 of the guest (it mounts, loads modules and powers off)");
    return 1;
  }
  kata::agent::run(startNs, log);
}
