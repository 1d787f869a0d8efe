// `kata-ctl list`: every container under --root with its live status, in runc's formats.
#include <filesystem>
#include <iostream>

#include "common/error.h"
#include "kata-ctl/command.h"
#include "kata-ctl/containers.h"
#include "kata-ctl/context.h"
#include "kata-ctl/go_flags.h"
#include "runtime/state/state_format.h"

namespace kata::ctl {
namespace {

class ListCommand : public Command {
 public:
  ListCommand()
      : Command(CommandInfo("list", "lists containers started by kata-ctl with the given root", "",
                            "The default format is table.  The following will output the list of containers\n"
                            "in json format:\n\n    # kata-ctl list -f json")
                    .exactArgs(0)) {}

  void defineFlags(CLI::App& app) override {
    addStringFlag(app, "-f,--format", format_, "select one of: table or json (default: \"table\")");
    addBoolFlag(app, "-q,--quiet", quiet_, "display only container IDs");
  }

  int run(Context& ctx, const std::vector<std::string>&) override {
    std::vector<state::ContainerState> states;
    // A root that was never created holds no containers; listing must not create it.
    if (std::filesystem::exists(ctx.root())) {
      for (auto& entry : ctx.store().listEntries()) {
        if (!entry.state) {
          // runc skips a container it cannot load and says so on stderr.
          std::cerr << "load container " << entry.id << ": " << entry.error << std::endl;
          continue;
        }
        entry.state->status = liveStatus(*entry.state);
        states.push_back(std::move(*entry.state));
      }
    }
    if (quiet_) {
      ctx.out() << state::listQuiet(states);
      return 0;
    }
    if (format_ == "table") {
      ctx.out() << state::listTable(states);
    } else if (format_ == "json") {
      ctx.out() << state::listJson(states);
    } else {
      fail(ErrorKind::kInvalidArgument, "invalid format option");
    }
    return 0;
  }

 private:
  std::string format_ = "table";
  bool quiet_ = false;
};

}  // namespace

std::unique_ptr<Command> makeListCommand() { return std::make_unique<ListCommand>(); }

}  // namespace kata::ctl
