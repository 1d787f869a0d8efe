#include "kata-ctl/lifecycle.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>

#include "common/error.h"
#include "common/fs.h"
#include "kata-ctl/containers.h"
#include "kata-ctl/context.h"
#include "kata-ctl/sandboxes.h"
#include "kata-ctl/terminal.h"
#include "runtime/sandbox/spawn.h"

namespace kata::ctl {
namespace {

// The shim reports once its process exists in the guest; creating a container in a VM that still
// boots may take the agent's whole dial timeout.
constexpr std::chrono::seconds kShimReportGrace{60};

std::string readReport(int fd, std::chrono::milliseconds timeout) {
  std::string got;
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) fail(ErrorKind::kTimeout, "the container's shim did not report within " +
                                                         std::to_string(timeout.count() / 1000) + " s");
    struct pollfd p {fd, POLLIN, 0};
    int r = ::poll(&p, 1, static_cast<int>(left.count()));
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) throwSysError(errno, "poll the shim's report");
    if (r == 0) continue;
    char buf[4096];
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throwSysError(errno, "read the shim's report");
    if (n == 0) return got;
    got.append(buf, static_cast<size_t>(n));
    if (got.size() > 1 << 20) fail(ErrorKind::kInternal, "the shim's report is larger than 1 MiB");
  }
}

UniqueFd memfdWith(const std::string& data) {
  UniqueFd fd(KATA_SYSCALL(::memfd_create("kata-process", MFD_CLOEXEC), "memfd_create"));
  size_t off = 0;
  while (off < data.size()) off += static_cast<size_t>(KATA_SYSCALL(::write(fd.get(), data.data() + off, data.size() - off), "write memfd"));
  return fd;
}

// Whether pid is the shim of container id (its command line says so; a zombie's is empty).
bool isShimOf(pid_t pid, const std::string& id) {
  if (pid <= 0 || pid == ::getpid()) return false;
  auto cmd = readFileIfExists(AT_FDCWD, "/proc/" + std::to_string(pid) + "/cmdline", 1 << 16);
  return cmd && cmd->find(std::string("__shim") + '\0' + "--id" + '\0' + id + '\0') != std::string::npos;
}

}  // namespace

std::string shimLogPath(Context& ctx, const std::string& sandboxId, const std::string& containerId) {
  return ctx.sandboxEnv().runRoot + "/" + sandboxId + "/shim-" + containerId + ".log";
}

Rollback::~Rollback() {
  for (auto it = steps_.rbegin(); it != steps_.rend(); ++it) {
    try {
      it->second();
    } catch (const std::exception& e) {
      log_.warn("rollback: " + it->first + " failed: " + e.what());
    }
  }
}

ShimReport startShim(Context& ctx, const ShimRequest& req) {
  const auto& opts = ctx.options();
  std::vector<std::string> argv = {sandbox::selfExe(), "--root", ctx.root()};
  if (opts.debug) argv.push_back("--debug");
  if (!opts.config.empty()) argv.insert(argv.end(), {"--config", opts.config});
  // The shim's stdio is the container's: its own log goes to the engine's log file, or next to the
  // sandbox's monitor log.
  if (!opts.log.empty()) argv.insert(argv.end(), {"--log", opts.log, "--log-format", opts.logFormat});
  else argv.insert(argv.end(), {"--log", shimLogPath(ctx, req.sandboxId, req.containerId)});
  argv.insert(argv.end(), {"__shim", "--id", req.containerId, "--report-fd", "3"});
  int p[2];
  KATA_SYSCALL(::pipe2(p, O_CLOEXEC), "pipe2 for the shim's report");
  UniqueFd reportRead(p[0]), reportWrite(p[1]);
  sandbox::SpawnOptions so;
  so.fds.push_back({3, reportWrite.get()});
  if (!req.execId.empty()) argv.insert(argv.end(), {"--exec-id", req.execId});
  if (req.consoleFd >= 0) {
    argv.insert(argv.end(), {"--console-fd", "4"});
    so.fds.push_back({4, req.consoleFd});
  }
  UniqueFd process;
  if (!req.process.is_null()) {
    process = memfdWith(req.process.dump());
    argv.insert(argv.end(), {"--process-fd", "5"});
    so.fds.push_back({5, process.get()});
  }
  so.argv = argv;
  so.inheritStdio = req.consoleFd < 0;
  ShimReport report;
  report.pid = sandbox::spawnHelper(so);
  reportWrite.reset();
  auto timeout = std::chrono::milliseconds(ctx.config().agent.dialTimeoutMs) + kShimReportGrace;
  std::string text = readReport(reportRead.get(), timeout);
  auto j = nlohmann::json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    ::kill(report.pid, SIGKILL);
    fail(ErrorKind::kInternal, "the container's shim (pid " + std::to_string(report.pid) + ") ended without reporting" +
                                   (text.empty() ? std::string() : ": " + text.substr(0, 500)) +
                                   (opts.log.empty() ? "; see " + argv[argv.size() - 1] : std::string()));
  }
  if (!j.value("ok", false)) {
    throw errorFromRemote(j.value("kind", "internal") + ": " + j.value("error", "unknown error"), "shim");
  }
  report.guestPid = j.value("guestPid", 0);
  return report;
}

