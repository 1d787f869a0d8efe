// `kata-ctl checkpoint`: CRIU cannot checkpoint a process inside a VM guest from the host, so the verb
// exists (engines probe for it) and says plainly that it is not supported.
#include "common/error.h"
#include "kata-ctl/command.h"
#include "kata-ctl/context.h"
#include "kata-ctl/go_flags.h"

namespace kata::ctl {
namespace {

class CheckpointCommand : public Command {
 public:
  CheckpointCommand()
      : Command(CommandInfo("checkpoint",
                          "checkpoint a running container (not supported by kata-ctl)",
                          "<container-id>\n\nWhere \"<container-id>\" is the name for the instance of the container to be\ncheckpointed.",
                          "The checkpoint command saves the state of the container instance.")) {}

  void defineFlags(CLI::App& app) override {
    addStringFlag(app, "--image-path", s_, "path for saving criu image files");
    addStringFlag(app, "--work-path", s_, "path for saving work files and logs");
    addStringFlag(app, "--parent-path", s_, "path for previous criu image files in pre-dump");
    addBoolFlag(app, "--leave-running", b_, "leave the process running after checkpointing");
    addBoolFlag(app, "--tcp-established", b_, "allow open tcp connections");
    addBoolFlag(app, "--ext-unix-sk", b_, "allow external unix sockets");
    addBoolFlag(app, "--shell-job", b_, "allow shell jobs");
    addBoolFlag(app, "--lazy-pages", b_, "use userfaultfd to lazily restore memory pages");
    addIntFlag(app, "--status-fd", i_, "criu writes \\0 to this FD once lazy-pages is ready (default: -1)");
    addStringFlag(app, "--page-server", s_, "ADDRESS:PORT of the page server");
    addBoolFlag(app, "--file-locks", b_, "handle file locks, for safety");
    addBoolFlag(app, "--pre-dump", b_, "dump container's memory information only, leave the container running after this");
    addStringFlag(app, "--manage-cgroups-mode", s_, "cgroups mode: 'soft' (default), 'full' and 'strict'");
    addStringSliceFlag(app, "--empty-ns", v_, "create a namespace, but don't restore its properties");
    addBoolFlag(app, "--auto-dedup", b_, "enable auto deduplication of memory images");
  }

  int run(Context& ctx, const std::vector<std::string>& args) override {
    ctx.setContainer(args[0]);
    fail(ErrorKind::kNotSupported,
         "checkpoint is not supported by kata-ctl: the container's processes run inside a VM, where the "
         "host's CRIU cannot reach them");
  }

 private:
  std::string s_;
  bool b_ = false;
  long long i_ = -1;
  std::vector<std::string> v_;
};

}  // namespace

std::unique_ptr<Command> makeCheckpointCommand() { return std::make_unique<CheckpointCommand>(); }

}  // namespace kata::ctl
