// `kata-ctl create`: checks the bundle exactly as runc does, creates the container inside its pod's
// VM (a new VM for a new sandbox) with a shim standing for it on the host, and leaves it "created".
// A failure at any step removes everything done so far (lifecycle.h).
#include "common/error.h"
#include "kata-ctl/bundle.h"
#include "kata-ctl/command.h"
#include "kata-ctl/containers.h"
#include "kata-ctl/context.h"
#include "kata-ctl/lifecycle.h"

namespace kata::ctl {
namespace {

class CreateCommand : public Command {
 public:
  CreateCommand()
      : Command(CommandInfo("create", "create a container",
                            "<container-id>\n\nWhere \"<container-id>\" is your name for the instance of the "
                            "container that you\nare starting. The name you provide for the container instance "
                            "must be unique on\nyour host.",
                            "The create command creates an instance of a container for a bundle. The bundle\n"
                            "is a directory with a specification file named \"config.json\" and a root\n"
                            "filesystem.")
                    .exactArgs(1)) {}

  void defineFlags(CLI::App& app) override {
    addBundleFlags(app, flags_);
    addCreateTailFlags(app, flags_);
  }

  int run(Context& ctx, const std::vector<std::string>& args) override {
    try {
      auto created = createContainer(ctx, args[0], flags_, /*detach=*/true, Standin::kShim);
      created.rollback->commit();
      return 0;
    } catch (const Error& e) {
      throw Error(e.kind(), "kata-ctl create failed: " + std::string(e.what()), e.sysErrno());
    }
  }

 private:
  CreateFlags flags_;
};

}  // namespace

std::unique_ptr<Command> makeCreateCommand() { return std::make_unique<CreateCommand>(); }

}  // namespace kata::ctl
