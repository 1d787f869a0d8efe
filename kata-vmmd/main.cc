// kata-vmmd: the minimal root daemon. Wires the parts together: policy, sandbox manager (with the
// registry's re-adoption), the RPC server on the unix socket, and the event loop.
//   kata-vmmd --foreground --socket PATH --state-dir DIR --policy FILE [--log FILE --log-format json]
//             [--cgroup-root DIR --cgroup-parent NAME]
#include <signal.h>
#include <sys/stat.h>

#include <CLI/CLI.hpp>
#include <iostream>
#include <kj/async-unix.h>

#include "common/error.h"
#include "common/fs.h"
#include "common/log.h"
#include "ipc/peer_creds.h"
#include "kata-vmmd/hardening.h"
#include "kata-vmmd/jail_launcher.h"
#include "kata-vmmd/policy.h"
#include "kata-vmmd/rpc_server.h"
#include "kata-vmmd/sandbox_manager.h"

int main(int argc, char** argv) {
  CLI::App app{"kata-vmmd: the root daemon that launches and owns the VMs of kata sandboxes"};
  bool foreground = false;
  std::string socketPath = "/run/kata-vmmd/vmmd.sock";
  std::string stateDir = "/run/kata-vmmd";
  std::string policyPath = "/etc/kata-vmmd/policy.toml";
  std::string logPath, logFormat = "text", logLevel = "info";
  std::string cgroupRoot = "/sys/fs/cgroup", cgroupParent = "kata-vmmd";
  std::string seccompMode = "enforce";
  app.add_flag("--foreground", foreground, "stay in the foreground (the only mode; systemd supervises it)");
  app.add_option("--socket", socketPath, "unix socket to listen on");
  app.add_option("--state-dir", stateDir, "directory for the sandbox registry, run dirs and shares");
  app.add_option("--policy", policyPath, "policy file (TOML)");
  app.add_option("--log", logPath, "log file (default: standard error)");
  app.add_option("--log-format", logFormat, "text or json");
  app.add_option("--log-level", logLevel, "debug, info, warn or error");
  app.add_option("--cgroup-root", cgroupRoot, "where the cgroup hierarchies are mounted");
  app.add_option("--cgroup-parent", cgroupParent,
                 "cgroup below which each VM gets <sandbox id> in every hierarchy (empty: no cgroups)");
  app.add_option("--seccomp-mode", seccompMode,
                 "enforce (default), errno (a denied call fails with EPERM) or log (allowed, logged): "
                 "docs/vmmd-security.md");
  CLI11_PARSE(app, argc, argv);

  kata::LogOptions lo;
  lo.component = "vmmd";
  lo.path = logPath;
  try {
    lo.format = kata::parseLogFormat(logFormat);
  } catch (const kata::Error& e) {
    std::cerr << "kata-vmmd: " << e.what() << "\n";
    return 2;
  }
  lo.level = logLevel == "debug" ? kata::LogLevel::kDebug
             : logLevel == "warn" ? kata::LogLevel::kWarn
             : logLevel == "error" ? kata::LogLevel::kError : kata::LogLevel::kInfo;
  kata::Logger log(lo);
  try {
    (void)foreground;
    ::umask(0077);
    ::signal(SIGPIPE, SIG_IGN);
    kata::vmmd::Policy policy = kata::vmmd::loadPolicy(policyPath);
    std::string socketDir = socketPath.substr(0, socketPath.rfind('/'));
    if (socketDir.empty()) socketDir = "/";
    kata::makeDirs(socketDir, 0711);
    kata::vmmd::checkSecureDir(socketDir);
    kata::makeDirs(stateDir, 0711);
    kata::vmmd::checkSecureDir(stateDir);

    // The launcher process, forked first: one thread, all privileges, no descriptors of the event
    // loop yet. It keeps only what the child steps of a launch need and no seccomp filter; the
    // daemon then drops those capabilities and hardens itself without QEMU's calls
    // (docs/vmmd-security.md).
    kata::vmmd::JailLauncherOptions launcherOptions;
    launcherOptions.programs = {policy.qemuBinary};
    if (!policy.virtiofsd.empty()) {
      launcherOptions.programs.push_back(policy.virtiofsd);
      launcherOptions.userNamespacePrograms.push_back(policy.virtiofsd);
    }
    launcherOptions.capabilities = kata::vmmd::launcherRequiredCapabilities();
    launcherOptions.optionalCapabilities = kata::vmmd::launcherCapabilities();
    auto launcher = kata::vmmd::JailLauncher::spawn(launcherOptions, log);

    kj::UnixEventPort::captureSignal(SIGTERM);
    kj::UnixEventPort::captureSignal(SIGINT);
    auto io = kj::setupAsyncIo();

    kata::vmmd::ManagerOptions mo;
    mo.stateDir = stateDir;
    mo.policy = policy;
    mo.cgroupRoot = cgroupRoot;
    mo.cgroupParent = cgroupParent;
    mo.launcher = launcher.get();
    mo.eventPort = &io.unixEventPort;
    if (!policy.virtiofsd.empty()) {
      // Which virtiofsd it is decides its option syntax: asked once, jailed like a VM's process.
      auto v = kata::vmmd::probeVirtiofsd(policy.virtiofsd, stateDir + "/virtiofsd-probe.log", {65534, 65534, {}, false},
                                          launcher.get(), log);
      mo.virtiofsdFlavour = v.flavour;
      log.info("virtiofsd " + policy.virtiofsd + " is the " + kata::vmmd::virtiofsdFlavourName(v.flavour) +
               " one, version " + v.version);
    }
    kata::vmmd::SandboxManager manager(mo, log);
    manager.recover();
    kata::UniqueFd listenFd = kata::ipc::listenUnix(socketPath, policy.socketMode,
                                                    policy.socketGid.value_or(static_cast<gid_t>(-1)));
    // Everything the daemon needs from its full privileges is done (policy, directories, socket,
    // re-adoption); from here it runs with the capabilities it needs and under its seccomp filter.
    // The event loop has no threads of its own, so this is still the one thread hardenDaemon needs.
    kata::vmmd::HardeningOptions hardening;
    hardening.seccompMode = kata::security::parseSeccompMode(seccompMode);
    kata::vmmd::hardenDaemon(hardening, log);
    kata::vmmd::RpcServer server(io, manager, std::move(listenFd), log);
    log.info("listening on " + socketPath + " (state " + stateDir + ", policy " + policyPath + ")");
    auto serving = server.run().eagerlyEvaluate([&](kj::Exception&& e) {
      log.error(std::string("accept loop failed: ") + e.getDescription().cStr());
    });
    auto term = io.unixEventPort.onSignal(SIGTERM).exclusiveJoin(io.unixEventPort.onSignal(SIGINT));
    siginfo_t sig = term.wait(io.waitScope);
    log.info("signal " + std::to_string(sig.si_signo) + ": shutting down, VMs keep running");
    ::unlink(socketPath.c_str());
    return 0;
  } catch (const kata::Error& e) {
    log.error(e.what());
    std::cerr << "kata-vmmd: " << e.what() << "\n";
    return 1;
  }
}
