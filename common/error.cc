#include "common/error.h"

#include <cstring>
#include <utility>

namespace kata {
namespace {

constexpr std::pair<ErrorKind, const char*> kTags[] = {
    {ErrorKind::kInvalidArgument, "invalid-argument"}, {ErrorKind::kNotFound, "not-found"},
    {ErrorKind::kAlreadyExists, "already-exists"},     {ErrorKind::kFailedPrecondition, "failed-precondition"},
    {ErrorKind::kNotSupported, "not-supported"},       {ErrorKind::kPermissionDenied, "permission-denied"},
    {ErrorKind::kSystem, "system"},                    {ErrorKind::kTimeout, "timeout"},
    {ErrorKind::kInternal, "internal"},
};

}  // namespace

const char* errorKindTag(ErrorKind kind) {
  for (const auto& [k, tag] : kTags)
    if (k == kind) return tag;
  return "internal";
}

std::string taggedMessage(const Error& error) { return std::string(errorKindTag(error.kind())) + ": " + error.what(); }

Error errorFromRemote(const std::string& description, const std::string& peer) {
  std::string text = description;
  const std::string remote = "remote exception: ";
  if (text.rfind(remote, 0) == 0) text = text.substr(remote.size());
  for (const auto& [kind, tag] : kTags) {
    std::string prefix = std::string(tag) + ": ";
    if (text.rfind(prefix, 0) == 0) return Error(kind, text.substr(prefix.size()));
  }
  return Error(ErrorKind::kInternal, peer + ": " + text);
}

void throwSysError(int err, const std::string& call) {
  throw Error(ErrorKind::kSystem, call + ": " + std::strerror(err), err);
}

std::string describeCall(const char* call) { return call; }

std::string describeCall(const char* call, const std::string& detail) {
  return std::string(call) + " [" + detail + "]";
}

}  // namespace kata
