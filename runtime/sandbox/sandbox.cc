#include "runtime/sandbox/sandbox.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <thread>

#include "common/error.h"
#include "common/fs.h"
#include "common/time.h"
#include "ipc/peer_creds.h"
#include "runtime/sandbox/container_spec.h"
#include "runtime/sandbox/spawn.h"
#include "security/validate.h"

namespace kata::sandbox {
namespace {

namespace rpc = ipc::agent;

constexpr const char* kShareTag = "kataShared";  // kata-vmmd's mount tag of the sandbox share root
constexpr const char* kMonitorSocket = "monitor.sock";
constexpr std::chrono::milliseconds kCallTimeout{60000};
constexpr std::chrono::milliseconds kDestroyTimeout{20000};
constexpr std::chrono::milliseconds kShutdownWait{5000};
constexpr uint32_t kMinProtocol = 2;
constexpr uint32_t kMinProtocolVirtioFs = 4;  // SandboxConfig.sharedFs
constexpr const char* kVirtioFs = "virtio-fs";

std::string recordKey(const std::string& id) { return id + "/sandbox.json"; }
std::string containerKey(const std::string& sid, const std::string& cid) { return sid + "/containers/" + cid + ".json"; }
std::string processKey(const std::string& cid, const std::string& execId) { return cid + "/" + execId; }

kj::ArrayPtr<const kj::byte> bytes(const std::string& s) {
  return kj::arrayPtr(reinterpret_cast<const kj::byte*>(s.data()), s.size());
}

ContainerStatus fromRpc(rpc::ContainerStatus s) {
  switch (s) {
    case rpc::ContainerStatus::CREATING:
    case rpc::ContainerStatus::CREATED: return ContainerStatus::kCreated;
    case rpc::ContainerStatus::RUNNING: return ContainerStatus::kRunning;
    case rpc::ContainerStatus::PAUSED: return ContainerStatus::kPaused;
    default: return ContainerStatus::kStopped;
  }
}

bool alive(pid_t pid) { return pid > 0 && (::kill(pid, 0) == 0 || errno == EPERM); }

// Whether pid is still this sandbox's monitor (and not a process that reused its pid).
bool isMonitorOf(pid_t pid, const std::string& id) {
  if (!alive(pid)) return false;
  auto cmd = readFileIfExists(AT_FDCWD, "/proc/" + std::to_string(pid) + "/cmdline", 1 << 16);
  return cmd && cmd->find(std::string("--sandbox") + '\0' + id + '\0') != std::string::npos;
}

// Reads the monitor's readiness line ("ready <pid>\n") or its end-of-file; bounded in time.
std::string readReady(int fd, std::chrono::milliseconds timeout) {
  std::string got;
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) fail(ErrorKind::kTimeout, "the sandbox monitor did not become ready within " +
                                                         std::to_string(timeout.count() / 1000) + " s");
    struct pollfd p {fd, POLLIN, 0};
    int r = ::poll(&p, 1, static_cast<int>(left.count()));
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) throwSysError(errno, "poll monitor readiness");
    if (r == 0) continue;
    char buf[256];
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return got;
    got.append(buf, static_cast<size_t>(n));
    if (got.find('\n') != std::string::npos || got.size() > 4096) return got;
  }
}

void fillRoute(rpc::Route::Builder b, const Route& r) {
  b.setDestination(r.destination);
  b.setGateway(r.gateway);
  b.setDevice(r.device);
  b.setSource(r.source);
  b.setFamily(r.family);
  b.setMetric(r.metric);
}

std::vector<Route> routesFrom(capnp::List<rpc::Route>::Reader list) {
  std::vector<Route> out;
  for (auto r : list)
    out.push_back(Route{r.getDestination(), r.getGateway(), r.getDevice(), r.getSource(), r.getFamily(), r.getMetric()});
  return out;
}

Interface interfaceFrom(rpc::NetInterface::Reader i) {
  Interface x;
  x.name = i.getName();
  x.mac = i.getMac();
  x.mtu = i.getMtu();
  for (auto a : i.getAddresses()) x.addresses.emplace_back(a.getAddress().cStr(), a.getPrefixLength());
  return x;
}

// How long the guest may take to see a hot-plugged NIC appear.
constexpr uint32_t kNicWaitMs = 60000;

std::vector<Route> routesOf(const std::vector<Interface>& interfaces) {
  std::vector<Route> routes;
  for (const auto& i : interfaces) routes.insert(routes.end(), i.routes.begin(), i.routes.end());
  return routes;
}

}  // namespace

std::string containerStatusName(ContainerStatus s) {
  switch (s) {
    case ContainerStatus::kCreated: return "created";
    case ContainerStatus::kRunning: return "running";
    case ContainerStatus::kPaused: return "paused";
    case ContainerStatus::kStopped: return "stopped";
  }
  return "unknown";
}

// What outlives a process: the sandbox's record in the store.
struct Sandbox::Record {
  std::string id;
  std::string createdAt;
  bool monitor = false;
  int monitorPid = 0;
  std::string agentBuildId;
  std::string hostname;
  std::vector<std::string> dns;
  bool started = false;
  uint64_t nextShare = 1;
  std::chrono::milliseconds agentTimeout{60000};
  std::string netnsPath;  // the pod's network namespace ("" : loopback only)
  std::string sharedFs;   // "virtio-fs", or "" (virtio-9p)

