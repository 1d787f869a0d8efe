#include "agent/proc_table.h"

#include <fcntl.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <sstream>

#include "common/error.h"
#include "common/fd.h"

namespace kata::agent {
namespace {

// The Unix98 pty slave majors (Documentation/admin-guide/devices.txt); the kernel now gives every
// slave major 136 with a 20-bit minor, older kernels spread them over 136-143.
constexpr unsigned kPtySlaveMajorFirst = 136, kPtySlaveMajorLast = 143;

constexpr size_t kMaxStatBytes = 4096;
constexpr size_t kMaxStatusBytes = 16 * 1024;
constexpr size_t kMaxDriversBytes = 64 * 1024;

// Reads at most maxBytes of a file. nullopt when the file (the process) is gone: ENOENT before the
// open, ESRCH from a read of an exited process's file.
std::optional<std::string> readUpTo(const std::string& path, size_t maxBytes) {
  int raw = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (raw < 0) {
    if (errno == ENOENT || errno == ESRCH) return std::nullopt;
    throwSysError(errno, "open " + path);
  }
  UniqueFd fd(raw);
  std::string out;
  char buf[4096];
  while (out.size() < maxBytes) {
    ssize_t n = ::read(fd.get(), buf, std::min(sizeof buf, maxBytes - out.size()));
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == ESRCH) return std::nullopt;
      throwSysError(errno, "read " + path);
    }
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  return out;
}

template <typename T>
bool parseNumber(std::string_view s, T& out) {
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && end == s.data() + s.size() && !s.empty();
}

// The kernel's new_decode_dev (include/linux/kdev_t.h), as /proc/<pid>/stat encodes tty_nr.
unsigned devMajor(uint64_t dev) { return static_cast<unsigned>((dev & 0xfff00) >> 8); }
unsigned devMinor(uint64_t dev) { return static_cast<unsigned>((dev & 0xff) | ((dev >> 12) & 0xfff00)); }

uint64_t ticksToNs(uint64_t ticks, uint64_t perSecond) {
  if (perSecond == 0) return 0;
  // Split to avoid overflow for large tick counts: whole seconds, then the remainder.
  return (ticks / perSecond) * 1000000000ull + (ticks % perSecond) * 1000000000ull / perSecond;
}

}  // namespace

std::optional<ProcStat> parseProcStat(const std::string& text) {
  // "pid (comm) S ppid pgrp session tty_nr tpgid flags minflt cminflt majflt cmajflt utime stime
  //  cutime cstime priority nice num_threads itrealvalue starttime ..." (proc(5)). comm may contain
  // anything, ')' included: the fields resume after the last ')'.
  size_t open = text.find(" (");
  size_t close = text.rfind(')');
  if (open == std::string::npos || close == std::string::npos || close < open) return std::nullopt;
  ProcStat st;
  if (!parseNumber(std::string_view(text).substr(0, open), st.pid) || st.pid <= 0) return std::nullopt;
  st.comm = text.substr(open + 2, close - open - 2);
  std::istringstream rest(text.substr(close + 1));
  std::vector<std::string> f;  // f[0] = state (field 3)
  std::string word;
  while (f.size() < 20 && rest >> word) f.push_back(word);
  if (f.size() < 20 || f[0].size() != 1) return std::nullopt;
  st.state = f[0][0];
  int64_t tty = 0;
  if (!parseNumber(f[1], st.ppid) || !parseNumber(f[4], tty) || !parseNumber(f[11], st.utimeTicks) ||
      !parseNumber(f[12], st.stimeTicks) || !parseNumber(f[19], st.startTicks))
    return std::nullopt;
  st.ttyNr = static_cast<uint64_t>(static_cast<uint32_t>(tty));  // an int in the kernel's output
  return st;
}

std::optional<uint32_t> parseStatusUid(const std::string& text) {
  size_t at = 0;
  if (text.rfind("Uid:", 0) != 0) {
    at = text.find("\nUid:");
    if (at == std::string::npos) return std::nullopt;
    ++at;
  }
  std::istringstream line(text.substr(at + 4, text.find('\n', at) - at - 4));
  std::string real;
  uint32_t uid = 0;
  if (!(line >> real) || !parseNumber(real, uid)) return std::nullopt;
  return uid;
}

std::vector<std::string> parseCmdline(const std::string& text) {
  std::vector<std::string> args;
  size_t pos = 0;
  while (pos < text.size() && args.size() < kMaxCmdlineArgs) {
    size_t nul = text.find('\0', pos);
    if (nul == std::string::npos) nul = text.size();
    args.push_back(text.substr(pos, nul - pos));
    pos = nul + 1;
  }
  return args;
}

