// Errors raised across the project. One family, so every front end (CLI, daemon, agent) can turn any
// failure into a message for people and a stable kind for programs.
#pragma once

#include <cerrno>
#include <stdexcept>
#include <string>
#include <utility>

namespace kata {

enum class ErrorKind {
  kInvalidArgument,  // the caller's input is wrong; retrying the same call cannot help
  kNotFound,         // the named object does not exist
  kAlreadyExists,    // the named object exists already
  kFailedPrecondition,  // the object is in the wrong state for the call (e.g. "container not running")
  kNotSupported,     // a valid request this runtime does not (yet) carry out
  kPermissionDenied,
  kSystem,           // a system call failed; carries errno
  kTimeout,
  kInternal,
};

class Error : public std::runtime_error {
 public:
  Error(ErrorKind kind, const std::string& message, int err = 0)
      : std::runtime_error(message), kind_(kind), errno_(err) {}
  ErrorKind kind() const noexcept { return kind_; }
  // errno of the failed system call, 0 when the error did not come from one.
  int sysErrno() const noexcept { return errno_; }

 private:
  ErrorKind kind_;
  int errno_;
};

// Builds the message "<call>: <strerror(err)>" and throws it as a kSystem error.
[[noreturn]] void throwSysError(int err, const std::string& call);

// Wraps a system call that reports failure as -1 + errno: retries on EINTR and throws an Error that
// names the call (with the caller's description of its arguments) and errno. Returns the result.
#define KATA_SYSCALL(call, ...)                                                            \
  ([&]() {                                                                                 \
    for (;;) {                                                                             \
      auto kata_syscall_result_ = (call);                                                  \
      if (kata_syscall_result_ != -1) return kata_syscall_result_;                         \
      if (errno != EINTR) ::kata::throwSysError(errno, ::kata::describeCall(#call __VA_OPT__(, ) __VA_ARGS__)); \
    }                                                                                      \
  }())

// The same for calls that return a negative errno instead of setting errno (libseccomp, libnl).
#define KATA_NEGERR(call, ...)                                                             \
  ([&]() {                                                                                 \
    auto kata_negerr_result_ = (call);                                                     \
    if (kata_negerr_result_ < 0)                                                           \
      ::kata::throwSysError(-kata_negerr_result_, ::kata::describeCall(#call __VA_OPT__(, ) __VA_ARGS__)); \
    return kata_negerr_result_;                                                            \
  }())

std::string describeCall(const char* call);
std::string describeCall(const char* call, const std::string& detail);

[[noreturn]] inline void fail(ErrorKind kind, const std::string& message) { throw Error(kind, message); }

// Errors crossing an RPC boundary (kata-vmmd, kata-agent) travel as text "<tag>: <message>", the tag
// naming the kind ("not-found", "permission-denied", ...), so the receiver rebuilds the same kind.
const char* errorKindTag(ErrorKind kind);
std::string taggedMessage(const Error& error);
// The kind and message of a remote error text ("remote exception: not-found: sandbox x ..."); a text
// without a tag becomes kInternal carrying the whole text, prefixed with `peer` ("kata-vmmd: ...").
Error errorFromRemote(const std::string& description, const std::string& peer);

}  // namespace kata
