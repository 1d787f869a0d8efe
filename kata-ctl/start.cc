// `kata-ctl start`: runc's state checks, then the container's init process starts in the guest.
#include "common/error.h"
#include "kata-ctl/command.h"
#include "kata-ctl/containers.h"
#include "kata-ctl/context.h"
#include "kata-ctl/lifecycle.h"
#include "kata-ctl/sandboxes.h"

namespace kata::ctl {
namespace {

class StartCommand : public Command {
 public:
  StartCommand()
      : Command(CommandInfo("start", "executes the user defined process in a created container",
                            "<container-id>\n\nWhere \"<container-id>\" is your name for the instance of the "
                            "container that you\nare starting. The name you provide for the container instance "
                            "must be unique on\nyour host.",
                            "The start command executes the user defined process in a created container.")
                    .exactArgs(1)
                    .noFlags()) {}

  int run(Context& ctx, const std::vector<std::string>& args) override {
    auto s = getContainer(ctx, args[0]);
    using state::ContainerStatus;
    switch (s.status) {
      case ContainerStatus::kCreated: {
        auto sb = openSandbox(ctx, s);
        startContainer(ctx, *sb, s);
        return 0;
      }
      case ContainerStatus::kStopped:
        fail(ErrorKind::kFailedPrecondition, "cannot start a container that has stopped");
      case ContainerStatus::kRunning:
        fail(ErrorKind::kFailedPrecondition, "cannot start an already running container");
      default:
        fail(ErrorKind::kFailedPrecondition,
             "cannot start a container in the " + state::statusName(s.status) + " state");
    }
  }
};

}  // namespace

std::unique_ptr<Command> makeStartCommand() { return std::make_unique<StartCommand>(); }

}  // namespace kata::ctl
