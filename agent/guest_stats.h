// What the agent reports about the guest, read from procfs. Parsers take text so they can be tested
// and fuzzed without a guest; the readers take the proc root so tests can point them at a fake tree.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace kata::agent {

struct MemInfo {
  uint64_t totalBytes = 0;
  uint64_t availableBytes = 0;
};

// Parses /proc/meminfo ("MemTotal:  123 kB"). Missing fields stay 0; malformed lines are skipped.
MemInfo parseMemInfo(const std::string& text);
// The value of a "<key>: <n> kB" line of /proc/<pid>/status, in bytes; nullopt if absent/malformed.
std::optional<uint64_t> parseStatusKb(const std::string& text, const std::string& key);

struct GuestStats {
  uint64_t uptimeNs = 0;
  int64_t wallClockNs = 0;
  MemInfo mem;
  uint64_t agentRssBytes = 0;
  uint32_t onlineCpus = 0;
};

// Reads meminfo and self/status under procRoot (normally "/proc") and the clocks.
GuestStats readGuestStats(const std::string& procRoot);

// CLOCK_BOOTTIME in nanoseconds.
uint64_t bootTimeNs();

}  // namespace kata::agent
