#include "kata-vmmd/qmp_client.h"

#include "ipc/peer_creds.h"

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <thread>

namespace kata::vmmd {
namespace {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

ErrorKind kindForClass(const std::string& cls) {
  if (cls == "CommandNotFound") return ErrorKind::kNotSupported;
  if (cls == "DeviceNotFound") return ErrorKind::kNotFound;
  if (cls == "DeviceNotActive") return ErrorKind::kFailedPrecondition;
  if (cls == "KVMMissingCap") return ErrorKind::kNotSupported;
  return ErrorKind::kFailedPrecondition;  // GenericError: QEMU refused the request as given
}

int msLeft(Deadline deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
  if (left <= 0) return 0;
  return left > 60'000 ? 60'000 : static_cast<int>(left);
}

// Deepest nesting of arrays/objects in a JSON text, counting only brackets outside strings. Checked
// before parsing: nlohmann's parser recurses once per level.
size_t nestingDepth(const std::string& text, size_t limit) {
  size_t depth = 0, max = 0;
  bool inString = false, escaped = false;
  for (char c : text) {
    if (inString) {
      if (escaped) escaped = false;
      else if (c == '\\') escaped = true;
      else if (c == '"') inString = false;
      continue;
    }
    if (c == '"') inString = true;
    else if (c == '[' || c == '{') {
      if (++depth > max) max = depth;
      if (max > limit) return max;
    } else if ((c == ']' || c == '}') && depth > 0) --depth;
  }
  return max;
}

}  // namespace

QmpError::QmpError(const std::string& command, const std::string& errorClass, const std::string& desc)
    : Error(kindForClass(errorClass), "QMP " + command + " failed: " + errorClass + ": " + desc),
      class_(errorClass),
      desc_(desc) {}

QmpClient::QmpClient(UniqueFd socket, Deadline deadline, QmpOptions options)
    : fd_(std::move(socket)), options_(options) {
  auto greeting = readMessage(deadline);
  if (!greeting) breakConnection(ErrorKind::kTimeout, "no QMP greeting from QEMU before the deadline");
  if (!greeting->is_object() || !greeting->contains("QMP") || !(*greeting)["QMP"].is_object())
    breakConnection(ErrorKind::kInternal, "the first message is not a QMP greeting: " + greeting->dump().substr(0, 200));
  greeting_ = std::move(*greeting);
  call("qmp_capabilities", nullptr, -1, deadline);
}

QmpClient QmpClient::connect(const std::string& path, Deadline deadline, QmpOptions options) {
  ipc::UnixAddress a = ipc::unixAddress(path);
  for (;;) {
    UniqueFd fd(KATA_SYSCALL(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0), "QMP socket"));
    if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&a.addr), sizeof a.addr) == 0)
      return QmpClient(std::move(fd), deadline, options);
    int err = errno;
    // QEMU may not have created the socket yet, or not yet listen()ed on it.
    bool retry = err == ENOENT || err == ECONNREFUSED || err == EINTR;
    if (!retry) throwSysError(err, "connect to QMP socket " + path);
    if (Clock::now() >= deadline)
      fail(ErrorKind::kTimeout, "QEMU's QMP socket " + path + " did not accept a connection before the deadline (" +
                                    std::strerror(err) + "); check the QEMU log");
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

void QmpClient::checkUsable() const {
  if (!broken_.empty()) fail(ErrorKind::kFailedPrecondition, "QMP connection is unusable: " + broken_);
}

void QmpClient::breakConnection(ErrorKind kind, const std::string& why) {
  broken_ = why;
  fd_.reset();
  fail(kind, "QMP: " + why);
}

json QmpClient::execute(const std::string& command, const json& args) {
  return call(command, args, -1, defaultDeadline());
}
json QmpClient::execute(const std::string& command, const json& args, Deadline deadline) {
  return call(command, args, -1, deadline);
}
json QmpClient::executeWithFd(const std::string& command, const json& args, int fd, Deadline deadline) {
  if (fd < 0) fail(ErrorKind::kInvalidArgument, "QMP " + command + ": no file descriptor to pass");
  return call(command, args, fd, deadline);
}

json QmpClient::call(const std::string& command, const json& args, int fd, Deadline deadline) {
  checkUsable();
  std::string id = "kata-" + std::to_string(nextId_++);
  json request = {{"execute", command}, {"id", id}};
  if (!args.is_null()) {
    if (!args.is_object()) fail(ErrorKind::kInvalidArgument, "QMP " + command + ": arguments must be an object");
    request["arguments"] = args;
  }
  send(request.dump() + "\n", fd, deadline);
  for (;;) {
    auto message = readMessage(deadline);
    if (!message)
      fail(ErrorKind::kTimeout, "QMP " + command + " got no reply before the deadline; QEMU may be hung");
    if (message->contains("event")) {
      queueEvent(*message);
      continue;
    }
    auto idIt = message->find("id");
    if (idIt == message->end() || *idIt != id) continue;  // the late reply to an earlier, timed-out call
    if (auto err = message->find("error"); err != message->end()) {
      std::string cls = err->is_object() && err->value("class", json()).is_string() ? (*err)["class"].get<std::string>() : "";
      std::string desc = err->is_object() && err->value("desc", json()).is_string() ? (*err)["desc"].get<std::string>() : "";
      throw QmpError(command, cls.empty() ? "UnknownError" : cls, desc.substr(0, 1024));
    }
    auto ret = message->find("return");
    if (ret == message->end())
      breakConnection(ErrorKind::kInternal, "reply to " + command + " has neither \"return\" nor \"error\"");
    return *ret;
  }
}

