// What `ps -ef` shows of a process, read from procfs under a root directory ("/proc" in the guest, a
// fake tree in the unit tests). The parsers take text, so they are tested (and fuzzable) without a
// guest; the reader takes the proc root and the clocks, so a test controls every input.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace kata::agent {

// Bounds: a hostile container controls its processes' argv; the reply to the host stays bounded.
inline constexpr size_t kMaxCmdlineBytes = 32 * 1024;  // per process; longer argv is cut (as ps -ww is not)
inline constexpr size_t kMaxCmdlineArgs = 1024;
inline constexpr size_t kMaxProcessListEntries = 4096;
inline constexpr size_t kMaxProcessListCmdlineBytes = 4 << 20;  // all argv of one list together

// The fields of /proc/<pid>/stat that ps -ef uses.
struct ProcStat {
  pid_t pid = 0;
  std::string comm;   // between the parentheses (may hold spaces and ')')
  char state = '?';
  pid_t ppid = 0;
  uint64_t ttyNr = 0;      // the kernel's new_encode_dev of the controlling terminal, 0 for none
  uint64_t utimeTicks = 0;
  uint64_t stimeTicks = 0;
  uint64_t startTicks = 0;  // since boot (CLOCK_BOOTTIME), in clock ticks
};

// Parses /proc/<pid>/stat. nullopt when malformed (the fields after the last ')' are read).
std::optional<ProcStat> parseProcStat(const std::string& text);

// The real uid of a /proc/<pid>/status ("Uid:\treal\teffective\tsaved\tfs"); nullopt if absent.
std::optional<uint32_t> parseStatusUid(const std::string& text);

// /proc/<pid>/cmdline: NUL-separated argv; at most kMaxCmdlineArgs entries.
std::vector<std::string> parseCmdline(const std::string& text);

// A controlling terminal's name as ps prints it: "?" for none, "pts/N" for a Unix98 pty slave
// (majors 136-143), otherwise the /proc/tty/drivers entry that covers the device ("ttyS0",
// "console", "tty1"), else "major:minor" (never empty). `drivers` is /proc/tty/drivers' text.
std::string ttyName(uint64_t ttyNr, const std::string& drivers);

struct ProcessEntry {
  pid_t pid = 0;
  pid_t ppid = 0;
  uint32_t uid = 0;
  int64_t startWallNs = 0;
  uint64_t cpuTimeNs = 0;
  std::string tty;
  std::vector<std::string> cmdline;
  std::string comm;
  std::string state;  // one letter
};

// The clocks the start time is converted with: wall = realtime - boottime + start.
struct ClockSnapshot {
  int64_t realtimeNs = 0;
  uint64_t boottimeNs = 0;
  uint64_t ticksPerSecond = 100;  // sysconf(_SC_CLK_TCK)
  static ClockSnapshot now();
};

class ProcTable {
 public:
  explicit ProcTable(std::string procRoot) : root_(std::move(procRoot)) {}

  // One process; nullopt when it is gone (exited, reaped) by the time it is read. Throws only for
  // a malformed stat of a process that exists (a kernel we do not understand).
  std::optional<ProcessEntry> read(pid_t pid, const ClockSnapshot& clock) const;
  // Each of pids that still exists, in the given order (at most kMaxProcessListEntries; once the
  // argv of the list add up to kMaxProcessListCmdlineBytes, later entries carry fewer arguments).
  std::vector<ProcessEntry> list(const std::vector<pid_t>& pids, const ClockSnapshot& clock) const;

 private:
  std::string root_;
};

}  // namespace kata::agent
