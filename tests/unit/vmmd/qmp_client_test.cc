// QmpClient against a scripted fake QMP server on the other end of a socketpair, for the protocol
// edge cases a real QEMU will not produce on demand: timeouts, stale replies, interleaved events,
// errors, oversized and malformed messages, fd passing.
#include "kata-vmmd/qmp_client.h"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <fcntl.h>

#include <atomic>
#include <thread>

namespace kata::vmmd {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

const char* kGreeting =
    R"({"QMP": {"version": {"qemu": {"micro": 0, "minor": 2, "major": 7}, "package": ""}, "capabilities": ["oob"]}})";

// The server side: greets, then answers every request with script(request, server). Runs on its own
// thread; the script may send anything with sendRaw.
class FakeQmp {
 public:
  using Script = std::function<void(const json& request, FakeQmp& server)>;
  explicit FakeQmp(Script script, std::string greeting = kGreeting) : script_(std::move(script)) {
    int sv[2];
    EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    client_ = UniqueFd(sv[0]);
    server_ = UniqueFd(sv[1]);
    thread_ = std::thread([this, greeting] { run(greeting); });
  }
  ~FakeQmp() {
    ::shutdown(server_.get(), SHUT_RDWR);
    thread_.join();
  }
  UniqueFd takeClientEnd() { return std::move(client_); }
  void sendRaw(const std::string& s) { (void)!::send(server_.get(), s.data(), s.size(), MSG_NOSIGNAL); }
  void reply(const json& req, const json& ret) { sendRaw(json({{"return", ret}, {"id", req["id"]}}).dump() + "\r\n"); }
  void event(const std::string& name, const json& data = json::object()) {
    sendRaw(json({{"event", name}, {"data", data}, {"timestamp", {{"seconds", 1}, {"microseconds", 2}}}}).dump() + "\r\n");
  }
  void closeConnection() { ::shutdown(server_.get(), SHUT_RDWR); }
  std::vector<json> requests() {
    std::lock_guard<std::mutex> l(mu_);
    return requests_;
  }
  std::atomic<int> receivedFd{-1};

 private:
  void run(const std::string& greeting) {
    sendRaw(greeting + "\r\n");
    std::string buf;
    for (;;) {
      char chunk[4096];
      iovec iov{chunk, sizeof chunk};
      alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))];
      msghdr msg{};
      msg.msg_iov = &iov;
      msg.msg_iovlen = 1;
      msg.msg_control = control;
      msg.msg_controllen = sizeof control;
      ssize_t n = ::recvmsg(server_.get(), &msg, MSG_CMSG_CLOEXEC);
      if (n <= 0) return;
      if (cmsghdr* cm = CMSG_FIRSTHDR(&msg); cm && cm->cmsg_type == SCM_RIGHTS) {
        int fd;
        std::memcpy(&fd, CMSG_DATA(cm), sizeof fd);
        receivedFd = fd;
      }
      buf.append(chunk, static_cast<size_t>(n));
      size_t nl;
      while ((nl = buf.find('\n')) != std::string::npos) {
        json req = json::parse(buf.substr(0, nl));
        buf.erase(0, nl + 1);
        {
          std::lock_guard<std::mutex> l(mu_);
          requests_.push_back(req);
        }
        if (req["execute"] == "qmp_capabilities") reply(req, json::object());
        else script_(req, *this);
      }
    }
  }
  Script script_;
  UniqueFd client_, server_;
  std::thread thread_;
  std::mutex mu_;
  std::vector<json> requests_;
};

TEST(QmpClient, NegotiatesThenExecutesWithIdsAndArguments) {
  FakeQmp server([](const json& req, FakeQmp& s) {
    if (req["execute"] == "query-status") s.reply(req, {{"status", "prelaunch"}, {"running", false}});
    else s.reply(req, {{"echo", req.value("arguments", json())}});
  });
  QmpClient qmp(server.takeClientEnd(), deadlineIn(2s));
  EXPECT_EQ(qmp.greeting()["QMP"]["version"]["qemu"]["major"], 7);
  auto st = qmp.queryStatus();
  EXPECT_EQ(st.status, "prelaunch");
  EXPECT_FALSE(st.running);
  EXPECT_EQ(qmp.execute("x-echo", {{"a", 1}}), json({{"echo", {{"a", 1}}}}));
  auto reqs = server.requests();
  ASSERT_EQ(reqs.size(), 3u);
  EXPECT_EQ(reqs[0]["execute"], "qmp_capabilities");
  EXPECT_NE(reqs[1]["id"], reqs[2]["id"]);
  EXPECT_FALSE(reqs[1].contains("arguments"));
}