  nlohmann::json toJson() const {
    return {{"version", 1},         {"id", id},           {"createdAt", createdAt}, {"monitor", monitor},
            {"monitorPid", monitorPid}, {"agentBuildId", agentBuildId}, {"hostname", hostname}, {"dns", dns},
            {"started", started},   {"nextShare", nextShare}, {"agentTimeoutMs", agentTimeout.count()},
            {"netnsPath", netnsPath}, {"sharedFs", sharedFs}};
  }
  static Record fromJson(const nlohmann::json& j) {
    Record r;
    r.id = j.at("id").get<std::string>();
    r.createdAt = j.value("createdAt", "");
    r.monitor = j.at("monitor").get<bool>();
    r.monitorPid = j.value("monitorPid", 0);
    r.agentBuildId = j.value("agentBuildId", "");
    r.hostname = j.value("hostname", "");
    r.dns = j.value("dns", std::vector<std::string>{});
    r.started = j.value("started", false);
    r.nextShare = j.value("nextShare", uint64_t{1});
    r.agentTimeout = std::chrono::milliseconds(j.value("agentTimeoutMs", int64_t{60000}));
    r.netnsPath = j.value("netnsPath", "");
    r.sharedFs = j.value("sharedFs", "");
    return r;
  }
};

// A process this object started: its capability and the host ends of its stdio.
struct Sandbox::ProcessState {
  rpc::Process::Client process = nullptr;
  IoStreams pipeEnds;          // handed out by ioStream()
  UniqueFd stdoutWrite, stderrWrite, stdinRead;  // our ends when the library made pipes
  kj::Maybe<kj::Promise<void>> stdinPump;
};

Sandbox::Sandbox(SandboxEnv& env, std::string id)
    : env_(env), id_(std::move(id)), log_(env.log.with("sandbox", id_)) {}

Sandbox::~Sandbox() = default;

template <typename T>
T Sandbox::call(kj::Promise<T>&& promise, const std::string& what) {
  return env_.loop.wait(kj::mv(promise), kCallTimeout, "sandbox " + id_ + ": " + what);
}

bool Sandbox::exists(SandboxEnv& env, const std::string& id) { return env.store.load(recordKey(id)).has_value(); }

std::unique_ptr<Sandbox> Sandbox::open(SandboxEnv& env, const std::string& id) {
  security::validateSandboxId(id);
  auto text = env.store.load(recordKey(id));
  if (!text) fail(ErrorKind::kNotFound, "sandbox " + id + " does not exist");
  std::unique_ptr<Sandbox> s(new Sandbox(env, id));
  try {
    s->record_ = std::make_unique<Record>(Record::fromJson(nlohmann::json::parse(*text)));
  } catch (const nlohmann::json::exception& e) {
    fail(ErrorKind::kInvalidArgument, "sandbox " + id + ": its record is corrupt (" + e.what() + ")");
  }
  return s;
}

