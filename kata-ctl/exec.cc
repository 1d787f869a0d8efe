// `kata-ctl exec`: runc's checks (state, paused, empty args), then the VM backend. Failures exit
// with 255 and "exec failed: ...", as runc's do.
#include "common/error.h"
#include "kata-ctl/command.h"
#include "kata-ctl/containers.h"
#include "kata-ctl/context.h"
#include "kata-ctl/go_flags.h"

namespace kata::ctl {
namespace {

class ExecCommand : public Command {
 public:
  ExecCommand()
      : Command(CommandInfo("exec", "execute new process inside the container",
                            "<container-id> <command> [command options]  || -p process.json <container-id>\n\n"
                            "Where \"<container-id>\" is the name for the instance of the container and\n"
                            "\"<command>\" is the command to be executed in the container.\n"
                            "\"<command>\" can't be empty unless a \"-p\" flag provided.",
                            "")
                    .minArgsCount(1)
                    .noReorder()) {}

  void defineFlags(CLI::App& app) override {
    addStringFlag(app, "--console-socket", consoleSocket_,
                  "path to an AF_UNIX socket which will receive a file descriptor referencing the master end of "
                  "the console's pseudoterminal");
    addStringFlag(app, "--cwd", cwd_, "current working directory in the container");
    addStringSliceFlag(app, "-e,--env", env_, "set environment variables");
    addBoolFlag(app, "-t,--tty", tty_, "allocate a pseudo-TTY");
    addStringFlag(app, "-u,--user", user_, "UID (format: <uid>[:<gid>])");
    addInt64SliceFlag(app, "-g,--additional-gids", gids_, "additional gids");
    addStringFlag(app, "-p,--process", process_, "path to the process.json");
    addBoolFlag(app, "-d,--detach", detach_, "detach from the container's process");
    addStringFlag(app, "--pid-file", pidFile_, "specify the file to write the process id to");
    addStringFlag(app, "--process-label", label_, "set the asm process label for the process commonly used with selinux");
    addStringFlag(app, "--apparmor", apparmor_, "set the apparmor profile for the process");
    addBoolFlag(app, "--no-new-privs", noNewPrivs_, "set the no new privileges value for the process");
    addStringSliceFlag(app, "-c,--cap", caps_, "add a capability to the bounding set for the process");
    addIntFlag(app, "--preserve-fds", preserveFds_,
               "Pass N additional file descriptors to the container (stdio + $LISTEN_FDS + N in total) (default: 0)");
    addStringSliceFlag(app, "--cgroup", cgroups_,
                       "run the process in an (existing) sub-cgroup(s). Format is [<controller>:]<cgroup>.");
    addBoolFlag(app, "--ignore-paused", ignorePaused_, "allow exec in a paused container");
  }

  int run(Context& ctx, const std::vector<std::string>& args) override {
    try {
      auto s = getContainer(ctx, args[0]);
      if (s.status == state::ContainerStatus::kStopped) {
        fail(ErrorKind::kFailedPrecondition, "cannot exec in a stopped state");
      }
      if (s.status == state::ContainerStatus::kPaused && !ignorePaused_) {
        fail(ErrorKind::kFailedPrecondition, "cannot exec in a paused state (use --ignore-paused to override)");
      }
      if (process_.empty() && args.size() == 1) fail(ErrorKind::kInvalidArgument, "process args cannot be empty");
      backendUnavailable("executing a process in", s.id);
    } catch (const Error& e) {
      throw CommandFailure("exec failed: " + std::string(e.what()), 255);
    }
  }

 private:
  std::string consoleSocket_, cwd_, user_, process_, pidFile_, label_, apparmor_;
  std::vector<std::string> env_, caps_, cgroups_;
  std::vector<long long> gids_;
  bool tty_ = false, detach_ = false, noNewPrivs_ = false, ignorePaused_ = false;
  long long preserveFds_ = 0;
};

}  // namespace

std::unique_ptr<Command> makeExecCommand() { return std::make_unique<ExecCommand>(); }

}  // namespace kata::ctl
