#include "runtime/sandbox/event_loop.h"

namespace kata::sandbox {
namespace {

std::string seconds(std::chrono::milliseconds ms) {
  std::string s = std::to_string(ms.count() / 1000);
  if (ms.count() % 1000) s += "." + std::to_string(ms.count() % 1000 / 100);
  return s;
}

}  // namespace

EventLoop::EventLoop() : io_(kj::setupAsyncIo()) {}

Error EventLoop::fromKj(const kj::Exception& e, std::chrono::milliseconds timeout, const std::string& what,
                        const char* peer) {
  std::string text = e.getDescription().cStr();
  if (e.getType() == kj::Exception::Type::OVERLOADED && text.find("timed out") != std::string::npos)
    return Error(ErrorKind::kTimeout, what + " did not finish within " + seconds(timeout) + " s");
  if (e.getType() == kj::Exception::Type::DISCONNECTED)
    return Error(ErrorKind::kFailedPrecondition,
                 what + ": the connection to " + peer + " was lost (" + text + ")");
  Error remote = errorFromRemote(text, peer);
  return Error(remote.kind(), what + ": " + remote.what());
}

}  // namespace kata::sandbox