void writePidFile(const std::string& path, pid_t pid) {
  namespace fs = std::filesystem;
  fs::path p = fs::absolute(path);
  UniqueFd dir = openDir(p.parent_path().string());
  writeFileAtomic(dir.get(), p.filename().string(), std::to_string(pid), 0644);
}

CreatedContainer createContainer(Context& ctx, const std::string& id, const CreateFlags& flags, bool detach,
                                 Standin standin) {
  oci::Spec spec = validateCreate(ctx, id, flags, detach);
  Membership member = sandboxMembership(id, spec.annotations);
  namespace fs = std::filesystem;
  std::string bundle = fs::absolute(flags.bundle.empty() ? "." : flags.bundle).lexically_normal().string();
  if (bundle.size() > 1 && bundle.back() == '/') bundle.pop_back();  // "." normalizes to "<cwd>/"
  fs::path rootfs(spec.root->path);
  if (rootfs.is_relative()) rootfs = fs::path(bundle) / rootfs;

  CreatedContainer out;
  state::ContainerState& s = out.state;
  s.id = id;
  s.bundle = bundle;
  s.rootfs = rootfs.lexically_normal().string();
  s.created = std::chrono::system_clock::now();
  s.owner = state::ownerName(::geteuid());
  s.annotations = spec.annotations;
  s.sandboxId = member.sandboxId;
  s.status = state::ContainerStatus::kCreating;
  nlohmann::json full = oci::toJson(spec);
  if (full.contains("hooks")) s.extra["hooks"] = full["hooks"];

  auto& store = ctx.store();
  auto lock = std::make_unique<state::ContainerLock>(store.create(s));
  out.rollback = std::make_unique<Rollback>(ctx.log());
  Rollback& rb = *out.rollback;
  rb.add("removing the container's state", [&ctx, id] {
    auto l = ctx.store().lock(id);
    ctx.store().remove(l);
  });

  auto& env = ctx.sandboxEnv();
  if (member.ownSandbox) {
    out.sandbox = sandbox::createSandbox(env, sandboxConfigFor(ctx, member.sandboxId, spec));
    sandbox::Sandbox* sb = out.sandbox.get();
    rb.add("removing the sandbox", [sb] { sb->deleteSandbox(); });
    out.sandbox->start();
  } else {
    if (!sandbox::Sandbox::exists(env, member.sandboxId))
      fail(ErrorKind::kNotFound, "sandbox " + member.sandboxId + " (named by the container's annotations) does not exist");
    out.sandbox = sandbox::Sandbox::open(env, member.sandboxId);
  }
  sandbox::Sandbox& sb = *out.sandbox;

  const bool terminal = spec.process && spec.process->terminal;
  if (standin == Standin::kShim) {
    std::optional<Pty> pty;
    if (terminal) {
      pty = openPty();
      makeRaw(pty->slave.get());
      sendConsole(flags.consoleSocket, *pty);
    }
    ShimReport report = startShim(ctx, ShimRequest{id, member.sandboxId, "", pty ? pty->slave.get() : -1, nullptr});
    s.pid = report.pid;
    rb.add("removing the container from the guest", [&sb, id] { sb.deleteContainer(id, true); });
    rb.add("stopping the shim", [pid = report.pid, id] {
      if (isShimOf(pid, id)) ::kill(pid, SIGKILL);
    });
  } else {
    sandbox::ProcessIo io;
    io.host = {STDIN_FILENO, STDOUT_FILENO, STDERR_FILENO};
    if (terminal) {
      io.host.err = -1;  // a terminal has one output stream
      if (::isatty(STDIN_FILENO)) {
        out.rawMode = std::make_unique<RawMode>(STDIN_FILENO);
        out.ttyFd = STDIN_FILENO;
      }
    }
    sb.createContainer(sandbox::ContainerConfig{id, oci::toJson(spec), bundle, io});
    rb.add("removing the container from the guest", [&sb, id] { sb.deleteContainer(id, true); });
    s.pid = ::getpid();
  }
  if (auto t = processStartTime(s.pid)) s.extra["pidStartTime"] = *t;
  s.status = state::ContainerStatus::kCreated;
  store.save(*lock, s);

  if (spec.hooks) {
    runContainerHooks(s, "prestart", spec.hooks->prestart);
    runContainerHooks(s, "createRuntime", spec.hooks->createRuntime);
    // The container's namespaces are inside the VM; createContainer hooks run on the host, after the
    // runtime's (docs/cli.md, "Hooks").
    runContainerHooks(s, "createContainer", spec.hooks->createContainer);
  }
  if (!flags.pidFile.empty()) writePidFile(flags.pidFile, s.pid);
  return out;
}

