// `kata-ctl restore`: the counterpart of checkpoint, equally not supported (see checkpoint.cc).
#include "common/error.h"
#include "kata-ctl/command.h"
#include "kata-ctl/context.h"
#include "kata-ctl/go_flags.h"

namespace kata::ctl {
namespace {

class RestoreCommand : public Command {
 public:
  RestoreCommand()
      : Command(CommandInfo("restore",
                          "restore a container from a previous checkpoint (not supported by kata-ctl)",
                          "<container-id>\n\nWhere \"<container-id>\" is the name for the instance of the container to be\nrestored.",
                          "Restores the saved state of the container instance that was previously saved\nusing the kata-ctl checkpoint command.")) {}

  void defineFlags(CLI::App& app) override {
    addStringFlag(app, "--console-socket", s_, "path to an AF_UNIX socket which will receive a file descriptor referencing the master end of the console's pseudoterminal");
    addStringFlag(app, "--image-path", s_, "path to criu image files for restoring");
    addStringFlag(app, "--work-path", s_, "path for saving work files and logs");
    addBoolFlag(app, "--tcp-established", b_, "allow open tcp connections");
    addBoolFlag(app, "--ext-unix-sk", b_, "allow external unix sockets");
    addBoolFlag(app, "--shell-job", b_, "allow shell jobs");
    addBoolFlag(app, "--file-locks", b_, "handle file locks, for safety");
    addStringFlag(app, "--manage-cgroups-mode", s_, "cgroups mode: 'soft' (default), 'full' and 'strict'");
    addStringFlag(app, "-b,--bundle", s_, "path to the root of the bundle directory");
    addBoolFlag(app, "-d,--detach", b_, "detach from the container's process");
    addStringFlag(app, "--pid-file", s_, "specify the file to write the process id to");
    addBoolFlag(app, "--no-subreaper", b_, "disable the use of the subreaper used to reap reparented processes");
    addBoolFlag(app, "--no-pivot", b_, "do not use pivot root to jail process inside rootfs.  This should be used whenever the rootfs is on top of a ramdisk");
    addStringSliceFlag(app, "--empty-ns", v_, "create a namespace, but don't restore its properties");
    addBoolFlag(app, "--auto-dedup", b_, "enable auto deduplication of memory images");
    addBoolFlag(app, "--lazy-pages", b_, "use userfaultfd to lazily restore memory pages");
    addStringFlag(app, "--lsm-profile", s_, "Specify an LSM profile to be used during restore in the form of TYPE:NAME.");
    addStringFlag(app, "--lsm-mount-context", s_, "Specify an LSM mount context to be used during restore.");
  }

  int run(Context& ctx, const std::vector<std::string>& args) override {
    ctx.setContainer(args[0]);
    fail(ErrorKind::kNotSupported,
         "restore is not supported by kata-ctl: containers run inside VMs and cannot be checkpointed");
  }

 private:
  std::string s_;
  bool b_ = false;
  std::vector<std::string> v_;
};

}  // namespace

std::unique_ptr<Command> makeRestoreCommand() { return std::make_unique<RestoreCommand>(); }

}  // namespace kata::ctl