std::unique_ptr<Sandbox> createSandbox(SandboxEnv& env, const SandboxConfig& config) {
  security::validateSandboxId(config.id);
  auto lock = env.store.lock(config.id);
  if (Sandbox::exists(env, config.id)) fail(ErrorKind::kAlreadyExists, "sandbox with given ID already exists: " + config.id);
  GuestImage image = GuestImage::load(config.guestImageDir.empty() ? defaultGuestImageDir() : config.guestImageDir);
  if (config.verifyImageHashes) image.verifyHashes();
  if (!config.sharedFs.empty() && config.sharedFs != "virtio-9p" && config.sharedFs != kVirtioFs)
    fail(ErrorKind::kInvalidArgument, "sandbox " + config.id + ": shared fs \"" + config.sharedFs +
                                          "\" is not \"virtio-9p\" or \"virtio-fs\"");
  if (config.sharedFs == kVirtioFs)
    for (const auto& m : kVirtioFsModules)
      if (!image.hasModule(m))
        fail(ErrorKind::kFailedPrecondition, "sandbox " + config.id + ": the guest image " + image.dir +
                                                 " lacks the kernel module " + m +
                                                 ", which a virtio-fs share needs; rebuild it (guest/build-image.sh)");

  std::unique_ptr<Sandbox> s(new Sandbox(env, config.id));
  s->record_ = std::make_unique<Sandbox::Record>();
  Sandbox::Record& r = *s->record_;
  r.id = config.id;
  r.createdAt = rfc3339Nano(std::chrono::system_clock::now());
  r.monitor = config.monitor.has_value();
  r.agentBuildId = image.agentBuildId;
  r.hostname = config.hostname.empty() ? config.id : config.hostname;
  r.dns = config.dns;
  r.agentTimeout = config.agentTimeout;
  r.netnsPath = config.netnsPath;
  r.sharedFs = config.sharedFs == kVirtioFs ? kVirtioFs : "";
  // The caller opens the namespace itself: kata-vmmd checks this descriptor, never a path of ours.
  UniqueFd netns;
  if (!config.netnsPath.empty()) {
    netns = UniqueFd(::open(config.netnsPath.c_str(), O_RDONLY | O_CLOEXEC));
    if (!netns) throwSysError(errno, "sandbox " + config.id + ": open the network namespace " + config.netnsPath);
  }

  const std::string runDir = env.runRoot + "/" + config.id;
  makeDirs(env.runRoot, 0700);
  if (::mkdir(runDir.c_str(), 0700) != 0 && errno != EEXIST) throwSysError(errno, "mkdir " + runDir);
  // Rollback, newest first, for a failure anywhere below.
  bool vmCreated = false;
  auto rollback = [&](const std::string& why) {
    s->log_.warn("creating the sandbox failed, rolling back: " + why);
    if (isMonitorOf(r.monitorPid, config.id)) ::kill(r.monitorPid, SIGTERM);
    if (vmCreated) {
      try {
        s->vm_->destroy(kDestroyTimeout);
      } catch (const Error& e) {
        s->log_.error(std::string("rollback: destroying the VM failed: ") + e.what());
      }
    }
    s->agent_.reset();
    if (auto mlog = readFileIfExists(AT_FDCWD, runDir + "/monitor.log", 1 << 20); mlog && !mlog->empty())
      s->log_.warn("the sandbox monitor's log: " + mlog->substr(mlog->size() > 4000 ? mlog->size() - 4000 : 0));
    removeTree(AT_FDCWD, runDir);
    try {
      env.store.remove(recordKey(config.id));
    } catch (const Error&) {
    }
  };
  try {
    VmRequest req;
    req.sandboxId = config.id;
    req.vcpus = config.vcpus;
    req.memoryMiB = config.memoryMiB;
    req.accel = config.accel;
    req.image = &image;
    req.kernelParams = config.kernelParams;
    req.hotplugSlots = config.hotplugSlots;
    req.netnsFd = netns.get();
    req.networkModel = config.networkModel;
    req.netQueues = config.netQueues;
    req.sharedFs = r.sharedFs;
    UniqueFd agentFd;
    s->vm_ = env.factory.create(req, agentFd);
    vmCreated = true;
    if (config.monitor) {
      int p[2];
      KATA_SYSCALL(::pipe2(p, O_CLOEXEC), "pipe2 for the monitor's readiness");
      UniqueFd readyRead(p[0]), readyWrite(p[1]);
      SpawnOptions so;
      so.argv = config.monitor->argv;
      so.argv.insert(so.argv.end(), {"--sandbox", config.id, "--run-dir", runDir, "--agent-fd", "3", "--ready-fd", "4",
                                     "--agent-timeout-ms", std::to_string(config.agentTimeout.count())});
      so.fds = {{3, agentFd.get()}, {4, readyWrite.get()}};
      r.monitorPid = spawnHelper(so);
      readyWrite.reset();
      agentFd.reset();
      std::string line = readReady(readyRead.get(), config.agentTimeout + std::chrono::seconds(5));
      if (line.rfind("ready", 0) != 0) {
        std::string tail = readFileIfExists(AT_FDCWD, runDir + "/monitor.log", 1 << 20).value_or("");
        if (tail.size() > 2000) tail = tail.substr(tail.size() - 2000);
        fail(ErrorKind::kFailedPrecondition, "the sandbox monitor failed to start" +
                                                 (line.empty() ? std::string() : ": " + line) +
                                                 (tail.empty() ? std::string() : "; its log ends with: " + tail));
      }
    } else {
      s->agent_ = std::make_unique<AgentLink>(env.loop, std::move(agentFd));
    }
    s->saveRecord();
  } catch (const Error& e) {
    rollback(e.what());
    throw;
  }
  return s;
}

void Sandbox::saveRecord() { env_.store.save(recordKey(id_), record_->toJson().dump(2)); }

void Sandbox::connectAgent() {
  if (agent_) return;
  if (!record_->monitor)
    fail(ErrorKind::kFailedPrecondition, "sandbox " + id_ + " is served in the process that created it (no monitor); "
                                         "open it from that process");
  const std::string socket = env_.runRoot + "/" + id_ + "/" + kMonitorSocket;
  try {
    agent_ = std::make_unique<AgentLink>(env_.loop, ipc::connectUnix(socket));
  } catch (const Error& e) {
    throw Error(ErrorKind::kFailedPrecondition,
                "sandbox " + id_ + ": its monitor does not answer (" + e.what() + "); the VM may have stopped. "
                "Delete the sandbox's containers (kata-ctl delete --force) to clean up");
  }
}

rpc::Agent::Client Sandbox::agent() {
  connectAgent();
  return agent_->agent();
}

