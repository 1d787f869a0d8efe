// Agent.metrics' parsers and exposition text, on fixed input (exact output) and on the real /proc.
#include "agent/metrics.h"

#include <gtest/gtest.h>

#include <regex>
#include <set>
#include <sstream>

#include "common/error.h"

namespace kata::agent {
namespace {

TEST(MetricsTest, ParsesProcTexts) {
  GuestProcFigures g;
  parseMeminfoInto("MemTotal:         245760 kB\nMemAvailable:     190000 kB\nActive(anon):  1 kB\nBad line\n", g);
  EXPECT_EQ(g.meminfoBytes["MemTotal"], 245760ull * 1024);
  EXPECT_EQ(g.meminfoBytes["MemAvailable"], 190000ull * 1024);
  EXPECT_EQ(g.meminfoBytes["Active(anon)"], 1024u);
  parseLoadavgInto("0.25 1.50 2.00 3/97 1234\n", g);
  EXPECT_DOUBLE_EQ(g.load1, 0.25);
  EXPECT_DOUBLE_EQ(g.load15, 2.0);
  EXPECT_EQ(g.runnable, 3u);
  EXPECT_EQ(g.threads, 97u);
  parseProcStatInto("cpu  10 1 20 300 4 0 2 0 0 0\ncpu0 10 1 20 300 4 0 2 0 0 0\nctxt 555\nbtime 1\n"
                    "processes 77\nprocs_running 2\nprocs_blocked 1\n",
                    g);
  EXPECT_EQ(g.cpuTicks["user"], 10u);
  EXPECT_EQ(g.cpuTicks["idle"], 300u);
  EXPECT_EQ(g.cpuTicks["softirq"], 2u);
  EXPECT_EQ(g.contextSwitches, 555u);
  EXPECT_EQ(g.forks, 77u);
  EXPECT_EQ(g.procsRunning, 2u);
  EXPECT_EQ(g.procsBlocked, 1u);
  GuestProcFigures empty;
  parseLoadavgInto("garbage", empty);
  parseProcStatInto("cpu x y\nctxt -1\n", empty);
  EXPECT_EQ(empty.load1, 0);
  EXPECT_TRUE(empty.cpuTicks.empty());
}

TEST(MetricsTest, RendersExpositionTextWithEscapedLabels) {
  MetricsInput in;
  in.guest.meminfoBytes["MemTotal"] = 268435456;
  in.guest.meminfoBytes["MemAvailable"] = 200000000;
  in.guest.cpuTicks["user"] = 250;
  in.guest.uptimeSeconds = 12.5;
  in.ticksPerSecond = 100;
  in.onlineCpus = 2;
  in.agent.rssBytes = 1 << 21;
  in.agentVersion = "1.0 \"x\"\\";
  in.protocolVersion = 3;
  in.containers.push_back({"c1", "running", 2, 1500000, 4096, 0});
  in.containers.push_back({"c2", "stopped", 0, std::nullopt, std::nullopt, std::nullopt});
  std::string text = renderMetrics(in);
  EXPECT_NE(text.find("# TYPE kata_guest_memory_total_bytes gauge\nkata_guest_memory_total_bytes 268435456\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("kata_guest_cpu_seconds_total{mode=\"user\"} 2.5\n"), std::string::npos) << text;
  EXPECT_NE(text.find("kata_guest_uptime_seconds 12.5\n"), std::string::npos);
  EXPECT_NE(text.find("kata_guest_cpus_online 2\n"), std::string::npos);
  EXPECT_NE(text.find("kata_agent_resident_memory_bytes 2097152\n"), std::string::npos);
  EXPECT_NE(text.find("version=\"1.0 \\\"x\\\"\\\\\""), std::string::npos) << text;
  EXPECT_NE(text.find("kata_agent_containers{status=\"running\"} 1\n"), std::string::npos);
  EXPECT_NE(text.find("kata_agent_containers{status=\"stopped\"} 1\n"), std::string::npos);
  EXPECT_NE(text.find("kata_agent_processes 2\n"), std::string::npos);
  EXPECT_NE(text.find("kata_container_cpu_seconds_total{container=\"c1\"} 1.5\n"), std::string::npos);
  EXPECT_EQ(text.find("kata_container_cpu_seconds_total{container=\"c2\"}"), std::string::npos);
  // Every line is a comment or `name{labels} value`; every family is declared once, before its samples.
  std::regex sample(R"(^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([a-zA-Z_][a-zA-Z0-9_]*="([^"\\]|\\.)*",?)*\})? -?[0-9.e+]+$)");
  std::regex type(R"(^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (gauge|counter)$)");
  std::set<std::string> declared;
  std::istringstream lines(text);
  std::string line;
  while (std::getline(lines, line)) {
    std::smatch m;
    if (line.rfind("# HELP ", 0) == 0) continue;
    if (std::regex_match(line, m, type)) {
      EXPECT_TRUE(declared.insert(m[1]).second) << "declared twice: " << line;
      continue;
    }
    ASSERT_TRUE(std::regex_match(line, m, sample)) << line;
    EXPECT_TRUE(declared.count(m[1])) << "sample before its TYPE: " << line;
  }
}

TEST(MetricsTest, ReadsTheRealProc) {
  GuestProcFigures g = readGuestProcFigures("/proc");
  EXPECT_GT(g.meminfoBytes["MemTotal"], 0u);
  EXPECT_GT(g.uptimeSeconds, 0);
  EXPECT_GT(g.contextSwitches, 0u);
  AgentSelfFigures a = readAgentSelfFigures("/proc");
  EXPECT_GT(a.rssBytes, 0u);
  EXPECT_GE(a.threads, 1u);
  EXPECT_GE(a.openFds, 3u);  // stdin, stdout, stderr at least
  EXPECT_THROW(readGuestProcFigures("/nonexistent-proc"), Error);
}

}  // namespace
}  // namespace kata::agent
