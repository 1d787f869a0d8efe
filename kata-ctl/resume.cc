// `kata-ctl resume`: runc's state check ("container not paused"), then the guest thaws the
// container's cgroup; the state goes back to what it was before pause.
#include "common/error.h"
#include "kata-ctl/command.h"
#include "kata-ctl/containers.h"
#include "kata-ctl/context.h"
#include "kata-ctl/sandboxes.h"

namespace kata::ctl {
namespace {

class ResumeCommand : public Command {
 public:
  ResumeCommand()
      : Command(CommandInfo("resume", "resumes all processes that have been previously paused",
                            "<container-id>\n\nWhere \"<container-id>\" is the name for the instance of the "
                            "container to be\nresumed.",
                            "The resume command resumes all processes in the instance of the container.\n\n"
                            "Use kata-ctl list to identify instances of containers and their current status.")
                    .exactArgs(1)
                    .noFlags()) {}

  int run(Context& ctx, const std::vector<std::string>& args) override {
    auto s = getContainer(ctx, args[0]);
    if (s.status != state::ContainerStatus::kPaused) fail(ErrorKind::kFailedPrecondition, "container not paused");
    auto sb = openSandbox(ctx, s);
    auto lock = ctx.store().lock(s.id);
    sb->resumeContainer(s.id);
    auto before = state::parseStatus(s.extra.value("pausedFrom", "running"));
    s.status = before.value_or(state::ContainerStatus::kRunning);
    s.extra.erase("pausedFrom");
    ctx.store().save(lock, s);
    return 0;
  }
};

}  // namespace

std::unique_ptr<Command> makeResumeCommand() { return std::make_unique<ResumeCommand>(); }

}  // namespace kata::ctl