void Sandbox::start() {
  auto a = agent();
  auto version = call(a.versionRequest().send(), "waiting for the agent");
  auto v = version.getVersion();
  if (v.getProtocolVersion() < kMinProtocol)
    fail(ErrorKind::kFailedPrecondition, "sandbox " + id_ + ": the guest agent speaks protocol " +
                                             std::to_string(v.getProtocolVersion()) + ", this runtime needs " +
                                             std::to_string(kMinProtocol) + " or later: rebuild the guest image");
  if (record_->sharedFs == kVirtioFs && v.getProtocolVersion() < kMinProtocolVirtioFs)
    fail(ErrorKind::kFailedPrecondition, "sandbox " + id_ + ": the guest agent speaks protocol " +
                                             std::to_string(v.getProtocolVersion()) + ", which cannot mount a virtio-fs share (" +
                                             std::to_string(kMinProtocolVirtioFs) + " or later can): rebuild the guest image");
  if (!record_->agentBuildId.empty() && record_->agentBuildId != v.getBuildId().cStr())
    fail(ErrorKind::kFailedPrecondition, "sandbox " + id_ + ": the guest agent's build id " +
                                             std::string(v.getBuildId().cStr()) + " is not the one in the image's manifest (" +
                                             record_->agentBuildId + "): the image is inconsistent, rebuild it");
  auto req = a.createSandboxRequest();
  auto cfg = req.initConfig();
  cfg.setId(id_);
  cfg.setHostname(record_->hostname.substr(0, 64));
  auto dns = cfg.initDns(static_cast<unsigned>(record_->dns.size()));
  for (unsigned i = 0; i < record_->dns.size(); ++i) dns.set(i, record_->dns[i]);
  cfg.initSharedMounts(1).set(0, kShareTag);
  if (record_->sharedFs == kVirtioFs) cfg.setSharedFs(kVirtioFs);
  call(req.send(), "preparing the guest");
  if (!record_->netnsPath.empty()) {
    // The guest looks exactly like the pod's namespace: its interfaces (same MAC, name, MTU,
    // addresses), then the routes of all of them at once (updateRoutes replaces the table).
    std::vector<Interface> net = vm().network();
    configureGuestInterfaces(net);
    if (!net.empty()) updateRoutes(routesOf(net));
    log_.info("guest network configured: " + std::to_string(net.size()) + " interface(s)");
  }
  record_->started = true;
  saveRecord();
}

std::vector<std::string> Sandbox::containerIds() {
  std::vector<std::string> ids;
  const std::string prefix = id_ + "/containers/";
  for (const auto& key : env_.store.list(prefix)) {
    std::string name = key.substr(prefix.size());
    if (name.size() > 5 && name.ends_with(".json")) ids.push_back(name.substr(0, name.size() - 5));
  }
  return ids;
}

rpc::Container::Client Sandbox::container(const std::string& id) {
  auto req = agent().containerRequest();
  req.setId(id);
  return req.send().getContainer();
}

rpc::Process::Client Sandbox::process(const std::string& containerId, const std::string& execId) {
  auto it = processes_.find(processKey(containerId, execId));
  if (it != processes_.end()) return it->second->process;
  auto req = container(containerId).processRequest();
  req.setExecId(execId);
  return req.send().getProcess();
}

rpc::Stdio::Builder Sandbox::fillStdio(rpc::Stdio::Builder stdio, const ProcessIo& io, const std::string& key) {
  auto state = std::make_unique<ProcessState>();
  int out = io.host.out, err = io.host.err;
  if (io.pipes) {
    int p[2];
    KATA_SYSCALL(::pipe2(p, O_CLOEXEC), "pipe2 stdout");
    state->pipeEnds.stdoutRead = UniqueFd(p[0]);
    state->stdoutWrite = UniqueFd(p[1]);
    KATA_SYSCALL(::pipe2(p, O_CLOEXEC), "pipe2 stderr");
    state->pipeEnds.stderrRead = UniqueFd(p[0]);
    state->stderrWrite = UniqueFd(p[1]);
    KATA_SYSCALL(::pipe2(p, O_CLOEXEC), "pipe2 stdin");
    state->stdinRead = UniqueFd(p[0]);
    state->pipeEnds.stdinWrite = UniqueFd(p[1]);
    out = state->stdoutWrite.get();
    err = state->stderrWrite.get();
  }
  // A terminal is one descriptor for both directions; the event loop watches each direction on a
  // descriptor of its own.
  if (!io.pipes && out >= 0 && out == io.host.in) {
    state->stdoutWrite = UniqueFd(KATA_SYSCALL(::fcntl(out, F_DUPFD_CLOEXEC, 3), "dup the terminal"));
    out = state->stdoutWrite.get();
  }
  Logger plog = log_.with("process", key);
  if (out >= 0) stdio.setStdout(makeHostSink(env_.loop, out, "stdout", plog));
  if (err >= 0) stdio.setStderr(makeHostSink(env_.loop, err, "stderr", plog));
  processes_[key] = std::move(state);
  return stdio;
}

void Sandbox::afterStart(const std::string& key, rpc::Process::Client proc, const ProcessIo& io) {
  ProcessState& st = *processes_.at(key);
  st.process = proc;
  int in = io.pipes ? st.stdinRead.get() : io.host.in;
  auto stream = proc.stdinRequest().send().getStream();
  st.stdinPump = pumpIntoStdin(env_.loop, in, stream, log_.with("process", key))
                     .catch_([this, key](kj::Exception&& e) {
                       log_.debug("stdin of " + key + ": " + e.getDescription().cStr());
                     })
                     .eagerlyEvaluate(nullptr);
}

