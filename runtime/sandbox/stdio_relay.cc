#include "runtime/sandbox/stdio_relay.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/error.h"

namespace kata::sandbox {
namespace {

constexpr size_t kStdinChunk = 64 * 1024;  // below the agent's 1 MiB write bound

// Remembers a descriptor's status flags and puts them back (O_NONBLOCK on a shared terminal would
// surprise the shell that gets it back).
class FlagsRestorer {
 public:
  explicit FlagsRestorer(int fd) : fd_(fd), flags_(::fcntl(fd, F_GETFL)) {}
  ~FlagsRestorer() {
    if (flags_ >= 0) (void)::fcntl(fd_, F_SETFL, flags_);
  }
  FlagsRestorer(const FlagsRestorer&) = delete;
  FlagsRestorer& operator=(const FlagsRestorer&) = delete;

 private:
  int fd_;
  int flags_;
};

// Writes all of data to a blocking descriptor; false once the consumer is gone.
bool writeAllBlocking(int fd, const kj::byte* p, size_t n) {
  while (n > 0) {
    ssize_t w = ::write(fd, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN) {
        ::usleep(1000);  // a descriptor someone else made non-blocking
        continue;
      }
      return false;
    }
    p += w;
    n -= static_cast<size_t>(w);
  }
  return true;
}

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wnon-virtual-dtor"
class HostSink final : public ipc::agent::ByteStream::Server {
 public:
  HostSink(EventLoop& loop, int fd, std::string name, const Logger& log) : fd_(fd), name_(std::move(name)), log_(log) {
    if (fd_ >= 0 && isPollable(fd_)) {
      restore_ = std::make_unique<FlagsRestorer>(fd_);
      stream_ = loop.io().lowLevelProvider->wrapOutputFd(fd_);
    }
  }

  kj::Promise<void> write(WriteContext context) override {
    if (fd_ < 0 || gone_) return kj::READY_NOW;
    auto data = context.getParams().getData();
    KJ_IF_MAYBE(s, stream_) {
      return (*s)->write(data.begin(), data.size()).catch_([this](kj::Exception&& e) { lost(e.getDescription().cStr()); });
    }
    if (!writeAllBlocking(fd_, data.begin(), data.size())) lost(std::strerror(errno));
    return kj::READY_NOW;
  }
  kj::Promise<void> end(EndContext) override { return kj::READY_NOW; }

 private:
  void lost(const std::string& why) {
    if (!gone_) log_.debug(name_ + " consumer went away (" + why + "); discarding the rest");
    gone_ = true;
  }

  int fd_;
  std::string name_;
  Logger log_;
  std::unique_ptr<FlagsRestorer> restore_;
  kj::Maybe<kj::Own<kj::AsyncOutputStream>> stream_;
  bool gone_ = false;
};
#pragma GCC diagnostic pop

// Pollable input: async reads into a buffer that lives as long as the pump (heap-allocated, so the
// references in the continuation stay valid when the promise and its attachments move).
struct AsyncStdin {
  AsyncStdin(int fd, kj::Own<kj::AsyncInputStream> s) : restore(fd), in(kj::mv(s)), buf(kj::heapArray<kj::byte>(kStdinChunk)) {}
  FlagsRestorer restore;
  kj::Own<kj::AsyncInputStream> in;
  kj::Array<kj::byte> buf;
};

kj::Promise<void> pumpAsync(AsyncStdin& st, ipc::agent::ByteStream::Client out) {
  return st.in->tryRead(st.buf.begin(), 1, st.buf.size()).then([&st, out](size_t n) mutable -> kj::Promise<void> {
    if (n == 0) return out.endRequest().send().ignoreResult();
    auto req = out.writeRequest();
    req.setData(kj::arrayPtr(st.buf.begin(), n));
    return req.send().then([&st, out]() mutable { return pumpAsync(st, kj::mv(out)); });
  });
}

}  // namespace

bool isPollable(int fd) {
  struct stat st {};
  if (::fstat(fd, &st) != 0) return false;
  return S_ISFIFO(st.st_mode) || S_ISSOCK(st.st_mode) || (S_ISCHR(st.st_mode) && ::isatty(fd));
}

ipc::agent::ByteStream::Client makeHostSink(EventLoop& loop, int fd, std::string name, const Logger& log) {
  return kj::heap<HostSink>(loop, fd, std::move(name), log);
}

kj::Promise<void> pumpIntoStdin(EventLoop& loop, int fd, ipc::agent::ByteStream::Client stdin, const Logger& log) {
  if (fd < 0) return stdin.endRequest().send().ignoreResult();
  if (!isPollable(fd)) {
    // A regular file or /dev/null: reads do not block for long, so read them directly, one chunk per
    // turn of the loop.
    auto buf = kj::heapArray<kj::byte>(kStdinChunk);
    ssize_t n;
    do n = ::read(fd, buf.begin(), buf.size());
    while (n < 0 && errno == EINTR);
    if (n <= 0) return stdin.endRequest().send().ignoreResult();
    auto req = stdin.writeRequest();
    req.setData(kj::arrayPtr(buf.begin(), static_cast<size_t>(n)));
    return req.send().then([&loop, fd, stdin, log]() mutable { return pumpIntoStdin(loop, fd, kj::mv(stdin), log); });
  }
  // The flags are captured before kj makes the descriptor non-blocking.
  auto st = kj::heap<AsyncStdin>(fd, kj::Own<kj::AsyncInputStream>());
  st->in = loop.io().lowLevelProvider->wrapInputFd(fd);
  auto pumping = pumpAsync(*st, stdin);
  return pumping
      
      .catch_([stdin, log](kj::Exception&& e) mutable -> kj::Promise<void> {
        // EIO: the terminal was hung up; like end of file for the process.
        log.debug(std::string("stdin relay ends: ") + e.getDescription().cStr());
        return stdin.endRequest().send().ignoreResult().catch_([](kj::Exception&&) {});
      })
      .attach(kj::mv(st));
}

}  // namespace kata::sandbox
