#include "agent/console_log.h"

#include <time.h>
#include <unistd.h>

#include <cstdio>
#include <nlohmann/json.hpp>

#include "common/time.h"

namespace kata::agent {

std::string ConsoleLog::formatLine(const std::string& level, const std::string& msg,
                                   const std::map<std::string, std::string>& fields) {
  nlohmann::json line = nlohmann::json::object();
  for (const auto& [k, v] : fields) line[k] = v;
  struct timespec boot {};
  (void)::clock_gettime(CLOCK_BOOTTIME, &boot);  // cannot fail for a valid clock id
  char uptime[32];
  std::snprintf(uptime, sizeof uptime, "%lld.%06ld", static_cast<long long>(boot.tv_sec),
                boot.tv_nsec / 1000);
  line["component"] = "agent";
  line["level"] = level;
  line["msg"] = msg;
  line["time"] = rfc3339Nano(nowUtc());
  line["uptime"] = uptime;
  // Replace invalid UTF-8 (e.g. from a hostile module name) instead of throwing.
  return line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

void ConsoleLog::write(const std::string& level, const std::string& msg,
                       const std::map<std::string, std::string>& fields) const noexcept {
  if (fd_ < 0) return;
  try {
    std::string text = formatLine(level, msg, fields);
    size_t off = 0;
    while (off < text.size()) {
      ssize_t n = ::write(fd_, text.data() + off, text.size() - off);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return;  // console gone: nothing better to do with a log line
      off += static_cast<size_t>(n);
    }
  } catch (...) {
    // Allocation failure while formatting: drop the line.
  }
}

}  // namespace kata::agent
