// `kata-ctl events`: stats and OOM events come from the guest; they need the VM backend.
#include "common/error.h"
#include "kata-ctl/command.h"
#include "kata-ctl/containers.h"
#include "kata-ctl/context.h"
#include "kata-ctl/go_flags.h"
#include "kata-ctl/go_units.h"

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
    backendUnavailable("reading events of", s.id, "collecting the guest's statistics");
  }

 private:
  std::string interval_ = "5s";
  bool stats_ = false;
};

}  // namespace

std::unique_ptr<Command> makeEventsCommand() { return std::make_unique<EventsCommand>(); }

}  // namespace kata::ctl
