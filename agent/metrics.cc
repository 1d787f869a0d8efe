#include "agent/metrics.h"

#include <dirent.h>

#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <sstream>

#include "agent/guest_stats.h"
#include "agent/proc_table.h"
#include "common/error.h"
#include "common/fs.h"

namespace kata::agent {
namespace {

constexpr size_t kMaxProcFile = 256 * 1024;

bool validMetricName(const std::string& n) {
  if (n.empty()) return false;
  for (size_t i = 0; i < n.size(); ++i) {
    char c = n[i];
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':' || (i > 0 && c >= '0' && c <= '9');
    if (!ok) return false;
  }
  return true;
}

std::string escapeLabel(const std::string& v) {
  std::string out;
  for (char c : v) {
    if (c == '\\') out += "\\\\";
    else if (c == '"') out += "\\\"";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}

std::string escapeHelp(const std::string& v) {
  std::string out;
  for (char c : v) {
    if (c == '\\') out += "\\\\";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}

// Integers exactly (a uint64 byte count must not become 1.8e+19); everything else with enough digits.
std::string formatValue(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  char buf[64];
  if (v == std::floor(v) && std::fabs(v) < 9.007199254740992e15) {
    std::snprintf(buf, sizeof buf, "%.0f", v);
  } else {
    std::snprintf(buf, sizeof buf, "%.17g", v);
  }
  return buf;
}

std::vector<std::string> words(const std::string& line) {
  std::istringstream in(line);
  std::vector<std::string> w;
  std::string s;
  while (in >> s) w.push_back(s);
  return w;
}

template <typename T>
bool number(const std::string& s, T& out) {
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && end == s.data() + s.size() && !s.empty();
}

double parseDouble(const std::string& s) {
  // strtod: from_chars for double is in libstdc++ 11+, but keep it locale-proof and simple.
  char* end = nullptr;
  double d = std::strtod(s.c_str(), &end);
  return end == s.c_str() ? 0 : d;
}

}  // namespace

void PrometheusText::family(const std::string& name, const std::string& type, const std::string& help) {
  if (!validMetricName(name)) fail(ErrorKind::kInternal, "metric name \"" + name + "\" is invalid");
  current_ = name;
  text_ += "# HELP " + name + " " + escapeHelp(help) + "\n# TYPE " + name + " " + type + "\n";
}

void PrometheusText::sample(const std::vector<std::pair<std::string, std::string>>& labels, double value) {
  text_ += current_;
  if (!labels.empty()) {
    text_ += "{";
    for (size_t i = 0; i < labels.size(); ++i) {
      if (!validMetricName(labels[i].first) || labels[i].first.find(':') != std::string::npos)
        fail(ErrorKind::kInternal, "label name \"" + labels[i].first + "\" is invalid");
      text_ += (i ? "," : "") + labels[i].first + "=\"" + escapeLabel(labels[i].second) + "\"";
    }
    text_ += "}";
  }
  text_ += " " + formatValue(value) + "\n";
}

void parseMeminfoInto(const std::string& text, GuestProcFigures& out) {
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    size_t colon = line.find(':');
    if (colon == std::string::npos) continue;
    auto v = parseStatusKb(line, line.substr(0, colon));
    if (v) out.meminfoBytes[line.substr(0, colon)] = *v;
  }
}

void parseLoadavgInto(const std::string& text, GuestProcFigures& out) {
  // "0.00 0.01 0.05 1/123 4567"
  auto w = words(text);
  if (w.size() < 4) return;
  out.load1 = parseDouble(w[0]);
  out.load5 = parseDouble(w[1]);
  out.load15 = parseDouble(w[2]);
  size_t slash = w[3].find('/');
  if (slash != std::string::npos) {
    (void)number(w[3].substr(0, slash), out.runnable);
    (void)number(w[3].substr(slash + 1), out.threads);
  }
}

void parseProcStatInto(const std::string& text, GuestProcFigures& out) {
  static const char* const kModes[] = {"user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal"};
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    auto w = words(line);
    if (w.empty()) continue;
    if (w[0] == "cpu") {
      for (size_t i = 0; i < std::size(kModes) && i + 1 < w.size(); ++i) {
        uint64_t v = 0;
        if (number(w[i + 1], v)) out.cpuTicks[kModes[i]] = v;
      }
    } else if (w.size() >= 2) {
      uint64_t v = 0;
      if (!number(w[1], v)) continue;
      if (w[0] == "ctxt") out.contextSwitches = v;
      else if (w[0] == "processes") out.forks = v;
      else if (w[0] == "procs_running") out.procsRunning = v;
      else if (w[0] == "procs_blocked") out.procsBlocked = v;
    }
  }
}

GuestProcFigures readGuestProcFigures(const std::string& procRoot) {
  GuestProcFigures g;
  parseMeminfoInto(readFile(procRoot + "/meminfo", kMaxProcFile), g);
  parseLoadavgInto(readFile(procRoot + "/loadavg", kMaxProcFile), g);
  parseProcStatInto(readFile(procRoot + "/stat", kMaxProcFile), g);
  auto up = words(readFile(procRoot + "/uptime", kMaxProcFile));
  if (!up.empty()) g.uptimeSeconds = parseDouble(up[0]);
  return g;
}

AgentSelfFigures readAgentSelfFigures(const std::string& procRoot) {
  AgentSelfFigures a;
  std::string status = readFile(procRoot + "/self/status", kMaxProcFile);
  a.rssBytes = parseStatusKb(status, "VmRSS").value_or(0);
  a.virtualBytes = parseStatusKb(status, "VmSize").value_or(0);
  if (auto st = parseProcStat(readFile(procRoot + "/self/stat", kMaxProcFile)))
    a.cpuTicks = st->utimeTicks + st->stimeTicks;
  std::istringstream in(status);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("Threads:", 0) != 0) continue;
    auto w = words(line.substr(8));
    if (!w.empty()) (void)number(w[0], a.threads);
  }
  std::string fdDir = procRoot + "/self/fd";
  if (DIR* d = ::opendir(fdDir.c_str())) {
    while (struct dirent* e = ::readdir(d))
      if (e->d_name[0] != '.') ++a.openFds;
    ::closedir(d);
    if (a.openFds > 0) --a.openFds;  // the directory stream's own descriptor
  }
  return a;
}