ContainerStatusInfo Sandbox::createContainer(const ContainerConfig& config) {
  Logger log = log_.with("container", config.id);
  auto lock = env_.store.lock(id_);
  // Another process may have changed the record (share counter) since we opened it, or deleted it.
  auto current = env_.store.load(recordKey(id_));
  if (!current) fail(ErrorKind::kNotFound, "sandbox " + id_ + " does not exist (it was deleted)");
  *record_ = Record::fromJson(nlohmann::json::parse(*current));
  if (env_.store.load(containerKey(id_, config.id)))
    fail(ErrorKind::kAlreadyExists, "container " + config.id + " already exists in sandbox " + id_);
  GuestContainerSpec g = prepareGuestSpec(config.spec, config.bundle, kShareTag, [&] {
    return "c" + std::to_string(record_->nextShare++);
  });
  saveRecord();  // the share names are taken even if what follows fails

  std::vector<std::string> shared;
  auto unshareAll = [&] {
    for (auto it = shared.rbegin(); it != shared.rend(); ++it) {
      try {
        vm().unshare(*it);
      } catch (const Error& e) {
        log.warn("rollback: unsharing " + *it + " failed: " + e.what());
      }
    }
  };
  try {
    for (const auto& share : g.shares) {
      vm().share(share.fd.get(), share.name, share.readOnly);
      shared.push_back(share.name);
    }
    nlohmann::json rec = {{"id", config.id}, {"shares", shared}, {"createdAt", rfc3339Nano(std::chrono::system_clock::now())}};
    env_.store.save(containerKey(id_, config.id), rec.dump());

    const std::string key = processKey(config.id, "");
    auto req = agent().createContainerRequest();
    auto cfg = req.initConfig();
    cfg.setId(config.id);
    std::string specText = g.spec.dump();
    cfg.setOciSpecJson(bytes(specText));
    cfg.setRootfsShare(kShareTag);
    cfg.setRootfsPath(g.rootfsPath);
    fillStdio(req.initStdio(), config.io, key);
    auto created = call(req.send(), "creating container " + config.id);
    afterStart(key, created.getInit(), config.io);
    log.info("container created in the guest");
  } catch (const Error& e) {
    processes_.erase(processKey(config.id, ""));
    try {
      env_.store.remove(containerKey(id_, config.id));
    } catch (const Error&) {
    }
    unshareAll();
    throw;
  }
  return statusContainer(config.id);
}

Vm& Sandbox::vm() {
  if (!vm_) vm_ = env_.factory.open(id_);
  return *vm_;
}

void Sandbox::deleteContainer(const std::string& id, bool force) {
  auto lock = env_.store.lock(id_);
  deleteContainerLocked(id, force);
}

void Sandbox::deleteContainerLocked(const std::string& id, bool force) {
  Logger log = log_.with("container", id);
  auto text = env_.store.load(containerKey(id_, id));
  if (!text) fail(ErrorKind::kNotFound, "container " + id + " does not exist in sandbox " + id_);
  auto rec = nlohmann::json::parse(*text);
  try {
    auto req = container(id).removeRequest();
    req.setForce(force);
    call(req.send(), "removing container " + id);
  } catch (const Error& e) {
    // Gone from the guest already (or the guest is gone): the host side is cleaned up regardless.
    if (e.kind() != ErrorKind::kNotFound && e.kind() != ErrorKind::kFailedPrecondition) throw;
    log.warn(std::string("the guest could not remove the container: ") + e.what());
  }
  processes_.erase(processKey(id, ""));
  for (const auto& name : rec.value("shares", std::vector<std::string>{})) {
    try {
      vm().unshare(name);
    } catch (const Error& e) {
      if (e.kind() != ErrorKind::kNotFound) log.warn("unsharing " + name + " failed: " + e.what());
    }
  }
  env_.store.remove(containerKey(id_, id));
}

void Sandbox::startContainer(const std::string& id) { call(container(id).startRequest().send(), "starting container " + id); }

void Sandbox::killContainer(const std::string& id, int sig, bool all) {
  auto req = container(id).signalRequest();
  req.setSignal(sig);
  req.setAll(all);
  call(req.send(), "signalling container " + id);
}

void Sandbox::stopContainer(const std::string& id, bool force, std::chrono::milliseconds grace) {
  auto st = statusContainer(id);
  if (st.status == ContainerStatus::kStopped) return;
  if (st.status == ContainerStatus::kPaused) resumeContainer(id);
  auto waiting = process(id, "").waitRequest().send();
  killContainer(id, force ? SIGKILL : SIGTERM, false);
  try {
    env_.loop.wait(kj::mv(waiting), force ? kCallTimeout : grace, "stopping container " + id);
  } catch (const Error& e) {
    if (e.kind() != ErrorKind::kTimeout || force) throw;
    log_.info("container " + id + " did not stop within the grace period; killing it");
    killContainer(id, SIGKILL, true);
    call(process(id, "").waitRequest().send(), "waiting for container " + id + " to die");
  }
}

std::string Sandbox::enterContainer(const std::string& id, const std::string& execId, const nlohmann::json& process,
                                    const ProcessIo& io) {
  const std::string key = processKey(id, execId);
  if (processes_.count(key)) fail(ErrorKind::kAlreadyExists, "process " + execId + " of container " + id + " exists");
  auto req = container(id).execRequest();
  req.initSpec().setExecId(execId);
  std::string text = process.dump();
  req.getSpec().setProcessJson(bytes(text));
  fillStdio(req.initStdio(), io, key);
  try {
    auto r = call(req.send(), "executing a process in container " + id);
    afterStart(key, r.getProcess(), io);
  } catch (...) {
    processes_.erase(key);
    throw;
  }
  return execId;
}