std::string ttyName(uint64_t ttyNr, const std::string& drivers) {
  if (ttyNr == 0) return "?";
  unsigned major = devMajor(ttyNr), minor = devMinor(ttyNr);
  if (major >= kPtySlaveMajorFirst && major <= kPtySlaveMajorLast)
    return "pts/" + std::to_string((major - kPtySlaveMajorFirst) * 256 + minor);
  // "<driver>  <device path>  <major>  <minor or first-last>  <type>", e.g.
  // "serial  /dev/ttyS  4 64-111 serial", "/dev/console  /dev/console  5  1 system:console".
  std::istringstream in(drivers);
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream l(line);
    std::string driver, path, range;
    unsigned maj = 0;
    if (!(l >> driver >> path >> maj >> range) || maj != major || path.rfind("/dev/", 0) != 0) continue;
    std::string name = path.substr(5);
    unsigned first = 0, last = 0;
    size_t dash = range.find('-');
    if (dash == std::string::npos) {
      if (!parseNumber(range, first) || first != minor) continue;
      return name;
    }
    if (!parseNumber(std::string_view(range).substr(0, dash), first) ||
        !parseNumber(std::string_view(range).substr(dash + 1), last) || minor < first || minor > last)
      continue;
    // The kernel names line i of a driver name + (i + name_base); only the virtual consoles
    // ("/dev/tty", minors from 1) count from 1, which makes their number the minor itself.
    if (name == "tty") return "tty" + std::to_string(minor);
    return name + std::to_string(minor - first);
  }
  return std::to_string(major) + ":" + std::to_string(minor);
}

ClockSnapshot ClockSnapshot::now() {
  ClockSnapshot c;
  struct timespec rt {}, bt {};
  KATA_SYSCALL(::clock_gettime(CLOCK_REALTIME, &rt), "CLOCK_REALTIME");
  KATA_SYSCALL(::clock_gettime(CLOCK_BOOTTIME, &bt), "CLOCK_BOOTTIME");
  c.realtimeNs = static_cast<int64_t>(rt.tv_sec) * 1000000000 + rt.tv_nsec;
  c.boottimeNs = static_cast<uint64_t>(bt.tv_sec) * 1000000000ull + static_cast<uint64_t>(bt.tv_nsec);
  long tck = ::sysconf(_SC_CLK_TCK);
  c.ticksPerSecond = tck > 0 ? static_cast<uint64_t>(tck) : 100;
  return c;
}

std::optional<ProcessEntry> ProcTable::read(pid_t pid, const ClockSnapshot& clock) const {
  std::string dir = root_ + "/" + std::to_string(pid);
  auto statText = readUpTo(dir + "/stat", kMaxStatBytes);
  if (!statText) return std::nullopt;
  auto st = parseProcStat(*statText);
  if (!st) fail(ErrorKind::kInternal, dir + "/stat is malformed: \"" + statText->substr(0, 200) + "\"");
  auto status = readUpTo(dir + "/status", kMaxStatusBytes);
  auto cmdline = readUpTo(dir + "/cmdline", kMaxCmdlineBytes);
  auto comm = readUpTo(dir + "/comm", 64);
  if (!status || !cmdline || !comm) return std::nullopt;  // exited between the reads
  ProcessEntry e;
  e.pid = st->pid;
  e.ppid = st->ppid;
  e.uid = parseStatusUid(*status).value_or(UINT32_MAX);
  int64_t bootWallNs = clock.realtimeNs - static_cast<int64_t>(clock.boottimeNs);
  e.startWallNs = bootWallNs + static_cast<int64_t>(ticksToNs(st->startTicks, clock.ticksPerSecond));
  e.cpuTimeNs = ticksToNs(st->utimeTicks + st->stimeTicks, clock.ticksPerSecond);
  e.tty = "?";
  if (st->ttyNr != 0) e.tty = ttyName(st->ttyNr, readUpTo(root_ + "/tty/drivers", kMaxDriversBytes).value_or(""));
  e.cmdline = parseCmdline(*cmdline);
  e.comm = *comm;
  if (!e.comm.empty() && e.comm.back() == '\n') e.comm.pop_back();
  if (e.comm.empty()) e.comm = st->comm;
  e.state = std::string(1, st->state);
  return e;
}

std::vector<ProcessEntry> ProcTable::list(const std::vector<pid_t>& pids, const ClockSnapshot& clock) const {
  std::vector<ProcessEntry> out;
  size_t cmdlineBytes = 0;
  for (pid_t pid : pids) {
    if (out.size() >= kMaxProcessListEntries) break;
    auto e = read(pid, clock);
    if (!e) continue;
    size_t kept = 0;
    while (kept < e->cmdline.size() && cmdlineBytes + e->cmdline[kept].size() <= kMaxProcessListCmdlineBytes)
      cmdlineBytes += e->cmdline[kept++].size();
    e->cmdline.resize(kept);
    out.push_back(std::move(*e));
  }
  return out;
}

}  // namespace kata::agent
