// `kata-ctl state`: the stored state with its live status, byte-identical to `runc state`.
#include "kata-ctl/command.h"
#include "kata-ctl/containers.h"
#include "kata-ctl/context.h"

namespace kata::ctl {
namespace {

class StateCommand : public Command {
 public:
  StateCommand()
      : Command(CommandInfo("state", "output the state of a container",
                            "<container-id>\n\nWhere \"<container-id>\" is your name for the instance of the container.",
                            "The state command outputs current state information for the\ninstance of a container.")
                    .exactArgs(1)
                    .noFlags()) {}

  int run(Context& ctx, const std::vector<std::string>& args) override {
    ctx.out() << state::runcStateJson(getContainer(ctx, args[0]));
    return 0;
  }
};

}  // namespace

std::unique_ptr<Command> makeStateCommand() { return std::make_unique<StateCommand>(); }

}  // namespace kata::ctl
