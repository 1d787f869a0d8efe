// `kata-ctl pause`: runc's state check ("container not running"), then the guest freezes the
// container's cgroup; the state says paused (and remembers what it was, for resume).
#include "common/error.h"
#include "kata-ctl/command.h"
#include "kata-ctl/containers.h"
#include "kata-ctl/context.h"
#include "kata-ctl/sandboxes.h"

namespace kata::ctl {
namespace {

class PauseCommand : public Command {
 public:
  PauseCommand()
      : Command(CommandInfo("pause", "pause suspends all processes inside the container",
                            "<container-id>\n\nWhere \"<container-id>\" is the name for the instance of the "
                            "container to be\npaused. ",
                            "The pause command suspends all processes in the instance of the container.\n\n"
                            "Use kata-ctl list to identify instances of containers and their current status.")
                    .exactArgs(1)
                    .noFlags()) {}

  int run(Context& ctx, const std::vector<std::string>& args) override {
    auto s = getContainer(ctx, args[0]);
    if (s.status != state::ContainerStatus::kRunning && s.status != state::ContainerStatus::kCreated) {
      fail(ErrorKind::kFailedPrecondition, "container not running");
    }
    auto sb = openSandbox(ctx, s);
    auto lock = ctx.store().lock(s.id);
    sb->pauseContainer(s.id);
    s.extra["pausedFrom"] = state::statusName(s.status);
    s.status = state::ContainerStatus::kPaused;
    ctx.store().save(lock, s);
    return 0;
  }
};

}  // namespace

std::unique_ptr<Command> makePauseCommand() { return std::make_unique<PauseCommand>(); }

}  // namespace kata::ctl
