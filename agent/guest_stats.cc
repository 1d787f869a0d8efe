#include "agent/guest_stats.h"

#include <time.h>
#include <unistd.h>

#include <charconv>
#include <sstream>

#include "common/error.h"
#include "common/fs.h"

namespace kata::agent {
namespace {

constexpr size_t kMaxProcFile = 64 * 1024;

// "  123 kB" -> 123 * 1024. nullopt for anything else (or on overflow).
std::optional<uint64_t> parseKbValue(std::string_view v) {
  size_t i = 0;
  while (i < v.size() && (v[i] == ' ' || v[i] == '\t')) ++i;
  uint64_t n = 0;
  auto [end, ec] = std::from_chars(v.data() + i, v.data() + v.size(), n);
  if (ec != std::errc() || end == v.data() + i) return std::nullopt;
  std::string_view rest(end, static_cast<size_t>(v.data() + v.size() - end));
  if (rest != " kB") return std::nullopt;
  if (n > UINT64_MAX / 1024) return std::nullopt;
  return n * 1024;
}

uint64_t toNs(const struct timespec& t) {
  return static_cast<uint64_t>(t.tv_sec) * 1000000000ull + static_cast<uint64_t>(t.tv_nsec);
}

}  // namespace

std::optional<uint64_t> parseStatusKb(const std::string& text, const std::string& key) {
  std::string_view all(text);
  std::string prefix = key + ":";
  size_t pos = 0;
  while (pos < all.size()) {
    size_t eol = all.find('\n', pos);
    if (eol == std::string_view::npos) eol = all.size();
    std::string_view line = all.substr(pos, eol - pos);
    if (line.substr(0, prefix.size()) == prefix) return parseKbValue(line.substr(prefix.size()));
    pos = eol + 1;
  }
  return std::nullopt;
}

MemInfo parseMemInfo(const std::string& text) {
  MemInfo m;
  m.totalBytes = parseStatusKb(text, "MemTotal").value_or(0);
  m.availableBytes = parseStatusKb(text, "MemAvailable").value_or(0);
  return m;
}

uint64_t bootTimeNs() {
  struct timespec t {};
  KATA_SYSCALL(::clock_gettime(CLOCK_BOOTTIME, &t), "CLOCK_BOOTTIME");
  return toNs(t);
}

GuestStats readGuestStats(const std::string& procRoot) {
  GuestStats s;
  s.uptimeNs = bootTimeNs();
  struct timespec wall {};
  KATA_SYSCALL(::clock_gettime(CLOCK_REALTIME, &wall), "CLOCK_REALTIME");
  s.wallClockNs = static_cast<int64_t>(toNs(wall));
  s.mem = parseMemInfo(readFile(procRoot + "/meminfo", kMaxProcFile));
  s.agentRssBytes = parseStatusKb(readFile(procRoot + "/self/status", kMaxProcFile), "VmRSS").value_or(0);
  long cpus = ::sysconf(_SC_NPROCESSORS_ONLN);
  s.onlineCpus = cpus > 0 ? static_cast<uint32_t>(cpus) : 0;
  return s;
}

}  // namespace kata::agent
