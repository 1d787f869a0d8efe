// The host side of a guest process's stdio (stdio_relay.h) on a real kj event loop, with pipes,
// sockets, files and devices; and EventLoop's waits and error mapping.
#include "runtime/sandbox/stdio_relay.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <fstream>
#include <thread>

#include <kj/debug.h>

#include "common/error.h"
#include "common/fd.h"
#include "runtime/sandbox/event_loop.h"
#include "tests/support/run_support.h"

namespace kata::sandbox {
namespace {

using namespace std::chrono_literals;

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wnon-virtual-dtor"
// What a guest process's stdin would receive.
class Collector final : public ipc::agent::ByteStream::Server {
 public:
  struct Seen {
    std::string data;
    int writes = 0;
    int ends = 0;
  };
  Collector(Seen& seen, int failAfter) : seen_(seen), failAfter_(failAfter) {}
  kj::Promise<void> write(WriteContext context) override {
    if (failAfter_ >= 0 && seen_.writes >= failAfter_) return KJ_EXCEPTION(DISCONNECTED, "the process is gone");
    auto d = context.getParams().getData();
    seen_.data.append(reinterpret_cast<const char*>(d.begin()), d.size());
    ++seen_.writes;
    return kj::READY_NOW;
  }
  kj::Promise<void> end(EndContext) override {
    ++seen_.ends;
    return kj::READY_NOW;
  }

 private:
  Seen& seen_;
  int failAfter_;
};
#pragma GCC diagnostic pop

struct Pipe {
  UniqueFd read, write;
  Pipe() {
    int p[2];
    if (::pipe2(p, O_CLOEXEC) != 0) throw std::runtime_error("pipe2");
    read = UniqueFd(p[0]);
    write = UniqueFd(p[1]);
  }
};

bool nonBlocking(int fd) { return (::fcntl(fd, F_GETFL) & O_NONBLOCK) != 0; }

std::string pattern(size_t n) {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; ++i) s[i] = static_cast<char>('a' + (i * 7 + i / 4096) % 26);
  return s;
}

class StdioRelayTest : public ::testing::Test {
 protected:
  ~StdioRelayTest() noexcept override {}
  void SetUp() override {
    // A consumer that went away makes write() fail with EPIPE only when SIGPIPE does not kill us
    // first; the shim and the monitor ignore it, as must every embedder.
    oldPipe_ = ::signal(SIGPIPE, SIG_IGN);
  }
  void TearDown() override { ::signal(SIGPIPE, oldPipe_); }

  kj::Promise<void> write(ipc::agent::ByteStream::Client& sink, const std::string& data) {
    auto req = sink.writeRequest();
    req.setData(kj::arrayPtr(reinterpret_cast<const kj::byte*>(data.data()), data.size()));
    return req.send();
  }
  void end(ipc::agent::ByteStream::Client& sink) { loop_.wait(sink.endRequest().send().ignoreResult(), 5s, "end"); }
  std::string logText() { return test::readWhole(logPath()); }
  std::string logPath() const { return tmp_.path() + "/relay.log"; }
  static size_t count(const std::string& s, const std::string& what) {
    size_t n = 0;
    for (size_t p = 0; (p = s.find(what, p)) != std::string::npos; p += what.size()) ++n;
    return n;
  }