TEST(QmpClient, ErrorRepliesCarryClassAndDescription) {
  FakeQmp server([](const json& req, FakeQmp& s) {
    if (req["execute"] == "query-balloon")
      s.sendRaw(json({{"error", {{"class", "DeviceNotActive"}, {"desc", "No balloon device has been activated"}}}, {"id", req["id"]}}).dump() + "\n");
    else
      s.sendRaw(json({{"error", {{"class", "DeviceNotFound"}, {"desc", "Device 'nope' not found"}}}, {"id", req["id"]}}).dump() + "\n");
  });
  QmpClient qmp(server.takeClientEnd(), deadlineIn(2s));
  try {
    qmp.deviceDel("nope");
    FAIL();
  } catch (const QmpError& e) {
    EXPECT_EQ(e.errorClass(), "DeviceNotFound");
    EXPECT_EQ(e.desc(), "Device 'nope' not found");
    EXPECT_EQ(e.kind(), ErrorKind::kNotFound);
    EXPECT_STREQ(e.what(), "QMP device_del failed: DeviceNotFound: Device 'nope' not found");
  }
  EXPECT_EQ(qmp.queryBalloon(), std::nullopt);  // no balloon is an answer, not an error
}

TEST(QmpClient, EventsInterleavedWithRepliesAreQueuedAndDispatchedInOrder) {
  FakeQmp server([](const json& req, FakeQmp& s) {
    s.event("STOP");
    s.event("DEVICE_DELETED", {{"device", "other"}, {"path", "/machine/peripheral/other"}});
    s.reply(req, json::object());
    s.event("RESUME");
    s.event("DEVICE_DELETED", {{"device", "rng1"}});
  });
  QmpClient qmp(server.takeClientEnd(), deadlineIn(2s));
  std::vector<std::string> seen;
  qmp.setEventHandler([&](const QmpEvent& e) { seen.push_back(e.name); });
  qmp.deviceDelAndWait("rng1", deadlineIn(2s));
  EXPECT_EQ(seen, (std::vector<std::string>{"STOP", "DEVICE_DELETED", "RESUME", "DEVICE_DELETED"}));
  auto rest = qmp.drainEvents();
  ASSERT_EQ(rest.size(), 3u);  // the matching DEVICE_DELETED was consumed; the others stay in order
  EXPECT_EQ(rest[0].name, "STOP");
  EXPECT_EQ(rest[0].seconds, 1);
  EXPECT_EQ(rest[1].data["device"], "other");
  EXPECT_EQ(rest[2].name, "RESUME");
}

TEST(QmpClient, TimeoutThenTheLateReplyIsNotTakenForTheNextCommand) {
  std::atomic<int> calls{0};
  std::string firstId;
  FakeQmp server([&](const json& req, FakeQmp& s) {
    if (calls++ == 0) {
      firstId = req["id"];  // hold the reply back until the next request arrives
      return;
    }
    s.sendRaw(json({{"return", {{"which", "first"}}}, {"id", firstId}}).dump() + "\n");
    s.reply(req, {{"which", "second"}});
  });
  QmpClient qmp(server.takeClientEnd(), deadlineIn(2s));
  auto start = std::chrono::steady_clock::now();
  try {
    qmp.execute("query-status", nullptr, deadlineIn(150ms));
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kTimeout) << e.what();
  }
  EXPECT_LT(std::chrono::steady_clock::now() - start, 1s);
  EXPECT_EQ(qmp.execute("query-status")["which"], "second");
}

