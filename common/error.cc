#include "common/error.h"

#include <cstring>

namespace kata {

void throwSysError(int err, const std::string& call) {
  throw Error(ErrorKind::kSystem, call + ": " + std::strerror(err), err);
}

std::string describeCall(const char* call) { return call; }

std::string describeCall(const char* call, const std::string& detail) {
  return std::string(call) + " [" + detail + "]";
}

}  // namespace kata
