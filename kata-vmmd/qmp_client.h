// A client for QEMU's machine protocol (QMP) over a unix socket.
//
// QEMU is treated as untrusted: it runs the guest, and a compromised or buggy QEMU can send anything.
// So every read is bounded (line length, JSON nesting depth, queued events), every call has a
// deadline (poll with the time left; nothing blocks forever), and replies are matched to commands by
// "id" so a late reply to a timed-out command is recognised and dropped, never taken for the answer
// to the next one. After a protocol violation (oversized or malformed message, EOF) the client is
// broken and every later call fails at once; the owner reconnects or kills QEMU.
//
// Events (SHUTDOWN, STOP, RESUME, DEVICE_DELETED, GUEST_PANICKED, ...) arrive interleaved with
// replies. They are queued in arrival order (bounded: the oldest are dropped and counted) and, when
// a handler is set, also handed to it as they are read, on the calling thread.
//
// Not thread-safe: one owner (the VM's driver) serializes calls.
#pragma once

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <optional>
#include <string>

#include "common/error.h"
#include "common/fd.h"
#include "kata-vmmd/hypervisor.h"

namespace kata::vmmd {

// An error QEMU returned for a command: kind() maps QMP's class, errorClass() and desc() are QMP's own.
class QmpError : public Error {
 public:
  QmpError(const std::string& command, const std::string& errorClass, const std::string& desc);
  const std::string& errorClass() const { return class_; }
  const std::string& desc() const { return desc_; }

 private:
  std::string class_;
  std::string desc_;
};

struct QmpEvent {
  std::string name;
  nlohmann::json data;  // object; {} when the event has none
  int64_t seconds = 0;  // QEMU's timestamp
  int64_t microseconds = 0;
};

struct QmpOptions {
  std::chrono::milliseconds timeout{10000};  // for calls that are not given a deadline
  size_t maxMessageBytes = 4u << 20;  // one JSON line; query-pci of a large VM is ~100 KiB
  size_t maxNestingDepth = 64;        // JSON nesting; deeper input would exhaust the parser's stack
  size_t maxQueuedEvents = 1024;
};

struct QmpStatus {
  std::string status;  // "running", "paused", "prelaunch", "shutdown", "guest-panicked", ...
  bool running = false;
};

struct QmpMemorySummary {
  uint64_t baseMemory = 0;
  std::optional<uint64_t> pluggedMemory;
};

class QmpClient {
 public:
  // Takes a connected stream socket, reads QEMU's greeting and negotiates capabilities.
  QmpClient(UniqueFd socket, Deadline deadline, QmpOptions options = {});
  // Connects to a QMP socket path, retrying while QEMU has not created or started listening on it.
  static QmpClient connect(const std::string& path, Deadline deadline, QmpOptions options = {});

  QmpClient(QmpClient&&) = default;
  QmpClient& operator=(QmpClient&&) = default;

  // Runs a command and returns its "return" value; throws QmpError for a QMP error reply, kTimeout
  // when no reply came before the deadline, kSystem/kInternal when the connection broke.
  nlohmann::json execute(const std::string& command, const nlohmann::json& args = nullptr);
  nlohmann::json execute(const std::string& command, const nlohmann::json& args, Deadline deadline);
  // The same, passing one file descriptor with the command (SCM_RIGHTS), as getfd and add-fd need.
  nlohmann::json executeWithFd(const std::string& command, const nlohmann::json& args, int fd,
                               Deadline deadline);

  // ---- events ----
  void setEventHandler(std::function<void(const QmpEvent&)> handler) { handler_ = std::move(handler); }
  // The oldest queued event, reading from QEMU until one arrives or the deadline passes (nullopt).
  std::optional<QmpEvent> nextEvent(Deadline deadline);
  // Waits for an event with this name (and, if given, whose data matches); takes it out of the queue,
  // leaving other events queued in order. nullopt at the deadline.
  std::optional<QmpEvent> waitForEvent(const std::string& name, Deadline deadline,
                                       const std::function<bool(const nlohmann::json&)>& match = nullptr);
  // Reads whatever QEMU has sent already without blocking, then returns and clears the queue.
  std::vector<QmpEvent> drainEvents();
  uint64_t droppedEvents() const { return dropped_; }

  // ---- typed commands ----
  void stop();
  void cont();
  QmpStatus queryStatus();
  void systemPowerdown();
  // Asks QEMU to exit; succeeds also when QEMU closes the socket before its reply arrives.
  void quit();
  void deviceAdd(const nlohmann::json& args);
  // device_del only asks the guest to release the device; completion is the DEVICE_DELETED event.
  void deviceDel(const std::string& id);
  void deviceDelAndWait(const std::string& id, Deadline deadline);
  void netdevAdd(const nlohmann::json& args);
  void netdevDel(const std::string& id);
  void getfd(const std::string& name, int fd);
  void closefd(const std::string& name);
  nlohmann::json queryPci();
  // nullopt when the VM has no balloon device (QMP's DeviceNotActive).
  std::optional<uint64_t> queryBalloon();
  QmpMemorySummary queryMemorySizeSummary();

  const nlohmann::json& greeting() const { return greeting_; }
  int fd() const { return fd_.get(); }

 private:
  Deadline defaultDeadline() const { return deadlineIn(options_.timeout); }
  nlohmann::json call(const std::string& command, const nlohmann::json& args, int fd, Deadline deadline);
  void send(const std::string& line, int fd, Deadline deadline);
  // Reads one message (blocking until the deadline); nullopt at the deadline.
  std::optional<nlohmann::json> readMessage(Deadline deadline);
  std::optional<nlohmann::json> takeBufferedMessage();
  bool fillBuffer(Deadline deadline);  // false at the deadline
  void queueEvent(const nlohmann::json& message);
  [[noreturn]] void breakConnection(ErrorKind kind, const std::string& why);
  void checkUsable() const;

  UniqueFd fd_;
  QmpOptions options_;
  std::string buffer_;
  std::deque<QmpEvent> events_;
  std::function<void(const QmpEvent&)> handler_;
  nlohmann::json greeting_;
  uint64_t nextId_ = 1;
  uint64_t dropped_ = 0;
  std::string broken_;  // why the connection is unusable; empty while it works
};

}  // namespace kata::vmmd