  test::TempDir tmp_;
  EventLoop loop_;
  Logger log_{LogOptions{logPath(), LogFormat::kText, LogLevel::kDebug, "test"}};
  void (*oldPipe_)(int) = nullptr;
};

TEST_F(StdioRelayTest, SinkWritesIntoAPipeWithoutBlockingTheLoop) {
  Pipe p;
  ASSERT_FALSE(nonBlocking(p.write.get()));
  {
    auto sink = makeHostSink(loop_, p.write.get(), "stdout", log_);
    EXPECT_TRUE(nonBlocking(p.write.get()));
    // More than a pipe holds: the write waits for the reader, the loop does not.
    const std::string big = pattern(256 * 1024);
    bool done = false;
    auto writing = write(sink, big).then([&] { done = true; });
    loop_.poll();
    EXPECT_FALSE(done);
    std::string got;
    std::thread reader([&] {
      char buf[8192];
      while (got.size() < big.size()) {
        ssize_t n = ::read(p.read.get(), buf, sizeof buf);
        if (n <= 0) break;
        got.append(buf, static_cast<size_t>(n));
      }
    });
    loop_.wait(kj::mv(writing), 10s, "the big write");
    reader.join();
    EXPECT_TRUE(done);
    EXPECT_EQ(got.size(), big.size());
    EXPECT_TRUE(got == big);
    loop_.wait(write(sink, "tail"), 5s, "tail");
    end(sink);
    char buf[16];
    EXPECT_EQ(::read(p.read.get(), buf, sizeof buf), 4);
  }
  loop_.poll();
  EXPECT_FALSE(nonBlocking(p.write.get())) << "O_NONBLOCK was not restored";
}

TEST_F(StdioRelayTest, SinkWritesRegularFilesDirectly) {
  const std::string path = tmp_.path() + "/out";
  UniqueFd f(::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
  int before = ::fcntl(f.get(), F_GETFL);
  {
    auto sink = makeHostSink(loop_, f.get(), "stdout", log_);
    EXPECT_EQ(::fcntl(f.get(), F_GETFL), before);
    loop_.wait(write(sink, "first "), 5s, "w1");
    // Direct: the bytes are in the file as soon as the call returned.
    EXPECT_EQ(test::readWhole(path), "first ");
    loop_.wait(write(sink, "second"), 5s, "w2");
    end(sink);
  }
  loop_.poll();
  EXPECT_EQ(test::readWhole(path), "first second");
  EXPECT_EQ(::fcntl(f.get(), F_GETFL), before);
}

TEST_F(StdioRelayTest, AConsumerThatWentAwayIsDiscardedWithoutFailingTheStream) {
  Pipe p;
  p.read.reset();
  {
    auto sink = makeHostSink(loop_, p.write.get(), "stderr", log_);
    EXPECT_NO_THROW(loop_.wait(write(sink, "lost"), 5s, "w1"));
    EXPECT_NO_THROW(loop_.wait(write(sink, "also lost"), 5s, "w2"));
    EXPECT_NO_THROW(end(sink));
  }
  loop_.poll();
  EXPECT_EQ(count(logText(), "stderr consumer went away"), 1u) << logText();
  EXPECT_FALSE(nonBlocking(p.write.get()));
}

TEST_F(StdioRelayTest, ADirectConsumerThatFailsIsDiscardedToo) {
  // /dev/full: not pollable, and every write fails (ENOSPC).
  UniqueFd full(::open("/dev/full", O_WRONLY | O_CLOEXEC));
  ASSERT_TRUE(full.valid());
  EXPECT_FALSE(isPollable(full.get()));
  auto sink = makeHostSink(loop_, full.get(), "stdout", log_);
  EXPECT_NO_THROW(loop_.wait(write(sink, "x"), 5s, "w1"));
  EXPECT_NO_THROW(loop_.wait(write(sink, "y"), 5s, "w2"));
  std::string log = logText();
  EXPECT_EQ(count(log, "stdout consumer went away"), 1u) << log;
  EXPECT_NE(log.find("No space left on device"), std::string::npos) << log;
}

TEST_F(StdioRelayTest, NoDescriptorDiscards) {
  auto sink = makeHostSink(loop_, -1, "stdout", log_);
  EXPECT_NO_THROW(loop_.wait(write(sink, "nowhere"), 5s, "w"));
  EXPECT_NO_THROW(end(sink));
}

TEST_F(StdioRelayTest, PumpsAPipeIntoStdinUntilEndOfFile) {
  Pipe p;
  const std::string data = pattern(300 * 1024);  // more than one read, more than the pipe holds
  std::thread writer([&] {
    size_t off = 0;
    while (off < data.size()) {
      ssize_t n = ::write(p.write.get(), data.data() + off, std::min<size_t>(10000, data.size() - off));
      if (n <= 0) break;
      off += static_cast<size_t>(n);
    }
    p.write.reset();
  });
  Collector::Seen seen;
  ipc::agent::ByteStream::Client stdin = kj::heap<Collector>(seen, -1);
  loop_.wait(pumpIntoStdin(loop_, p.read.get(), stdin, log_), 10s, "pump");
  writer.join();
  EXPECT_EQ(seen.data.size(), data.size());
  EXPECT_TRUE(seen.data == data);
  EXPECT_GE(seen.writes, 2);
  EXPECT_EQ(seen.ends, 1);
  EXPECT_FALSE(nonBlocking(p.read.get())) << "O_NONBLOCK was not restored";
}

TEST_F(StdioRelayTest, PumpsARegularFileIntoStdinUntilEndOfFile) {
  const std::string path = tmp_.path() + "/in";
  const std::string data = pattern(150 * 1024);
  std::ofstream(path) << data;
  UniqueFd f(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  Collector::Seen seen;
  ipc::agent::ByteStream::Client stdin = kj::heap<Collector>(seen, -1);
  loop_.wait(pumpIntoStdin(loop_, f.get(), stdin, log_), 10s, "pump");
  EXPECT_TRUE(seen.data == data);
  EXPECT_EQ(seen.writes, 3);  // 64 KiB chunks
  EXPECT_EQ(seen.ends, 1);
}

TEST_F(StdioRelayTest, NoStdinEndsTheStreamAtOnce) {
  Collector::Seen seen;
  ipc::agent::ByteStream::Client stdin = kj::heap<Collector>(seen, -1);
  loop_.wait(pumpIntoStdin(loop_, -1, stdin, log_), 5s, "pump");
  EXPECT_EQ(seen.writes, 0);
  EXPECT_EQ(seen.ends, 1);
}

TEST_F(StdioRelayTest, AStdinWhoseProcessWentAwayEndsThePumpQuietly) {
  Pipe p;
  ASSERT_EQ(::write(p.write.get(), "one", 3), 3);
  Collector::Seen seen;
  ipc::agent::ByteStream::Client stdin = kj::heap<Collector>(seen, 0);  // every write fails
  auto pump = pumpIntoStdin(loop_, p.read.get(), stdin, log_);
  EXPECT_NO_THROW(loop_.wait(kj::mv(pump), 5s, "pump"));
  EXPECT_EQ(seen.data, "");
  // capnp fails every call on a stream after a failed streaming call, so the end() the pump sends
  // does not arrive either; the pump must resolve all the same.
  EXPECT_EQ(seen.ends, 0);
  EXPECT_NE(logText().find("stdin relay ends: the process is gone"), std::string::npos) << logText();
}

TEST_F(StdioRelayTest, WhatEpollCanWatch) {
  Pipe p;
  EXPECT_TRUE(isPollable(p.read.get()));
  int sv[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
  UniqueFd a(sv[0]), b(sv[1]);
  EXPECT_TRUE(isPollable(a.get()));
  UniqueFd master(::posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC));
  ASSERT_TRUE(master.valid());
  EXPECT_TRUE(isPollable(master.get()));
  UniqueFd file(::open(logPath().c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
  EXPECT_FALSE(isPollable(file.get()));
  UniqueFd null(::open("/dev/null", O_RDWR | O_CLOEXEC));
  EXPECT_FALSE(isPollable(null.get()));
  EXPECT_FALSE(isPollable(-1));
}

// --- EventLoop

TEST_F(StdioRelayTest, WaitGivesUpAtTheDeadlineNamingWhatItWaitedFor) {
  auto start = std::chrono::steady_clock::now();
  try {
    loop_.wait(kj::Promise<void>(kj::NEVER_DONE), 1500ms, "waiting for nothing");
    FAIL() << "a promise that never resolves resolved";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kTimeout);
    EXPECT_STREQ(e.what(), "waiting for nothing did not finish within 1.5 s");
  }
  EXPECT_GE(std::chrono::steady_clock::now() - start, 1400ms);
}

TEST_F(StdioRelayTest, KjErrorsBecomeKataErrorsOfTheirKind) {
  auto rejected = [](kj::Exception::Type type, const char* text) {
    return kj::Promise<int>(kj::Exception(type, __FILE__, __LINE__, kj::heapString(text)));
  };
  try {
    loop_.wait(rejected(kj::Exception::Type::FAILED, "remote exception: not-found: container c9 does not exist"), 1s,
               "reading c9");
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kNotFound);
    EXPECT_STREQ(e.what(), "reading c9: container c9 does not exist");
  }
  // Forwarded by the monitor: one prefix per hop.
  try {
    loop_.wait(rejected(kj::Exception::Type::FAILED, "remote exception: remote exception: already-exists: process e1 exists"),
               1s, "exec e1");
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kAlreadyExists);
    EXPECT_STREQ(e.what(), "exec e1: process e1 exists");
  }
  try {
    loop_.waitForever(rejected(kj::Exception::Type::DISCONNECTED, "peer disconnected"), "creating c1", "kata-vmmd");
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kFailedPrecondition);
    EXPECT_STREQ(e.what(), "creating c1: the connection to kata-vmmd was lost (peer disconnected)");
  }
  try {
    loop_.wait(rejected(kj::Exception::Type::FAILED, "something odd"), 1s, "pinging");
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kInternal);
    EXPECT_STREQ(e.what(), "pinging: kata-agent: something odd");
  }
  EXPECT_EQ(loop_.waitForever(kj::Promise<int>(42), "answer"), 42);
  EXPECT_EQ(loop_.wait(loop_.timer().afterDelay(10 * kj::MILLISECONDS).then([] { return 7; }), 5s, "later"), 7);
}

}  // namespace
}  // namespace kata::sandbox
