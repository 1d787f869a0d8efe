// `kata-ctl delete`: removes a stopped (or, as runc allows, a created) container: from the guest, its
// shares and state, its sandbox's VM when it was the last container there, then its poststop hooks
// (a failing poststop hook is a warning, per the runtime spec). --force kills a running one first.
#include "common/error.h"
#include "kata-ctl/command.h"
#include "kata-ctl/containers.h"
#include "kata-ctl/context.h"
#include "kata-ctl/go_flags.h"
#include "kata-ctl/lifecycle.h"

namespace kata::ctl {
namespace {

class DeleteCommand : public Command {
 public:
  DeleteCommand()
      : Command(CommandInfo("delete", "delete any resources held by the container often used with detached container",
                            "<container-id>\n\nWhere \"<container-id>\" is the name for the instance of the container.",
                            "EXAMPLE:\nFor example, if the container id is \"ubuntu01\" and kata-ctl list currently "
                            "shows the\nstatus of \"ubuntu01\" as \"stopped\" the following will delete resources "
                            "held for\n\"ubuntu01\" removing \"ubuntu01\" from the kata-ctl list of containers:\n\n"
                            "       # kata-ctl delete ubuntu01")
                    .exactArgs(1)) {}

  void defineFlags(CLI::App& app) override {
    addBoolFlag(app, "-f,--force", force_, "Forcibly deletes the container if it is still running (uses SIGKILL)");
  }

  int run(Context& ctx, const std::vector<std::string>& args) override {
    const std::string& id = args[0];
    state::validateContainerId(id);
    ctx.setContainer(id);
    auto& store = ctx.store();
    std::optional<state::ContainerState> s;
    try {
      s = store.tryLoad(id);
    } catch (const Error& e) {
      // A corrupt state can only be removed; without --force say what is wrong instead.
      if (!force_) throw;
      ctx.log().warn(std::string(e.what()) + "; removing it (--force)");
      auto lock = store.lock(id);
      store.remove(lock);
      return 0;
    }
    if (!s) {
      auto lock = store.lock(id);
      store.remove(lock);  // leftovers of an interrupted create, as runc removes a bare directory
      if (force_) return 0;
      fail(ErrorKind::kNotFound, "container does not exist");
    }
    const auto status = liveStatus(*s);
    if (!force_ && status != state::ContainerStatus::kStopped && status != state::ContainerStatus::kCreated) {
      fail(ErrorKind::kFailedPrecondition,
           "cannot delete container " + id + " that is not stopped: " + state::statusName(status));
    }
    removeContainer(ctx, *s, /*force=*/true);
    return 0;
  }

 private:
  bool force_ = false;
};

}  // namespace

std::unique_ptr<Command> makeDeleteCommand() { return std::make_unique<DeleteCommand>(); }

}  // namespace kata::ctl
