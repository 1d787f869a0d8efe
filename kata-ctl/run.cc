// `kata-ctl run`: create + start in one step; the same checks as create, then the VM backend.
#include "common/error.h"
#include "kata-ctl/bundle.h"
#include "kata-ctl/command.h"
#include "kata-ctl/containers.h"
#include "kata-ctl/context.h"
#include "kata-ctl/go_flags.h"

namespace kata::ctl {
namespace {

class RunCommand : public Command {
 public:
  RunCommand()
      : Command(CommandInfo("run", "create and run a container",
                            "<container-id>\n\nWhere \"<container-id>\" is your name for the instance of the "
                            "container that you\nare starting. The name you provide for the container instance "
                            "must be unique on\nyour host.",
                            "The run command creates an instance of a container for a bundle. The bundle\n"
                            "is a directory with a specification file named \"config.json\" and a root\n"
                            "filesystem.")
                    .exactArgs(1)) {}

  void defineFlags(CLI::App& app) override {
    addBundleFlags(app, flags_);
    addBoolFlag(app, "-d,--detach", detach_, "detach from the container's process");
    addBoolFlag(app, "--keep", keep_, "do not delete the container after it exits");
    addStringFlag(app, "--pid-file", flags_.pidFile, "specify the file to write the process id to");
    addBoolFlag(app, "--no-subreaper", noSubreaper_,
                "disable the use of the subreaper used to reap reparented processes");
    addBoolFlag(app, "--no-pivot", flags_.noPivot,
                "do not use pivot root to jail process inside rootfs.  This should be used whenever the rootfs "
                "is on top of a ramdisk");
    addBoolFlag(app, "--no-new-keyring", flags_.noNewKeyring,
                "do not create a new session keyring for the container.  This will cause the container to "
                "inherit the calling processes session key");
    addIntFlag(app, "--preserve-fds", flags_.preserveFds,
               "Pass N additional file descriptors to the container (stdio + $LISTEN_FDS + N in total) "
               "(default: 0)");
  }

  int run(Context& ctx, const std::vector<std::string>& args) override {
    try {
      validateCreate(ctx, args[0], flags_, detach_);
      backendUnavailable("running", args[0]);
    } catch (const Error& e) {
      throw Error(e.kind(), "kata-ctl run failed: " + std::string(e.what()), e.sysErrno());
    }
  }

 private:
  CreateFlags flags_;
  bool detach_ = false;
  bool keep_ = false;
  bool noSubreaper_ = false;
};

}  // namespace

std::unique_ptr<Command> makeRunCommand() { return std::make_unique<RunCommand>(); }

}  // namespace kata::ctl
