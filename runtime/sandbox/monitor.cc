#include "runtime/sandbox/monitor.h"

#include <signal.h>
#include <unistd.h>

#include <capnp/rpc-twoparty.h>

#include "ipc/peer_creds.h"
#include "runtime/sandbox/agent_link.h"

namespace kata::sandbox {
namespace {

class Acceptor {
 public:
  Acceptor(kj::Own<kj::ConnectionReceiver> listener, capnp::Capability::Client agent, const Logger& log)
      : listener_(kj::mv(listener)), server_(kj::mv(agent)), log_(log) {}

  kj::Promise<void> run() {
    return listener_->accept().then([this](kj::Own<kj::AsyncIoStream>&& conn) {
      admit(kj::mv(conn));
      return run();
    });
  }

 private:
  void admit(kj::Own<kj::AsyncIoStream> conn) {
    int fd = -1;
    KJ_IF_MAYBE(f, conn->getFd()) { fd = *f; }
    ipc::PeerCreds peer;
    try {
      peer = ipc::peerCreds(fd);
    } catch (const Error& e) {
      log_.warn(std::string("refusing a client whose credentials cannot be read: ") + e.what());
      return;
    }
    if (peer.uid != ::geteuid() && peer.uid != 0) {
      log_.warn("refusing uid " + std::to_string(peer.uid) + " (pid " + std::to_string(peer.pid) +
                "): only the sandbox owner and root may use its monitor");
      return;
    }
    server_.accept(kj::mv(conn));
  }

  kj::Own<kj::ConnectionReceiver> listener_;
  capnp::TwoPartyServer server_;
  const Logger& log_;
};

}  // namespace

MonitorResult runMonitor(EventLoop& loop, UniqueFd agentChannel, UniqueFd listenFd, const Logger& log,
                         std::chrono::milliseconds agentTimeout, const std::function<void()>& ready) {
  AgentLink link(loop, std::move(agentChannel));
  auto agent = link.agent();
  auto ping = agent.pingRequest();
  loop.wait(ping.send(), agentTimeout, "waiting for kata-agent to answer");
  auto listener = loop.io().lowLevelProvider->wrapListenSocketFd(
      listenFd.release(), kj::LowLevelAsyncIoProvider::TAKE_OWNERSHIP | kj::LowLevelAsyncIoProvider::ALREADY_CLOEXEC |
                              kj::LowLevelAsyncIoProvider::ALREADY_NONBLOCK);
  Acceptor acceptor(kj::mv(listener), agent, log);
  auto accepting = acceptor.run().eagerlyEvaluate([&log](kj::Exception&& e) {
    log.error(std::string("accepting clients failed: ") + e.getDescription().cStr());
  });
  ready();
  log.info("monitor serving the agent");

  MonitorResult result;
  auto lost = link.onDisconnect().then([&result] {
    result.reason = "the agent's connection ended (the VM stopped)";
    result.agentLost = true;
  });
  auto term = loop.eventPort().onSignal(SIGTERM).then([&result](siginfo_t) { result.reason = "SIGTERM"; });
  lost.exclusiveJoin(kj::mv(term)).wait(loop.waitScope());
  log.info("monitor ends: " + result.reason);
  return result;
}

}  // namespace kata::sandbox
