// `kata-ctl ps`: the container's processes, read by the guest agent from the guest's /proc. The
// table is `ps -ef`'s (runc runs the host's ps; the processes here are in the VM, so kata-ctl
// formats what the agent reports, and takes no other ps options); user names come from the
// container's own /etc/passwd. --format json prints the pids, as the guest numbers them.
#include <algorithm>
#include <cstdio>
#include <ctime>
#include <map>
#include <sstream>

#include <nlohmann/json.hpp>

#include "common/error.h"
#include "common/fs.h"
#include "kata-ctl/command.h"
#include "kata-ctl/containers.h"
#include "kata-ctl/context.h"
#include "kata-ctl/go_flags.h"
#include "kata-ctl/sandboxes.h"

namespace kata::ctl {
namespace {

// uid -> name from the container's /etc/passwd (on the host: the rootfs is a host directory).
std::map<uint32_t, std::string> userNames(const std::string& rootfs) {
  std::map<uint32_t, std::string> names;
  std::string text;
  try {
    UniqueFd root = openDir(rootfs);
    text = readFileIfExists(root.get(), "etc/passwd", 1 << 20).value_or("");
  } catch (const Error&) {
    return names;
  }
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    std::vector<std::string> f;
    std::istringstream fields(line);
    std::string part;
    while (std::getline(fields, part, ':')) f.push_back(part);
    if (f.size() < 3 || f[2].empty() || f[2].find_first_not_of("0123456789") != std::string::npos || f[2].size() > 9) continue;
    names.emplace(static_cast<uint32_t>(std::stoul(f[2])), f[0]);
  }
  return names;
}

std::string clockTime(uint64_t ns) {
  uint64_t s = ns / 1000000000ULL;
  char buf[32];
  if (s >= 86400) std::snprintf(buf, sizeof buf, "%llu-%02llu:%02llu:%02llu", static_cast<unsigned long long>(s / 86400),
                                static_cast<unsigned long long>(s / 3600 % 24), static_cast<unsigned long long>(s / 60 % 60),
                                static_cast<unsigned long long>(s % 60));
  else std::snprintf(buf, sizeof buf, "%02llu:%02llu:%02llu", static_cast<unsigned long long>(s / 3600),
                     static_cast<unsigned long long>(s / 60 % 60), static_cast<unsigned long long>(s % 60));
  return buf;
}

// ps's STIME: the time of day for a process started today, else the month and day.
std::string startTime(int64_t wallNs) {
  time_t start = static_cast<time_t>(wallNs / 1000000000LL), now = ::time(nullptr);
  struct tm st {}, nt {};
  ::localtime_r(&start, &st);
  ::localtime_r(&now, &nt);
  char buf[16];
  if (st.tm_year == nt.tm_year && st.tm_yday == nt.tm_yday) std::strftime(buf, sizeof buf, "%H:%M", &st);
  else std::strftime(buf, sizeof buf, "%b%d", &st);
  return buf;
}

std::string formatTable(const std::vector<sandbox::ProcessInfo>& procs, const std::map<uint32_t, std::string>& names) {
  std::string out = "UID          PID    PPID  C STIME TTY          TIME CMD\n";
  const int64_t nowNs = static_cast<int64_t>(::time(nullptr)) * 1000000000LL;
  for (const auto& p : procs) {
    auto it = names.find(p.uid);
    std::string user = it != names.end() ? it->second : std::to_string(p.uid);
    int64_t elapsed = nowNs - p.startWallNs;
    long c = elapsed > 0 ? static_cast<long>(static_cast<double>(p.cpuTimeNs) * 100.0 / static_cast<double>(elapsed)) : 0;
    std::string cmd;
    for (const auto& a : p.cmdline) cmd += (cmd.empty() ? "" : " ") + a;
    if (cmd.empty()) cmd = "[" + p.comm + "]";
    char line[512];
    std::snprintf(line, sizeof line, "%-8s %7d %7d %2ld %5s %-8s %8s ", user.c_str(), p.pid, p.ppid, std::min(c, 99L),
                  startTime(p.startWallNs).c_str(), p.tty.empty() ? "?" : p.tty.c_str(), clockTime(p.cpuTimeNs).c_str());
    out += line + cmd + "\n";
  }
  return out;
}

class PsCommand : public Command {
 public:
  PsCommand()
      : Command(CommandInfo("ps", "ps displays the processes running inside a container",
                            "<container-id> [ps options]", "")
                    .minArgsCount(1)) {}

  void defineFlags(CLI::App& app) override {
    addStringFlag(app, "-f,--format", format_, "select one of: table or json (default: \"table\")");
  }

  int run(Context& ctx, const std::vector<std::string>& args) override {
    auto s = getContainer(ctx, args[0]);
    if (format_ != "table" && format_ != "json") fail(ErrorKind::kInvalidArgument, "invalid format option");
    std::vector<std::string> psArgs(args.begin() + 1, args.end());
    if (!psArgs.empty() && psArgs != std::vector<std::string>{"-ef"} && psArgs != std::vector<std::string>{"-e", "-f"})
      fail(ErrorKind::kNotSupported, "ps options other than -ef are not supported: the container's processes run "
                                     "inside its VM, where kata-ctl lists them itself");
    if (s.status == state::ContainerStatus::kStopped) fail(ErrorKind::kFailedPrecondition, "container not running");
    auto sb = openSandbox(ctx, s);
    if (format_ == "json") {
      ctx.out() << nlohmann::json(sb->pidsContainer(s.id)).dump() << "\n";
      return 0;
    }
    ctx.out() << formatTable(sb->processListContainer(s.id), userNames(s.rootfs));
    return 0;
  }

 private:
  std::string format_ = "table";
};

}  // namespace

std::unique_ptr<Command> makePsCommand() { return std::make_unique<PsCommand>(); }

}  // namespace kata::ctl