void QmpClient::send(const std::string& line, int fd, Deadline deadline) {
  size_t off = 0;
  bool fdSent = fd < 0;
  while (off < line.size()) {
    struct pollfd p {fd_.get(), POLLOUT, 0};
    int n = ::poll(&p, 1, msLeft(deadline));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) breakConnection(ErrorKind::kSystem, std::string("poll: ") + std::strerror(errno));
    if (n == 0) breakConnection(ErrorKind::kTimeout, "QEMU did not read its QMP socket before the deadline");
    iovec iov{const_cast<char*>(line.data() + off), line.size() - off};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
    if (!fdSent) {
      msg.msg_control = control;
      msg.msg_controllen = sizeof control;
      cmsghdr* cm = CMSG_FIRSTHDR(&msg);
      cm->cmsg_level = SOL_SOCKET;
      cm->cmsg_type = SCM_RIGHTS;
      cm->cmsg_len = CMSG_LEN(sizeof(int));
      std::memcpy(CMSG_DATA(cm), &fd, sizeof(int));
    }
    ssize_t w = ::sendmsg(fd_.get(), &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (w < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    if (w < 0) breakConnection(ErrorKind::kSystem, std::string("sendmsg: ") + std::strerror(errno));
    fdSent = true;
    off += static_cast<size_t>(w);
  }
}

std::optional<json> QmpClient::takeBufferedMessage() {
  for (;;) {
    size_t nl = buffer_.find('\n');
    if (nl == std::string::npos) {
      if (buffer_.size() > options_.maxMessageBytes)
        breakConnection(ErrorKind::kInternal, "QEMU sent a message longer than " +
                                                  std::to_string(options_.maxMessageBytes) + " bytes");
      return std::nullopt;
    }
    if (nl > options_.maxMessageBytes)
      breakConnection(ErrorKind::kInternal, "QEMU sent a message longer than " +
                                                std::to_string(options_.maxMessageBytes) + " bytes");
    std::string line = buffer_.substr(0, nl);
    buffer_.erase(0, nl + 1);
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.find_first_not_of(" \t") == std::string::npos) continue;
    if (nestingDepth(line, options_.maxNestingDepth) > options_.maxNestingDepth)
      breakConnection(ErrorKind::kInternal, "QEMU sent JSON nested deeper than " +
                                                std::to_string(options_.maxNestingDepth) + " levels");
    json message = json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (message.is_discarded() || !message.is_object())
      breakConnection(ErrorKind::kInternal, "QEMU sent a message that is not a JSON object: " + line.substr(0, 200));
    return message;
  }
}

bool QmpClient::fillBuffer(Deadline deadline) {
  for (;;) {
    struct pollfd p {fd_.get(), POLLIN, 0};
    int n = ::poll(&p, 1, msLeft(deadline));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) breakConnection(ErrorKind::kSystem, std::string("poll: ") + std::strerror(errno));
    if (n == 0) {
      if (Clock::now() >= deadline) return false;
      continue;  // msLeft caps one poll at 60 s
    }
    char chunk[65536];
    ssize_t r = ::recv(fd_.get(), chunk, sizeof chunk, MSG_DONTWAIT);
    if (r < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    if (r < 0) breakConnection(ErrorKind::kSystem, std::string("recv: ") + std::strerror(errno));
    if (r == 0) breakConnection(ErrorKind::kFailedPrecondition, "QEMU closed the QMP connection (it exited?)");
    buffer_.append(chunk, static_cast<size_t>(r));
    return true;
  }
}

std::optional<json> QmpClient::readMessage(Deadline deadline) {
  checkUsable();
  for (;;) {
    if (auto m = takeBufferedMessage()) return m;
    if (!fillBuffer(deadline)) return std::nullopt;
  }
}

void QmpClient::queueEvent(const json& message) {
  QmpEvent ev;
  const json& name = message["event"];
  if (!name.is_string()) breakConnection(ErrorKind::kInternal, "QEMU sent an event without a name");
  ev.name = name.get<std::string>().substr(0, 128);
  if (auto d = message.find("data"); d != message.end() && d->is_object()) ev.data = *d;
  else ev.data = json::object();
  if (auto ts = message.find("timestamp"); ts != message.end() && ts->is_object()) {
    ev.seconds = ts->value("seconds", int64_t{0});
    ev.microseconds = ts->value("microseconds", int64_t{0});
  }
  if (handler_) handler_(ev);
  events_.push_back(std::move(ev));
  while (events_.size() > options_.maxQueuedEvents) {
    events_.pop_front();
    ++dropped_;
  }
}