void startContainer(Context& ctx, sandbox::Sandbox& sb, state::ContainerState& s) {
  runContainerHooks(s, "startContainer", savedHooks(s, "startContainer"));
  sb.startContainer(s.id);
  {
    auto lock = ctx.store().lock(s.id);
    s.status = state::ContainerStatus::kRunning;
    ctx.store().save(lock, s);
  }
  try {
    runContainerHooks(s, "poststart", savedHooks(s, "poststart"));
  } catch (const Error& e) {
    ctx.log().warn(e.what());
  }
}

void removeContainer(Context& ctx, const state::ContainerState& s, bool force) {
  auto& store = ctx.store();
  auto lock = store.lock(s.id);
  auto hooks = savedHooks(s, "poststop");
  if (!s.sandboxId.empty() && sandbox::Sandbox::exists(ctx.sandboxEnv(), s.sandboxId)) {
    auto sb = sandbox::Sandbox::open(ctx.sandboxEnv(), s.sandboxId);
    try {
      sb->deleteContainer(s.id, force);
    } catch (const Error& e) {
      if (e.kind() != ErrorKind::kNotFound) throw;
    }
  }
  // The shim ends by itself once its process is gone from the guest; one that does not is killed
  // (only if the pid is still that container's shim: never another process that took the pid).
  if (isShimOf(s.pid, s.id)) {
    for (int i = 0; i < 100 && isShimOf(s.pid, s.id); ++i) ::usleep(20 * 1000);
    if (isShimOf(s.pid, s.id)) ::kill(s.pid, SIGKILL);
  }
  store.remove(lock);
  if (!s.sandboxId.empty()) {
    (void)::unlink(shimLogPath(ctx, s.sandboxId, s.id).c_str());
    deleteSandboxIfUnused(ctx, s.sandboxId);
  }
  state::ContainerState stopped = s;
  stopped.status = state::ContainerStatus::kStopped;
  try {
    runContainerHooks(stopped, "poststop", hooks);
  } catch (const Error& e) {
    ctx.log().warn(e.what());
  }
}

}  // namespace kata::ctl
