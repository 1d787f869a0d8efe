// `kata-ctl ps`: the container's processes live in the guest; listing them needs the VM backend.
#include "common/error.h"
#include "kata-ctl/command.h"
#include "kata-ctl/containers.h"
#include "kata-ctl/context.h"
#include "kata-ctl/go_flags.h"

namespace kata::ctl {
namespace {

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
    backendUnavailable("listing processes of", s.id, "reading the guest's process table");
  }

 private:
  std::string format_ = "table";
};

}  // namespace

std::unique_ptr<Command> makePsCommand() { return std::make_unique<PsCommand>(); }

}  // namespace kata::ctl
