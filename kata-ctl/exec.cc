// `kata-ctl exec`: runc's checks (state, paused, empty args), then another process in the
// container, inside the guest. In the foreground kata-ctl relays its stdio and signals and exits
// with its status; with --detach a shim stands for it (its pid in --pid-file). The process is built
// as runc builds it: -p process.json, or the container's own process with the flags applied.
// Failures exit with 255 and "exec failed: ...", as runc's do.
#include <fcntl.h>
#include <sys/random.h>
#include <unistd.h>

#include <algorithm>

#include "common/error.h"
#include "common/fs.h"
#include "kata-ctl/command.h"
#include "kata-ctl/containers.h"
#include "kata-ctl/context.h"
#include "kata-ctl/go_flags.h"
#include "kata-ctl/lifecycle.h"
#include "kata-ctl/relay.h"
#include "kata-ctl/sandboxes.h"
#include "kata-ctl/terminal.h"
#include "runtime/oci/spec.h"

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
      if (!detach_) captureForwardedSignals();  // before the event loop exists
      auto s = getContainer(ctx, args[0]);
      if (s.status == state::ContainerStatus::kStopped) {
        fail(ErrorKind::kFailedPrecondition, "cannot exec in a stopped state");
      }
      if (s.status == state::ContainerStatus::kPaused && !ignorePaused_) {
        fail(ErrorKind::kFailedPrecondition, "cannot exec in a paused state (use --ignore-paused to override)");
      }
      if (process_.empty() && args.size() == 1) fail(ErrorKind::kInvalidArgument, "process args cannot be empty");
      if (!cgroups_.empty())
        fail(ErrorKind::kNotSupported, "--cgroup: the container's cgroups are inside the VM; sub-cgroups are not supported");
      if (preserveFds_ > 0)
        fail(ErrorKind::kNotSupported, "--preserve-fds: host descriptors cannot be passed into the VM");
      auto sb = openSandbox(ctx, s);
      nlohmann::json process = buildProcess(s, std::vector<std::string>(args.begin() + 1, args.end()));
      const bool terminal = process.value("terminal", false);
      if (detach_ && terminal && consoleSocket_.empty())
        fail(ErrorKind::kInvalidArgument, "cannot allocate tty if runc will detach without setting console socket");
      if ((!detach_ || !terminal) && !consoleSocket_.empty())
        fail(ErrorKind::kInvalidArgument, "cannot use console socket if runc will not detach or allocate tty");
      const std::string execId = newExecId();
      std::optional<Pty> pty;
      if (terminal && !consoleSocket_.empty()) {
        pty = openPty();
        makeRaw(pty->slave.get());
        sendConsole(consoleSocket_, *pty);
      }
      if (detach_) {
        auto report = startShim(ctx, ShimRequest{s.id, s.sandboxId, execId, pty ? pty->slave.get() : -1, process});
        if (!pidFile_.empty()) writePidFile(pidFile_, report.pid);
        return 0;
      }
      sandbox::ProcessIo io;
      io.host = {STDIN_FILENO, STDOUT_FILENO, STDERR_FILENO};
      int ttyFd = -1;
      std::unique_ptr<RawMode> raw;
      if (terminal) {
        io.host.err = -1;
        if (::isatty(STDIN_FILENO)) {
          raw = std::make_unique<RawMode>(STDIN_FILENO);
          ttyFd = STDIN_FILENO;
        }
      }
      sb->enterContainer(s.id, execId, process, io);
      if (!pidFile_.empty()) writePidFile(pidFile_, ::getpid());
      try {
        return relayUntilExit(*sb, RelayTarget{s.id, execId, ttyFd}, ctx.log()).code;
      } catch (const Error& e) {
        ctx.log().error(std::string("lost the exec'd process: ") + e.what());
        return 255;
      }
    } catch (const Error& e) {
      throw CommandFailure("exec failed: " + std::string(e.what()), 255);
    }
  }

 private:
  static std::string newExecId() {
    unsigned char raw[8];
    if (::getrandom(raw, sizeof raw, 0) != static_cast<ssize_t>(sizeof raw)) throwSysError(errno, "getrandom");
    static constexpr char kHex[] = "0123456789abcdef";
    std::string id = "exec-";
    for (unsigned char b : raw) {
      id += kHex[b >> 4];
      id += kHex[b & 15];
    }
    return id;
  }

  // runc's newProcess: -p replaces everything; otherwise the container's process with the flags.
  nlohmann::json buildProcess(const state::ContainerState& s, const std::vector<std::string>& cmd) {
    if (!process_.empty()) {
      auto p = nlohmann::json::parse(readFile(process_, 1 << 20), nullptr, false);
      if (p.is_discarded() || !p.is_object()) fail(ErrorKind::kInvalidArgument, "process " + process_ + ": not a JSON object");
      if (tty_) p["terminal"] = true;
      return p;
    }
    nlohmann::json p = oci::toJson(oci::loadBundleSpec(s.bundle)).value("process", nlohmann::json::object());
    p["args"] = cmd;
    p["terminal"] = tty_;
    p.erase("consoleSize");
    if (!cwd_.empty()) p["cwd"] = cwd_;
    if (!env_.empty()) {
      auto env = p.value("env", std::vector<std::string>{});
      env.insert(env.end(), env_.begin(), env_.end());
      p["env"] = env;
    }
    if (!user_.empty()) {
      auto colon = user_.find(':');
      auto num = [&](const std::string& v) {
        if (v.empty() || v.find_first_not_of("0123456789") != std::string::npos || v.size() > 10)
          fail(ErrorKind::kInvalidArgument, "parsing " + user_ + " as uid[:gid]: not numeric");
        return std::stoull(v);
      };
      p["user"]["uid"] = num(user_.substr(0, colon));
      if (colon != std::string::npos) p["user"]["gid"] = num(user_.substr(colon + 1));
      p["user"].erase("username");
    }
    if (!gids_.empty()) p["user"]["additionalGids"] = gids_;
    if (noNewPrivs_) p["noNewPrivileges"] = true;
    if (!apparmor_.empty()) p["apparmorProfile"] = apparmor_;
    if (!label_.empty()) p["selinuxLabel"] = label_;
    if (!caps_.empty()) {
      for (const char* set : {"bounding", "effective", "permitted", "inheritable", "ambient"}) {
        auto have = p["capabilities"].value(set, std::vector<std::string>{});
        for (const auto& c : caps_) {
          std::string name = c.rfind("CAP_", 0) == 0 ? c : "CAP_" + c;
          if (std::find(have.begin(), have.end(), name) == have.end()) have.push_back(name);
        }
        p["capabilities"][set] = have;
      }
    }
    return p;
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
