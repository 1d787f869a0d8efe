// `kata-ctl events`: the container's statistics and OOM kills, from the guest's cgroup, in runc's
// event format: one JSON object per line ({"type":"stats"|"oom","id":...,"data":...}). --stats
// prints once; otherwise stats every --interval and each OOM kill as it happens, until the
// container stops.
#include <iostream>
#include <optional>

#include "common/error.h"
#include "kata-ctl/command.h"
#include "kata-ctl/containers.h"
#include "kata-ctl/context.h"
#include "kata-ctl/go_flags.h"
#include "kata-ctl/go_units.h"
#include "kata-ctl/sandboxes.h"

namespace kata::ctl {
namespace {

class EventsCommand : public Command {
 public:
  EventsCommand()
      : Command(CommandInfo("events",
                            "display container events such as OOM notifications, cpu, memory, and IO usage statistics",
                            "<container-id>\n\nWhere \"<container-id>\" is the name for the instance of the container.",
                            "The events command displays information about the container. By default the\n"
                            "information is displayed once every 5 seconds.")
                    .exactArgs(1)) {}

  void defineFlags(CLI::App& app) override {
    addDurationFlag(app, "--interval", interval_, "set the stats collection interval (default: 5s)");
    addBoolFlag(app, "--stats", stats_, "display the container's stats then exit");
  }

  int run(Context& ctx, const std::vector<std::string>& args) override {
    auto s = getContainer(ctx, args[0]);
    auto interval = parseGoDuration(interval_);  // checked by the flag parser
    if (!interval || interval->count() <= 0) {
      fail(ErrorKind::kInvalidArgument, "duration interval must be greater than 0");
    }
    if (s.status == state::ContainerStatus::kStopped) {
      fail(ErrorKind::kFailedPrecondition, "container with id " + s.id + " is not running");
    }
    auto sb = openSandbox(ctx, s);
    if (stats_) {
      print(ctx, statsEvent(s.id, sb->statsContainer(s.id)));
      return 0;
    }
    auto& loop = sb->loop();
    uint64_t seen = sb->statsContainer(s.id).oomKills;
    for (;;) {
      auto oom = sb->nextOomCountAsync(s.id, seen).then([](uint64_t n) -> std::optional<uint64_t> { return n; });
      auto tick = loop.timer()
                      .afterDelay(static_cast<uint64_t>(interval->count()) * kj::NANOSECONDS)
                      .then([]() -> std::optional<uint64_t> { return std::nullopt; });
      auto fired = loop.waitForever(oom.exclusiveJoin(kj::mv(tick)), "watching container " + s.id);
      if (fired && *fired > seen) {
        seen = *fired;
        print(ctx, {{"type", "oom"}, {"id", s.id}});
        continue;
      }
      if (sb->statusContainer(s.id).status == sandbox::ContainerStatus::kStopped) {
        // The kill that stopped it may have been the OOM killer's, counted after this tick's poll
        // went out: a stopped container answers the poll at once with its final count.
        if (sb->nextOomCount(s.id, seen) > seen) print(ctx, {{"type", "oom"}, {"id", s.id}});
        return 0;
      }
      print(ctx, statsEvent(s.id, sb->statsContainer(s.id)));
    }
  }

 private:
  static void print(Context& ctx, const nlohmann::json& event) {
    ctx.out() << event.dump() << "\n";
    ctx.out().flush();
  }

  // runc's types.Event with types.Stats: what the guest's cgroup v2 files give.
  static nlohmann::json statsEvent(const std::string& id, const sandbox::ContainerStats& st) {
    nlohmann::json data = {
        {"cpu", {{"usage", {{"total", st.cpuUsageNs}, {"kernel", 0}, {"user", 0}}}, {"throttling", nlohmann::json::object()}}},
        {"memory",
         {{"usage", {{"limit", st.memoryLimitBytes}, {"usage", st.memoryUsageBytes}, {"max", 0}, {"failcnt", 0}}},
          {"swap", {{"limit", 0}, {"usage", 0}}},
          {"raw", {{"oom_kill", st.oomKills}}}}},
        {"pids", {{"current", st.pids}}},
        {"blkio", nlohmann::json::object()},
        {"hugetlb", nlohmann::json::object()},
        {"intel_rdt", nlohmann::json::object()},
        {"network_interfaces", nullptr}};
    return {{"type", "stats"}, {"id", id}, {"data", data}};
  }

  std::string interval_ = "5s";
  bool stats_ = false;
};

}  // namespace

std::unique_ptr<Command> makeEventsCommand() { return std::make_unique<EventsCommand>(); }

}  // namespace kata::ctl
