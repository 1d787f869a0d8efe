#include "agent/socket_server.h"

// <sys/socket.h> before <linux/vm_sockets.h>: the latter needs sa_family_t.
#include <sys/socket.h>
#include <linux/vm_sockets.h>
#include <dirent.h>
#include <fcntl.h>

#include <charconv>
#include <string>

#include "agent/pid1.h"
#include "agent/rpc_session.h"
#include "common/error.h"
#include "common/fs.h"

namespace kata::agent {

uint32_t vsockPortFromCmdline(const std::string& cmdline) {
  auto value = kernelCmdlineValue(cmdline, "kata.agent_vsock_port");
  if (!value) return kDefaultVsockPort;
  uint32_t port = 0;
  auto [end, ec] = std::from_chars(value->data(), value->data() + value->size(), port);
  // VMADDR_PORT_ANY (-1U) would mean "pick one": the host could not know where to connect.
  if (ec != std::errc() || end != value->data() + value->size() || value->empty() || port == VMADDR_PORT_ANY)
    fail(ErrorKind::kInvalidArgument, "kata.agent_vsock_port=\"" + *value + "\" is not a vsock port (0-4294967294)");
  return port;
}

bool hasVirtioVsockDevice(const std::string& sysRoot) {
  std::string dir = sysRoot + "/bus/virtio/devices";
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return false;
  bool found = false;
  while (struct dirent* e = ::readdir(d)) {
    if (e->d_name[0] == '.') continue;
    auto id = readFileIfExists(AT_FDCWD, dir + "/" + e->d_name + "/device", 64);
    if (id && (*id == "0x0013\n" || *id == "0x0013")) {
      found = true;
      break;
    }
  }
  ::closedir(d);
  return found;
}

UniqueFd listenVsock(uint32_t port) {
  std::string what = "vsock port " + std::to_string(port);
  UniqueFd fd(KATA_SYSCALL(::socket(AF_VSOCK, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0), "socket AF_VSOCK"));
  struct sockaddr_vm addr {};
  addr.svm_family = AF_VSOCK;
  addr.svm_cid = VMADDR_CID_ANY;
  addr.svm_port = port;
  KATA_SYSCALL(::bind(fd.get(), reinterpret_cast<struct sockaddr*>(&addr), sizeof addr), "bind " + what);
  KATA_SYSCALL(::listen(fd.get(), 16), "listen on " + what);
  return fd;
}

void SocketServer::ErrorHandler::taskFailed(kj::Exception&& e) {
  log_.warn("agent socket session failed", {{"error", e.getDescription().cStr()}});
}

SocketServer::SocketServer(kj::LowLevelAsyncIoProvider& io, kj::Timer& timer, UniqueFd listening,
                           BootstrapFactory makeBootstrap, const ConsoleLog& log, size_t maxSessions)
    : timer_(timer),
      receiver_(io.wrapListenSocketFd(listening.release(), kj::LowLevelAsyncIoProvider::TAKE_OWNERSHIP |
                                                               kj::LowLevelAsyncIoProvider::ALREADY_CLOEXEC |
                                                               kj::LowLevelAsyncIoProvider::ALREADY_NONBLOCK)),
      makeBootstrap_(kj::mv(makeBootstrap)),
      log_(log),
      maxSessions_(maxSessions),
      errorHandler_(log),
      tasks_(errorHandler_) {}

SocketServer::~SocketServer() noexcept(false) {}

void SocketServer::serve(kj::Own<kj::AsyncIoStream> stream) {
  if (active_ >= maxSessions_) {
    // Dropping the stream closes it: the host sees end of file at once instead of a hung session.
    ++refused_;
    log_.warn("agent socket connection refused: too many sessions", {{"limit", std::to_string(maxSessions_)}});
    return;
  }
  auto session = kj::heap<RpcSession>(kj::mv(stream), makeBootstrap_());
  ++sessions_;
  ++active_;
  log_.info("host connected to the agent socket", {{"session", std::to_string(sessions_)}});
  auto done = session->network.onDisconnect();
  tasks_.add(done.attach(kj::mv(session)).then([this] {
    --active_;
    log_.info("agent socket session ended");
  }, [this](kj::Exception&& e) {
    --active_;
    log_.warn("agent socket session failed", {{"error", e.getDescription().cStr()}});
  }));
}

kj::Promise<void> SocketServer::run() {
  return receiver_->accept()
      .then(
          [this](kj::Own<kj::AsyncIoStream> stream) -> kj::Promise<void> {
            serve(kj::mv(stream));
            return kj::READY_NOW;
          },
          [this](kj::Exception&& e) -> kj::Promise<void> {
            log_.warn("accept on the agent socket failed", {{"error", e.getDescription().cStr()}});
            return timer_.afterDelay(100 * kj::MILLISECONDS);
          })
      .then([this] { return run(); });
}

}  // namespace kata::agent
