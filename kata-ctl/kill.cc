// `kata-ctl kill`: the signal is parsed as runc parses it (after the container is found, as runc
// does), then delivered by the guest agent to the container's init (or, with --all, every process).
#include "common/error.h"
#include "kata-ctl/command.h"
#include "kata-ctl/containers.h"
#include "kata-ctl/context.h"
#include "kata-ctl/go_flags.h"
#include "kata-ctl/sandboxes.h"
#include "kata-ctl/signals.h"

namespace kata::ctl {
namespace {

class KillCommand : public Command {
 public:
  KillCommand()
      : Command(CommandInfo("kill", "kill sends the specified signal (default: SIGTERM) to the container's init process",
                            "<container-id> [signal]\n\nWhere \"<container-id>\" is the name for the instance of "
                            "the container and\n\"[signal]\" is the signal to be sent to the init process.",
                            "")
                    .argRange(1, 2)) {}

  void defineFlags(CLI::App& app) override {
    addBoolFlag(app, "-a,--all", all_, "send the specified signal to all processes inside the container");
  }

  int run(Context& ctx, const std::vector<std::string>& args) override {
    auto s = getContainer(ctx, args[0]);
    const std::string raw = args.size() > 1 && !args[1].empty() ? args[1] : "SIGTERM";
    const long long sig = parseSignal(raw);
    if (!all_ && s.status == state::ContainerStatus::kStopped) {
      fail(ErrorKind::kFailedPrecondition, "container not running");
    }
    auto sb = openSandbox(ctx, s);
    sb->killContainer(s.id, static_cast<int>(sig), all_);
    return 0;
  }

 private:
  bool all_ = false;
};

}  // namespace

std::unique_ptr<Command> makeKillCommand() { return std::make_unique<KillCommand>(); }

}  // namespace kata::ctl