void Sandbox::pauseContainer(const std::string& id) { call(container(id).pauseRequest().send(), "pausing container " + id); }
void Sandbox::resumeContainer(const std::string& id) { call(container(id).resumeRequest().send(), "resuming container " + id); }

std::vector<ProcessInfo> Sandbox::processListContainer(const std::string& id) {
  auto r = call(container(id).processListRequest().send(), "listing the processes of container " + id);
  std::vector<ProcessInfo> out;
  for (auto p : r.getProcesses()) {
    ProcessInfo i;
    i.pid = p.getPid();
    i.ppid = p.getPpid();
    i.uid = p.getUid();
    i.startWallNs = p.getStartWallNs();
    i.cpuTimeNs = p.getCpuTimeNs();
    i.tty = p.getTty();
    for (auto a : p.getCmdline()) i.cmdline.emplace_back(a.cStr(), a.size());
    i.comm = p.getComm();
    i.state = p.getState();
    out.push_back(std::move(i));
  }
  return out;
}

std::vector<int> Sandbox::pidsContainer(const std::string& id) {
  auto r = call(container(id).psRequest().send(), "listing the processes of container " + id);
  std::vector<int> pids;
  for (auto p : r.getPids()) pids.push_back(p);
  return pids;
}

ContainerStats Sandbox::statsContainer(const std::string& id) {
  auto r = call(container(id).statsRequest().send(), "reading the stats of container " + id);
  auto s = r.getStats();
  return ContainerStats{s.getCpuUsageNs(), s.getMemoryUsageBytes(), s.getMemoryLimitBytes(), s.getPids(), s.getOomKills()};
}

ContainerStatusInfo Sandbox::statusContainer(const std::string& id) {
  auto r = call(container(id).stateRequest().send(), "reading the state of container " + id);
  return ContainerStatusInfo{id, fromRpc(r.getState().getStatus()), r.getState().getInitPid()};
}

void Sandbox::updateContainer(const std::string& id, const nlohmann::json& resources) {
  auto req = container(id).updateRequest();
  std::string text = resources.dump();
  req.setResourcesJson(bytes(text));
  call(req.send(), "updating container " + id);
}

kj::Promise<ExitStatus> Sandbox::waitProcessAsync(const std::string& containerId, const std::string& execId) {
  return process(containerId, execId).waitRequest().send().then([](auto&& r) {
    auto s = r.getStatus();
    ExitStatus e;
    e.code = s.getCode();
    if (s.isSignaled()) e.signal = s.getSignaled();
    return e;
  });
}

ExitStatus Sandbox::waitProcess(const std::string& containerId, const std::string& execId) {
  return env_.loop.waitForever(waitProcessAsync(containerId, execId),
                               "sandbox " + id_ + ": waiting for process " + processKey(containerId, execId));
}

void Sandbox::signalProcess(const std::string& containerId, const std::string& execId, int sig) {
  auto req = process(containerId, execId).signalRequest();
  req.setSignal(sig);
  call(req.send(), "signalling process " + processKey(containerId, execId));
}

void Sandbox::winsizeProcess(const std::string& containerId, const std::string& execId, unsigned rows, unsigned cols) {
  auto req = process(containerId, execId).resizeTtyRequest();
  req.setRows(static_cast<uint16_t>(std::min(rows, 65535u)));
  req.setCols(static_cast<uint16_t>(std::min(cols, 65535u)));
  call(req.send(), "resizing the terminal of " + processKey(containerId, execId));
}

void Sandbox::signalProcessAsync(const std::string& containerId, const std::string& execId, int sig) {
  auto req = process(containerId, execId).signalRequest();
  req.setSignal(sig);
  tasks_.add(req.send().ignoreResult());
}

void Sandbox::winsizeProcessAsync(const std::string& containerId, const std::string& execId, unsigned rows,
                                  unsigned cols) {
  auto req = process(containerId, execId).resizeTtyRequest();
  req.setRows(static_cast<uint16_t>(std::min(rows, 65535u)));
  req.setCols(static_cast<uint16_t>(std::min(cols, 65535u)));
  tasks_.add(req.send().ignoreResult());
}

void Sandbox::TaskErrors::taskFailed(kj::Exception&& e) { sandbox.log_.warn(std::string("sandbox call failed: ") + e.getDescription().cStr()); }

void Sandbox::closeStdin(const std::string& containerId, const std::string& execId) {
  call(process(containerId, execId).closeStdinRequest().send(), "closing the stdin of " + processKey(containerId, execId));
}

IoStreams Sandbox::ioStream(const std::string& containerId, const std::string& execId) {
  auto it = processes_.find(processKey(containerId, execId));
  if (it == processes_.end() || !it->second->pipeEnds.stdoutRead)
    fail(ErrorKind::kNotFound, "process " + processKey(containerId, execId) +
                                   " has no I/O streams here (it was not started with ProcessIo::pipes by this process, "
                                   "or they were taken already)");
  return std::move(it->second->pipeEnds);
}

kj::Promise<uint64_t> Sandbox::nextOomCountAsync(const std::string& id, uint64_t seen) {
  auto req = container(id).nextOomEventRequest();
  req.setSeen(seen);
  return req.send().then([](auto&& r) { return r.getOomKills(); });
}