std::string renderMetrics(const MetricsInput& in) {
  PrometheusText p;
  const auto& mem = in.guest.meminfoBytes;
  auto memOr0 = [&](const char* k) {
    auto it = mem.find(k);
    return it == mem.end() ? 0.0 : static_cast<double>(it->second);
  };
  double tps = in.ticksPerSecond ? static_cast<double>(in.ticksPerSecond) : 100.0;

  p.family("kata_guest_uptime_seconds", "gauge", "Time since the guest kernel booted (/proc/uptime).");
  p.sample(in.guest.uptimeSeconds);
  p.family("kata_guest_cpus_online", "gauge", "Online vCPUs of the guest.");
  p.sample(in.onlineCpus);
  p.family("kata_guest_cpu_seconds_total", "counter", "Time the guest's CPUs spent in each mode (/proc/stat).");
  for (const auto& [mode, ticks] : in.guest.cpuTicks) p.sample({{"mode", mode}}, static_cast<double>(ticks) / tps);
  p.family("kata_guest_load_average", "gauge", "Run-queue load average of the guest (/proc/loadavg).");
  p.sample({{"period", "1m"}}, in.guest.load1);
  p.sample({{"period", "5m"}}, in.guest.load5);
  p.sample({{"period", "15m"}}, in.guest.load15);
  static const std::pair<const char*, const char*> kMem[] = {
      {"MemTotal", "kata_guest_memory_total_bytes"},       {"MemAvailable", "kata_guest_memory_available_bytes"},
      {"MemFree", "kata_guest_memory_free_bytes"},         {"Buffers", "kata_guest_memory_buffers_bytes"},
      {"Cached", "kata_guest_memory_cached_bytes"},        {"Shmem", "kata_guest_memory_shmem_bytes"},
      {"SwapTotal", "kata_guest_swap_total_bytes"},        {"SwapFree", "kata_guest_swap_free_bytes"}};
  for (const auto& [key, name] : kMem) {
    p.family(name, "gauge", std::string("Guest /proc/meminfo ") + key + ".");
    p.sample(memOr0(key));
  }
  p.family("kata_guest_context_switches_total", "counter", "Context switches in the guest since boot.");
  p.sample(static_cast<double>(in.guest.contextSwitches));
  p.family("kata_guest_forks_total", "counter", "Processes and threads created in the guest since boot.");
  p.sample(static_cast<double>(in.guest.forks));
  p.family("kata_guest_procs_running", "gauge", "Runnable threads in the guest.");
  p.sample(static_cast<double>(in.guest.procsRunning));
  p.family("kata_guest_procs_blocked", "gauge", "Threads blocked on I/O in the guest.");
  p.sample(static_cast<double>(in.guest.procsBlocked));
  p.family("kata_guest_threads", "gauge", "Threads (kernel and user) that exist in the guest.");
  p.sample(static_cast<double>(in.guest.threads));

  p.family("kata_agent_info", "gauge", "The running agent: version, commit, guest kernel, protocol (value 1).");
  p.sample({{"version", in.agentVersion},
            {"commit", in.agentCommit},
            {"kernel", in.kernelRelease},
            {"protocol", std::to_string(in.protocolVersion)}},
           1);
  p.family("kata_agent_resident_memory_bytes", "gauge", "Resident set size of the agent (VmRSS).");
  p.sample(static_cast<double>(in.agent.rssBytes));
  p.family("kata_agent_virtual_memory_bytes", "gauge", "Virtual memory size of the agent (VmSize).");
  p.sample(static_cast<double>(in.agent.virtualBytes));
  p.family("kata_agent_cpu_seconds_total", "counter", "User and system CPU time of the agent.");
  p.sample(static_cast<double>(in.agent.cpuTicks) / tps);
  p.family("kata_agent_threads", "gauge", "Threads of the agent.");
  p.sample(static_cast<double>(in.agent.threads));
  p.family("kata_agent_open_fds", "gauge", "Open file descriptors of the agent.");
  p.sample(static_cast<double>(in.agent.openFds));
  p.family("kata_agent_start_seconds", "gauge", "Guest uptime (CLOCK_BOOTTIME) when the agent's main() began.");
  p.sample(static_cast<double>(in.agentStartNs) / 1e9);
  p.family("kata_agent_ready_seconds", "gauge", "Guest uptime (CLOCK_BOOTTIME) when the agent first served its channel.");
  p.sample(static_cast<double>(in.agentReadyNs) / 1e9);
  p.family("kata_agent_modules_loaded", "gauge", "Kernel modules the agent has loaded.");
  p.sample(static_cast<double>(in.modulesLoaded));
  p.family("kata_agent_modules_loading", "gauge", "1 while the agent still loads the late kernel modules.");
  p.sample(in.modulesLoading ? 1 : 0);

  std::map<std::string, uint64_t> byStatus = {{"created", 0}, {"running", 0}, {"paused", 0}, {"stopped", 0}};
  uint64_t processes = 0;
  for (const auto& c : in.containers) {
    ++byStatus[c.status];
    processes += c.processes;
  }
  p.family("kata_agent_containers", "gauge", "Containers the agent manages, by state.");
  for (const auto& [status, n] : byStatus) p.sample({{"status", status}}, static_cast<double>(n));
  p.family("kata_agent_processes", "gauge", "Processes in all containers.");
  p.sample(static_cast<double>(processes));
  p.family("kata_container_processes", "gauge", "Processes in the container.");
  for (const auto& c : in.containers) p.sample({{"container", c.id}}, static_cast<double>(c.processes));
  p.family("kata_container_cpu_seconds_total", "counter", "CPU time of the container's cgroup.");
  for (const auto& c : in.containers)
    if (c.cpuUsageUsec) p.sample({{"container", c.id}}, static_cast<double>(*c.cpuUsageUsec) / 1e6);
  p.family("kata_container_memory_usage_bytes", "gauge", "Memory use of the container's cgroup (memory.current).");
  for (const auto& c : in.containers)
    if (c.memoryUsageBytes) p.sample({{"container", c.id}}, static_cast<double>(*c.memoryUsageBytes));
  p.family("kata_container_oom_kills_total", "counter", "OOM kills in the container's cgroup.");
  for (const auto& c : in.containers)
    if (c.oomKills) p.sample({{"container", c.id}}, static_cast<double>(*c.oomKills));
  return p.text();
}

}  // namespace kata::agent