std::optional<QmpEvent> QmpClient::nextEvent(Deadline deadline) {
  while (events_.empty()) {
    auto message = readMessage(deadline);
    if (!message) return std::nullopt;
    if (message->contains("event")) queueEvent(*message);
    // anything else is a stale reply to a timed-out command: dropped
  }
  QmpEvent ev = std::move(events_.front());
  events_.pop_front();
  return ev;
}

std::optional<QmpEvent> QmpClient::waitForEvent(const std::string& name, Deadline deadline,
                                                const std::function<bool(const json&)>& match) {
  size_t scanned = 0;
  for (;;) {
    for (; scanned < events_.size(); ++scanned) {
      if (events_[scanned].name == name && (!match || match(events_[scanned].data))) {
        QmpEvent ev = std::move(events_[scanned]);
        events_.erase(events_.begin() + static_cast<std::ptrdiff_t>(scanned));
        return ev;
      }
    }
    size_t before = events_.size();
    auto message = readMessage(deadline);
    if (!message) return std::nullopt;
    if (message->contains("event")) {
      queueEvent(*message);
      // the queue may have dropped its oldest entries to make room
      if (events_.size() <= before) scanned = scanned > 0 ? scanned - 1 : 0;
    }
  }
}

std::vector<QmpEvent> QmpClient::drainEvents() {
  checkUsable();
  for (;;) {
    auto m = takeBufferedMessage();
    if (m) {
      if (m->contains("event")) queueEvent(*m);
      continue;
    }
    struct pollfd p {fd_.get(), POLLIN, 0};
    if (::poll(&p, 1, 0) <= 0) break;
    if (!fillBuffer(Clock::now())) break;
  }
  std::vector<QmpEvent> out(std::make_move_iterator(events_.begin()), std::make_move_iterator(events_.end()));
  events_.clear();
  return out;
}

// ---- typed commands ----

void QmpClient::stop() { execute("stop"); }
void QmpClient::cont() { execute("cont"); }

QmpStatus QmpClient::queryStatus() {
  json r = execute("query-status");
  QmpStatus s;
  if (!r.is_object() || !r.value("status", json()).is_string())
    fail(ErrorKind::kInternal, "QMP query-status: reply has no \"status\" string");
  s.status = r["status"].get<std::string>();
  s.running = r.value("running", false);
  return s;
}

void QmpClient::systemPowerdown() { execute("system_powerdown"); }

void QmpClient::quit() {
  try {
    execute("quit");
  } catch (const Error& e) {
    // QEMU may close the socket as it exits, before or instead of the reply reaching us.
    if (broken_.find("closed the QMP connection") == std::string::npos) throw;
  }
}

void QmpClient::deviceAdd(const json& args) {
  if (!args.is_object() || !args.value("driver", json()).is_string() || !args.value("id", json()).is_string())
    fail(ErrorKind::kInvalidArgument, "device_add needs \"driver\" and \"id\"");
  execute("device_add", args);
}

void QmpClient::deviceDel(const std::string& id) { execute("device_del", {{"id", id}}); }

void QmpClient::deviceDelAndWait(const std::string& id, Deadline deadline) {
  call("device_del", {{"id", id}}, -1, deadline);
  auto ev = waitForEvent("DEVICE_DELETED", deadline, [&](const json& data) {
    return data.value("device", json()) == id;
  });
  if (!ev)
    fail(ErrorKind::kTimeout, "device " + id +
                                  " was not released by the guest before the deadline (no DEVICE_DELETED); "
                                  "the guest may not support hot-unplug or is not running");
}

void QmpClient::netdevAdd(const json& args) { execute("netdev_add", args); }
void QmpClient::netdevDel(const std::string& id) { execute("netdev_del", {{"id", id}}); }

void QmpClient::getfd(const std::string& name, int fd) {
  executeWithFd("getfd", {{"fdname", name}}, fd, defaultDeadline());
}
void QmpClient::closefd(const std::string& name) { execute("closefd", {{"fdname", name}}); }

json QmpClient::queryPci() { return execute("query-pci"); }

std::optional<uint64_t> QmpClient::queryBalloon() {
  try {
    json r = execute("query-balloon");
    return r.value("actual", uint64_t{0});
  } catch (const QmpError& e) {
    if (e.errorClass() == "DeviceNotActive") return std::nullopt;
    throw;
  }
}

QmpMemorySummary QmpClient::queryMemorySizeSummary() {
  json r = execute("query-memory-size-summary");
  QmpMemorySummary s;
  if (!r.is_object() || !r.value("base-memory", json()).is_number_unsigned())
    fail(ErrorKind::kInternal, "QMP query-memory-size-summary: reply has no \"base-memory\"");
  s.baseMemory = r["base-memory"].get<uint64_t>();
  if (r.contains("plugged-memory") && r["plugged-memory"].is_number_unsigned())
    s.pluggedMemory = r["plugged-memory"].get<uint64_t>();
  return s;
}

}  // namespace kata::vmmd