uint64_t Sandbox::nextOomCount(const std::string& id, uint64_t seen) {
  return env_.loop.waitForever(nextOomCountAsync(id, seen), "sandbox " + id_ + ": watching container " + id + " for OOM kills");
}

std::string Sandbox::getOOMEvent() {
  std::map<std::string, uint64_t> seen;
  for (const auto& id : containerIds()) {
    try {
      if (statusContainer(id).status != ContainerStatus::kStopped) seen[id] = statsContainer(id).oomKills;
    } catch (const Error&) {
    }
  }
  while (!seen.empty()) {
    kj::Maybe<kj::Promise<std::pair<std::string, uint64_t>>> any;
    for (const auto& entry : seen) {
      std::string id = entry.first;  // a named copy: clang cannot capture structured bindings
      auto req = container(id).nextOomEventRequest();
      req.setSeen(entry.second);
      auto p = req.send().then([id](auto&& r) { return std::make_pair(id, r.getOomKills()); });
      KJ_IF_MAYBE(prev, any) { any = prev->exclusiveJoin(kj::mv(p)); }
      else any = kj::mv(p);
    }
    KJ_IF_MAYBE(p, any) {
      auto [id, count] = env_.loop.waitForever(kj::mv(*p), "sandbox " + id_ + ": watching for OOM kills");
      if (count > seen[id]) return id;
      seen.erase(id);  // stopped without another OOM kill
    }
  }
  fail(ErrorKind::kFailedPrecondition, "sandbox " + id_ + " has no running containers to watch for OOM kills");
}

std::string Sandbox::updateRuntimeMetrics() {
  VmStats s = vm().stats();
  VmInfo i = vm().info();
  std::string l = "{sandbox=\"" + id_ + "\"}";
  return "# TYPE kata_vm_memory_base_bytes gauge\nkata_vm_memory_base_bytes" + l + " " + std::to_string(s.memoryBaseBytes) +
         "\n# TYPE kata_vm_balloon_actual_bytes gauge\nkata_vm_balloon_actual_bytes" + l + " " +
         std::to_string(s.balloonActualBytes) + "\n# TYPE kata_vm_vcpus gauge\nkata_vm_vcpus" + l + " " +
         std::to_string(s.vcpus) + "\n# TYPE kata_vm_running gauge\nkata_vm_running" + l + " " +
         (i.state == "running" ? "1" : "0") + "\n";
}

std::string Sandbox::getAgentMetrics() {
  return call(agent().metricsRequest().send(), "reading the agent's metrics").getText().cStr();
}

std::string Sandbox::addDevice(const HotplugDevice& device) {
  vm().hotplug(device);
  if (device.kind != HotplugDevice::Kind::kBlock) return "";
  auto req = agent().waitBlockDeviceRequest();
  req.setSerial(device.id);
  req.setTimeoutMs(30000);
  try {
    return call(req.send(), "waiting for block device " + device.id + " in the guest").getDevicePath().cStr();
  } catch (const Error&) {
    try {
      vm().unplug(device.id, std::chrono::seconds(10));
    } catch (const Error& e) {
      log_.warn("rollback: unplugging " + device.id + " failed: " + e.what());
    }
    throw;
  }
}

void Sandbox::configureGuestInterfaces(const std::vector<Interface>& interfaces) {
  for (const auto& i : interfaces) {
    auto req = agent().updateInterfaceRequest();
    auto ni = req.initInterface();
    ni.setName(i.name);
    ni.setMac(i.mac);
    ni.setMtu(i.mtu);
    ni.setUp(true);
    auto addrs = ni.initAddresses(static_cast<unsigned>(i.addresses.size()));
    for (unsigned k = 0; k < i.addresses.size(); ++k) {
      addrs[k].setAddress(i.addresses[k].first);
      addrs[k].setPrefixLength(static_cast<uint8_t>(i.addresses[k].second));
    }
    req.setTimeoutMs(kNicWaitMs);
    env_.loop.wait(req.send(), std::chrono::milliseconds(kNicWaitMs) + kCallTimeout,
                   "sandbox " + id_ + ": configuring interface " + i.name + " in the guest");
  }
}

Interface Sandbox::addInterface(const Interface& interface) {
  if (record_->netnsPath.empty())
    fail(ErrorKind::kFailedPrecondition, "sandbox " + id_ + " was created without a network namespace: there is no pod "
                                         "network to carry interface " + interface.name + " from");
  if (interface.name.empty()) fail(ErrorKind::kInvalidArgument, "addInterface: the interface needs the name it has in the pod's namespace");
  auto added = vm().attachNetwork(-1, interface.name);
  if (added.empty())
    fail(ErrorKind::kNotFound, "sandbox " + id_ + ": kata-vmmd carried no interface named " + interface.name);
  try {
    // Routes are the whole set of the carried interfaces (updateRoutes replaces the table).
    configureGuestInterfaces(added);
    updateRoutes(routesOf(vm().network()));
  } catch (const Error&) {
    for (const auto& a : added) {
      try {
        vm().detachInterface(a.name, std::chrono::seconds(10));
      } catch (const Error& e) {
        log_.warn("rollback: detaching " + a.name + " failed: " + e.what());
      }
    }
    throw;
  }
  for (const auto& i : listInterfaces())
    if (i.mac == added.front().mac) return i;
  return added.front();
}