TEST(QmpClient, OversizedMessageBreaksTheConnection) {
  FakeQmp server([](const json&, FakeQmp& s) { s.sendRaw(std::string(70000, 'x')); });
  QmpOptions opts;
  opts.maxMessageBytes = 65536;
  QmpClient qmp(server.takeClientEnd(), deadlineIn(2s), opts);
  try {
    qmp.queryStatus();
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kInternal);
    EXPECT_NE(std::string(e.what()).find("longer than 65536 bytes"), std::string::npos) << e.what();
  }
  try {
    qmp.queryStatus();
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kFailedPrecondition);
    EXPECT_NE(std::string(e.what()).find("unusable"), std::string::npos);
  }
}

TEST(QmpClient, DeepNestingAndGarbageAreRefusedWithoutParsing) {
  {
    FakeQmp server([](const json&, FakeQmp& s) { s.sendRaw(std::string(100000, '[') + "\n"); });
    QmpClient qmp(server.takeClientEnd(), deadlineIn(2s));
    EXPECT_THROW(qmp.queryStatus(), Error);
  }
  {
    FakeQmp server([](const json&, FakeQmp& s) { s.sendRaw("{\"return\": \n"); });
    QmpClient qmp(server.takeClientEnd(), deadlineIn(2s));
    try {
      qmp.queryStatus();
      FAIL();
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("not a JSON object"), std::string::npos) << e.what();
    }
  }
}

TEST(QmpClient, RefusesSomethingThatIsNotQmp) {
  FakeQmp server([](const json&, FakeQmp&) {}, R"({"hello": "world"})");
  EXPECT_THROW(QmpClient(server.takeClientEnd(), deadlineIn(2s)), Error);
}

TEST(QmpClient, MissingGreetingTimesOut) {
  int sv[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
  UniqueFd peer(sv[1]);
  try {
    QmpClient(UniqueFd(sv[0]), deadlineIn(100ms));
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kTimeout);
  }
}

TEST(QmpClient, GetfdPassesTheDescriptor) {
  FakeQmp server([](const json& req, FakeQmp& s) { s.reply(req, json::object()); });
  QmpClient qmp(server.takeClientEnd(), deadlineIn(2s));
  UniqueFd file(::open("/proc/self/exe", O_RDONLY | O_CLOEXEC));
  qmp.getfd("tap-eth0-0", file.get());
  auto reqs = server.requests();
  EXPECT_EQ(reqs.back()["arguments"]["fdname"], "tap-eth0-0");
  int got = server.receivedFd;
  ASSERT_GE(got, 0);
  UniqueFd received(got);
  struct stat a {}, b {};
  ASSERT_EQ(::fstat(file.get(), &a), 0);
  ASSERT_EQ(::fstat(received.get(), &b), 0);
  EXPECT_EQ(a.st_ino, b.st_ino);
  EXPECT_EQ(a.st_dev, b.st_dev);
}

TEST(QmpClient, QuitToleratesQemuClosingBeforeItsReply) {
  FakeQmp server([](const json&, FakeQmp& s) { s.closeConnection(); });
  QmpClient qmp(server.takeClientEnd(), deadlineIn(2s));
  EXPECT_NO_THROW(qmp.quit());
}

TEST(QmpClient, EventQueueIsBounded) {
  FakeQmp server([](const json& req, FakeQmp& s) {
    for (int i = 0; i < 5; ++i) s.event("RTC_CHANGE", {{"offset", i}});
    s.reply(req, json::object());
  });
  QmpOptions opts;
  opts.maxQueuedEvents = 2;
  QmpClient qmp(server.takeClientEnd(), deadlineIn(2s), opts);
  qmp.cont();
  auto evs = qmp.drainEvents();
  ASSERT_EQ(evs.size(), 2u);
  EXPECT_EQ(evs[0].data["offset"], 3);  // the oldest were dropped
  EXPECT_EQ(qmp.droppedEvents(), 3u);
}

TEST(QmpClient, DeviceDelWaitTimesOutWhenTheGuestNeverReleases) {
  FakeQmp server([](const json& req, FakeQmp& s) { s.reply(req, json::object()); });
  QmpClient qmp(server.takeClientEnd(), deadlineIn(2s));
  try {
    qmp.deviceDelAndWait("rng1", deadlineIn(100ms));
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kTimeout);
    EXPECT_NE(std::string(e.what()).find("DEVICE_DELETED"), std::string::npos);
  }
}

}  // namespace
}  // namespace kata::vmmd
