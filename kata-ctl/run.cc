// `kata-ctl run`: create + start in one step. Detached, a shim stands for the container (as after
// create); in the foreground kata-ctl itself relays the container's stdio and signals, waits for it,
// removes it (unless --keep) and exits with its status, as runc run does.
#include "common/error.h"
#include "kata-ctl/bundle.h"
#include "kata-ctl/command.h"
#include "kata-ctl/containers.h"
#include "kata-ctl/context.h"
#include "kata-ctl/go_flags.h"
#include "kata-ctl/lifecycle.h"
#include "kata-ctl/relay.h"
#include "kata-ctl/terminal.h"

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
      // Signals must be captured before the event loop exists for kj to deliver them.
      if (!detach_) captureForwardedSignals();
      auto c = createContainer(ctx, args[0], flags_, detach_, detach_ ? Standin::kShim : Standin::kThisProcess);
      startContainer(ctx, *c.sandbox, c.state);
      c.rollback->commit();
      if (detach_) return 0;
      int code;
      try {
        code = relayUntilExit(*c.sandbox, RelayTarget{c.state.id, "", c.ttyFd}, ctx.log()).code;
      } catch (const Error& e) {
        ctx.log().error(std::string("lost the container's process: ") + e.what());
        code = 255;
      }
      c.rawMode.reset();
      if (!keep_) {
        c.sandbox.reset();
        removeContainer(ctx, ctx.store().load(c.state.id), /*force=*/true);
      }
      return code;
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
