// `kata-ctl __monitor`: a sandbox's monitor process (runtime/sandbox/monitor.h), started by the
// Sandbox API when kata-ctl creates a sandbox. Not for people: the library passes the agent channel
// and a readiness pipe as descriptors and the run directory where the socket goes.
//   kata-ctl [--root R --log F --log-format json] __monitor --sandbox ID --run-dir DIR --agent-fd 3
//            --ready-fd 4 --agent-timeout-ms N
#include <signal.h>
#include <unistd.h>

#include <kj/async-unix.h>

#include "common/error.h"
#include "common/fs.h"
#include "kata-ctl/command.h"
#include "kata-ctl/context.h"
#include "kata-ctl/go_flags.h"
#include "ipc/peer_creds.h"
#include "runtime/sandbox/monitor.h"

namespace kata::ctl {
namespace {

class MonitorCommand : public Command {
 public:
  MonitorCommand()
      : Command(CommandInfo("__monitor", "(internal) a sandbox's monitor process", "", "").exactArgs(0).hide()) {}

  void defineFlags(CLI::App& app) override {
    addStringFlag(app, "--sandbox", sandbox_, "sandbox id");
    addStringFlag(app, "--run-dir", runDir_, "the sandbox's run directory");
    addIntFlag(app, "--agent-fd", agentFd_, "the agent channel");
    addIntFlag(app, "--ready-fd", readyFd_, "readiness pipe");
    addIntFlag(app, "--agent-timeout-ms", timeoutMs_, "how long to wait for the agent");
  }

  int run(Context& ctx, const std::vector<std::string>&) override {
    kj::UnixEventPort::captureSignal(SIGTERM);
    ::signal(SIGPIPE, SIG_IGN);
    UniqueFd ready(static_cast<int>(readyFd_));
    Logger log = ctx.log().with("sandbox", sandbox_).with("component", "monitor");
    try {
      const std::string socket = runDir_ + "/monitor.sock";
      UniqueFd listen = ipc::listenUnix(socket, 0600, static_cast<gid_t>(-1));
      sandbox::EventLoop loop;
      auto result = sandbox::runMonitor(loop, UniqueFd(static_cast<int>(agentFd_)), std::move(listen), log,
                                        std::chrono::milliseconds(timeoutMs_), [&] {
                                          std::string line = "ready " + std::to_string(::getpid()) + "\n";
                                          (void)!::write(ready.get(), line.data(), line.size());
                                          ready.reset();
                                        });
      (void)::unlink(socket.c_str());
      (void)result;
      return 0;
    } catch (const Error& e) {
      log.error(e.what());
      if (ready) {
        std::string line = std::string("error: ") + e.what() + "\n";
        (void)!::write(ready.get(), line.data(), line.size());
      }
      return 1;
    }
  }

 private:
  std::string sandbox_, runDir_;
  long long agentFd_ = -1, readyFd_ = -1, timeoutMs_ = 60000;
};

}  // namespace

std::unique_ptr<Command> makeMonitorCommand() { return std::make_unique<MonitorCommand>(); }

}  // namespace kata::ctl
