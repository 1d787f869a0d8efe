// Agent.metrics: guest and agent figures in the Prometheus text exposition format (version 0.0.4:
// "# HELP", "# TYPE", then `name{label="value"} number` lines). The readers take the proc root so
// the unit tests feed a fake tree; the renderer takes plain values so its output is exact.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace kata::agent {

// Builds exposition text; each family's HELP and TYPE come once, before its samples.
class PrometheusText {
 public:
  // type: "gauge" or "counter". Names must match [a-zA-Z_:][a-zA-Z0-9_:]* (checked: a bug otherwise).
  void family(const std::string& name, const std::string& type, const std::string& help);
  // A sample of the last family (name + suffix-less). Label values are escaped (\\, \", \n).
  void sample(const std::vector<std::pair<std::string, std::string>>& labels, double value);
  void sample(double value) { sample({}, value); }
  const std::string& text() const { return text_; }

 private:
  std::string current_;
  std::string text_;
};

struct GuestProcFigures {
  std::map<std::string, uint64_t> meminfoBytes;  // MemTotal, MemFree, MemAvailable, Buffers, Cached, ... (kB * 1024)
  double load1 = 0, load5 = 0, load15 = 0;
  uint64_t runnable = 0, threads = 0;             // /proc/loadavg "1/123"
  std::map<std::string, uint64_t> cpuTicks;       // the "cpu" line of /proc/stat by mode
  uint64_t contextSwitches = 0, forks = 0, procsRunning = 0, procsBlocked = 0;
  double uptimeSeconds = 0;                       // /proc/uptime
};

struct AgentSelfFigures {
  uint64_t rssBytes = 0, virtualBytes = 0;
  uint64_t threads = 0;
  uint64_t cpuTicks = 0;  // utime + stime of the agent itself
  uint64_t openFds = 0;
};

// Parsers of the procfs texts (malformed lines are skipped; missing values stay 0).
void parseMeminfoInto(const std::string& text, GuestProcFigures& out);
void parseLoadavgInto(const std::string& text, GuestProcFigures& out);
void parseProcStatInto(const std::string& text, GuestProcFigures& out);

// Readers under procRoot (normally "/proc"); a missing file is an error (the kernel always has them).
GuestProcFigures readGuestProcFigures(const std::string& procRoot);
AgentSelfFigures readAgentSelfFigures(const std::string& procRoot);

struct ContainerFigures {
  std::string id;
  std::string status;  // created / running / paused / stopped
  uint64_t processes = 0;
  std::optional<uint64_t> cpuUsageUsec, memoryUsageBytes, oomKills;  // from its cgroup, when it has one
};

struct MetricsInput {
  GuestProcFigures guest;
  AgentSelfFigures agent;
  uint64_t ticksPerSecond = 100;
  uint32_t onlineCpus = 0;
  std::string agentVersion, agentCommit, kernelRelease;
  uint32_t protocolVersion = 0;
  uint64_t agentStartNs = 0, agentReadyNs = 0;  // CLOCK_BOOTTIME
  uint64_t modulesLoaded = 0;
  bool modulesLoading = false;
  std::vector<ContainerFigures> containers;
};

std::string renderMetrics(const MetricsInput& in);

}  // namespace kata::agent