void Sandbox::removeInterface(const Interface& interface) {
  // By MAC when the caller gives one (the guest's name may differ), else by the pod's name.
  std::optional<Interface> carried;
  for (auto& i : vm().network())
    if (interface.mac.empty() ? i.name == interface.name : i.mac == interface.mac) carried = std::move(i);
  if (!carried)
    fail(ErrorKind::kNotFound, "sandbox " + id_ + ": no carried interface " +
                                   (interface.mac.empty() ? "named " + interface.name : "with MAC " + interface.mac));
  auto req = agent().removeInterfaceRequest();
  req.setMac(carried->mac);
  call(req.send(), "removing interface " + carried->name + " in the guest");
  vm().detachInterface(carried->name, std::chrono::seconds(30));
}

std::vector<Interface> Sandbox::listInterfaces() {
  auto r = call(agent().listInterfacesRequest().send(), "listing the guest's interfaces");
  std::vector<Interface> out;
  for (auto i : r.getInterfaces()) out.push_back(interfaceFrom(i));
  return out;
}

std::vector<Route> Sandbox::updateRoutes(const std::vector<Route>& routes) {
  auto req = agent().updateRoutesRequest();
  auto list = req.initRoutes(static_cast<unsigned>(routes.size()));
  for (unsigned i = 0; i < routes.size(); ++i) fillRoute(list[i], routes[i]);
  return routesFrom(call(req.send(), "updating the guest's routes").getRoutes());
}

std::vector<Route> Sandbox::listRoutes() {
  return routesFrom(call(agent().listRoutesRequest().send(), "listing the guest's routes").getRoutes());
}

SandboxStatusInfo Sandbox::status() {
  SandboxStatusInfo s;
  s.id = id_;
  s.vm = vm().info();
  if (s.vm.state == "running" || s.vm.state == "paused")
    for (const auto& id : containerIds()) {
      try {
        s.containers.push_back(statusContainer(id));
      } catch (const Error& e) {
        s.containers.push_back(ContainerStatusInfo{id, ContainerStatus::kStopped, 0});
      }
    }
  return s;
}

SandboxStats Sandbox::stats() {
  SandboxStats s;
  s.vm = vm().stats();
  for (const auto& id : containerIds()) {
    try {
      s.containers[id] = statsContainer(id);
    } catch (const Error&) {
    }
  }
  return s;
}

kj::Promise<std::string> Sandbox::monitor() {
  connectAgent();
  return agent_->onDisconnect().then([]() -> std::string { return "the connection to the sandbox's agent ended"; });
}

void Sandbox::release() {
  processes_.clear();
  agent_.reset();
  vm_.reset();
}

void Sandbox::stop(bool force, std::chrono::milliseconds grace) {
  for (const auto& id : containerIds()) {
    try {
      stopContainer(id, force, grace);
    } catch (const Error& e) {
      log_.warn("stopping container " + id + " failed: " + e.what());
    }
  }
  try {
    call(agent().shutdownRequest().send(), "shutting the guest down");
  } catch (const Error& e) {
    log_.warn(std::string("the guest did not shut down cleanly: ") + e.what());
  }
}

bool Sandbox::deleteIfUnused() {
  auto lock = env_.store.lock(id_);
  if (!env_.store.load(recordKey(id_)) || !containerIds().empty()) return false;
  deleteSandboxLocked();
  return true;
}

void Sandbox::deleteSandbox() {
  auto lock = env_.store.lock(id_);
  deleteSandboxLocked();
}

void Sandbox::deleteSandboxLocked() {
  for (const auto& id : containerIds()) {
    try {
      deleteContainerLocked(id, true);
    } catch (const Error& e) {
      log_.warn("removing container " + id + " failed: " + e.what() + "; removing its record");
      env_.store.remove(containerKey(id_, id));
    }
  }
  processes_.clear();
  // A guest asked to power off is gone in well under a second; kata-vmmd's own stop would first wait
  // for an ACPI power-down the guest does not handle. The connection closes when QEMU exits.
  try {
    connectAgent();
    auto gone = agent_->onDisconnect();
    call(agent_->agent().shutdownRequest().send(), "shutting the guest down");
    env_.loop.wait(kj::mv(gone), kShutdownWait, "waiting for the guest to power off");
  } catch (const Error& e) {
    log_.debug(std::string("the guest did not power off by itself: ") + e.what());
  }
  agent_.reset();
  try {
    vm().destroy(kDestroyTimeout);
  } catch (const Error& e) {
    if (e.kind() != ErrorKind::kNotFound) throw;
  }
  vm_.reset();
  // The monitor ends when the agent's connection does; make sure of it.
  if (isMonitorOf(record_->monitorPid, id_)) ::kill(record_->monitorPid, SIGTERM);
  if (auto mlog = readFileIfExists(AT_FDCWD, env_.runRoot + "/" + id_ + "/monitor.log", 1 << 20); mlog && !mlog->empty())
    log_.debug("the sandbox monitor's log: " + mlog->substr(mlog->size() > 4000 ? mlog->size() - 4000 : 0));
  removeTree(AT_FDCWD, env_.runRoot + "/" + id_);
  env_.store.remove(recordKey(id_));
}

}  // namespace kata::sandbox
