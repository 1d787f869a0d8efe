// `kata-ctl __shim`: the host process that stands for one container process (the init of a
// container, or an exec'd process) while it runs in the guest. kata-ctl create starts it detached
// with the engine's stdio (or the host side of the container's pty); the engine's subreaper (conmon,
// containerd's shim) reaps it, and its exit status is the container process's (128 + signal when
// killed). It relays stdio, forwards the signals it receives, and keeps the terminal size in step.
//   kata-ctl [--root R --log F] __shim --id ID [--exec-id X --process-fd N] --report-fd N [--console-fd N]
#include <signal.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "common/error.h"
#include "common/fs.h"
#include "kata-ctl/command.h"
#include "kata-ctl/containers.h"
#include "kata-ctl/context.h"
#include "kata-ctl/go_flags.h"
#include "kata-ctl/relay.h"
#include "kata-ctl/sandboxes.h"
#include "runtime/oci/spec.h"

namespace kata::ctl {
namespace {

// What an engine sees when the VM under the process vanished: not a status the process chose.
constexpr int kLostExitCode = 255;

// The whole of a memfd the parent filled (bounded).
std::string readMemfd(int fd, size_t max) {
  std::string out;
  char buf[65536];
  for (off_t off = 0;;) {
    ssize_t n = KATA_SYSCALL(::pread(fd, buf, sizeof buf, off), "read the process description");
    if (n == 0) return out;
    out.append(buf, static_cast<size_t>(n));
    off += n;
    if (out.size() > max) fail(ErrorKind::kInvalidArgument, "the process description is larger than 1 MiB");
  }
}

void report(int fd, const nlohmann::json& j) {
  std::string text = j.dump();
  (void)!::write(fd, text.data(), text.size());
}

class ShimCommand : public Command {
 public:
  ShimCommand() : Command(CommandInfo("__shim", "(internal) a container process's shim", "", "").exactArgs(0).hide()) {}

  void defineFlags(CLI::App& app) override {
    addStringFlag(app, "--id", id_, "container id");
    addStringFlag(app, "--exec-id", execId_, "exec id (empty: the container's init)");
    addIntFlag(app, "--report-fd", reportFd_, "where to report start-up");
    addIntFlag(app, "--console-fd", consoleFd_, "the host side of the process's pty");
    addIntFlag(app, "--process-fd", processFd_, "the OCI process of an exec");
  }

  int run(Context& ctx, const std::vector<std::string>&) override {
    captureForwardedSignals();
    ::signal(SIGPIPE, SIG_IGN);
    UniqueFd reportFd(static_cast<int>(reportFd_));
    UniqueFd console(static_cast<int>(consoleFd_));
    ctx.setContainer(id_);
    Logger log = ctx.log().with("component", "shim");
    if (!execId_.empty()) log = log.with("exec", execId_);
    std::unique_ptr<sandbox::Sandbox> sb;
    try {
      // The pty becomes our controlling terminal, so its size changes reach us as SIGWINCH.
      if (console) KATA_SYSCALL(::ioctl(console.get(), TIOCSCTTY, 0), "TIOCSCTTY");
      auto s = ctx.store().load(id_);
      sb = openSandbox(ctx, s);
      sandbox::ProcessIo io;
      io.host = console ? sandbox::HostStdio{console.get(), console.get(), -1}
                        : sandbox::HostStdio{STDIN_FILENO, STDOUT_FILENO, STDERR_FILENO};
      int guestPid = 0;
      if (execId_.empty()) {
        oci::Spec spec = oci::loadBundleSpec(s.bundle);
        guestPid = sb->createContainer(sandbox::ContainerConfig{id_, oci::toJson(spec), s.bundle, io}).guestPid;
      } else {
        UniqueFd pfd(static_cast<int>(processFd_));
        auto process = nlohmann::json::parse(readMemfd(pfd.get(), 1 << 20));
        sb->enterContainer(id_, execId_, process, io);
      }
      report(reportFd.get(), {{"ok", true}, {"pid", ::getpid()}, {"guestPid", guestPid}});
      reportFd.reset();
    } catch (const Error& e) {
      log.error(e.what());
      report(reportFd.get(), {{"ok", false}, {"kind", errorKindTag(e.kind())}, {"error", e.what()}});
      return 1;
    } catch (const std::exception& e) {
      log.error(e.what());
      report(reportFd.get(), {{"ok", false}, {"kind", "internal"}, {"error", e.what()}});
      return 1;
    }
    try {
      auto status = relayUntilExit(*sb, RelayTarget{id_, execId_, console ? console.get() : -1}, log);
      log.debug("process exited with " + std::to_string(status.code));
      return status.code;
    } catch (const Error& e) {
      log.error(std::string("lost the container's process: ") + e.what());
      return kLostExitCode;
    }
  }

 private:
  std::string id_, execId_;
  long long reportFd_ = -1, consoleFd_ = -1, processFd_ = -1;
};

}  // namespace

std::unique_ptr<Command> makeShimCommand() { return std::make_unique<ShimCommand>(); }

}  // namespace kata::ctl
