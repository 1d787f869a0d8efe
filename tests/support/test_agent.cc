#include "tests/support/test_agent.h"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <list>

#include <capnp/rpc-twoparty.h>
#include <kj/async-io.h>
#include <kj/debug.h>

#include "common/error.h"
#include "common/sha256.h"
#include "ipc/agent.capnp.h"
#include "ipc/peer_creds.h"
#include "tests/support/run_support.h"

namespace kata::test {

namespace rpc = ipc::agent;

namespace {

kj::Exception tagged(const std::string& text) {
  return kj::Exception(kj::Exception::Type::FAILED, __FILE__, __LINE__, kj::heapString(text));
}

std::string text(capnp::Data::Reader d) { return std::string(reinterpret_cast<const char*>(d.begin()), d.size()); }

kj::ArrayPtr<const kj::byte> bytes(const std::string& s) {
  return kj::arrayPtr(reinterpret_cast<const kj::byte*>(s.data()), s.size());
}

rpc::ContainerStatus statusEnum(const std::string& s) {
  if (s == "created") return rpc::ContainerStatus::CREATED;
  if (s == "running") return rpc::ContainerStatus::RUNNING;
  if (s == "paused") return rpc::ContainerStatus::PAUSED;
  return rpc::ContainerStatus::STOPPED;
}

}  // namespace

// Everything that lives on the agent's thread: the connections, the live processes (their output
// capabilities and waiters), and the servers' way back to the shared state.
struct TestAgent::Guest {
  struct Proc {
    kj::Maybe<rpc::ByteStream::Client> out, err;
    ScriptedProcess script;
    bool started = false;
    bool outputDone = false;
    bool stdinDone = false;
    bool exited = false;
    int code = 0;
    std::optional<int> signaled;
    std::vector<kj::Own<kj::PromiseFulfiller<void>>> waiters;
  };
  struct Ctr {
    std::map<std::string, std::unique_ptr<Proc>> procs;
    std::vector<kj::Own<kj::PromiseFulfiller<void>>> oomWaiters;
  };
  struct Conn {
    kj::Own<kj::AsyncIoStream> stream;
    kj::Promise<void> serving = nullptr;
  };
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wnon-virtual-dtor"
  struct Errors final : kj::TaskSet::ErrorHandler {
    void taskFailed(kj::Exception&&) override {}
  };
#pragma GCC diagnostic pop

  Guest(TestAgent& a, kj::AsyncIoContext& c) : agent(a), io(c) {}

  TestAgent& agent;
  kj::AsyncIoContext& io;
  std::map<std::string, Ctr> ctrs;
  std::list<Conn> conns;
  Errors errors;
  kj::Own<kj::TaskSet> tasks = kj::heap<kj::TaskSet>(errors);
  int nextPid = 100;

  // Changes the shared state under its lock and wakes waitForCall.
  template <typename F>
  auto state(F&& f) {
    struct Notify {
      std::condition_variable& cv;
      ~Notify() { cv.notify_all(); }
    } notify{agent.changed_};
    std::lock_guard<std::mutex> lock(agent.mu_);
    return f(agent.state_);
  }
  void record(const std::string& call) {
    state([&](TestAgentState& s) { s.calls.push_back(call); });
  }

  Ctr& ctr(const std::string& id) {
    auto it = ctrs.find(id);
    if (it == ctrs.end()) throw tagged("not-found: container " + id + " does not exist");
    return it->second;
  }
  Proc& proc(const std::string& id, const std::string& execId) {
    auto& c = ctr(id);
    auto it = c.procs.find(execId);
    if (it == c.procs.end()) throw tagged("not-found: process " + execId + " of container " + id + " does not exist");
    return *it->second;
  }

  void exit(const std::string& id, const std::string& execId, int code, std::optional<int> sig) {
    Proc& p = proc(id, execId);
    if (p.exited) return;
    p.exited = true;
    p.code = code;
    p.signaled = sig;
    state([&](TestAgentState& s) {
      auto& c = s.containers[id];
      c.processes[execId].exited = true;
      c.processes[execId].exitCode = code;
      if (execId.empty()) c.status = "stopped";
    });
    for (auto& w : p.waiters) w->fulfill();
    p.waiters.clear();
    if (execId.empty()) wakeOom(id);
  }
  void wakeOom(const std::string& id) {
    auto it = ctrs.find(id);
    if (it == ctrs.end()) return;
    for (auto& w : it->second.oomWaiters) w->fulfill();
    it->second.oomWaiters.clear();
  }

  static kj::Promise<void> emit(kj::Maybe<rpc::ByteStream::Client>& stream, const std::string& data) {
    KJ_IF_MAYBE(s, stream) {
      auto client = *s;
      kj::Promise<void> written = kj::READY_NOW;
      if (!data.empty()) {
        auto req = client.writeRequest();
        req.setData(bytes(data));
        written = req.send();
      }
      return written.then([client]() mutable { return client.endRequest().send().ignoreResult(); });
    }
    return kj::READY_NOW;
  }

  // Runs a process's script: its output, then its exit (unless it keeps running).
  void run(const std::string& id, const std::string& execId) {
    Proc& p = proc(id, execId);
    p.started = true;
    auto out = emit(p.out, p.script.out);
    auto err = emit(p.err, p.script.err);
    tasks->add(out.then([err = kj::mv(err)]() mutable { return kj::mv(err); }).then([this, id, execId] {
      Proc& q = proc(id, execId);
      q.outputDone = true;
      if (!q.script.runs && (!q.script.untilStdinEnds || q.stdinDone)) exit(id, execId, q.script.exitCode, std::nullopt);
    }));
  }

  void stdinEnded(const std::string& id, const std::string& execId) {
    state([&](TestAgentState& s) { s.containers[id].processes[execId].stdinEnded = true; });
    auto c = ctrs.find(id);
    if (c == ctrs.end() || !c->second.procs.count(execId)) return;
    Proc& p = *c->second.procs[execId];
    p.stdinDone = true;
    if (p.outputDone && !p.script.runs && p.script.untilStdinEnds) exit(id, execId, p.script.exitCode, std::nullopt);
  }

  // A signal as a process of the script takes it.
  void deliver(const std::string& id, const std::string& execId, int sig) {
    Proc& p = proc(id, execId);
    if (p.exited || !p.started) return;
    if (sig == SIGKILL || (sig == SIGTERM && !p.script.ignoresSigterm)) exit(id, execId, 128 + sig, sig);
  }

  void attachStdio(Proc& p, rpc::Stdio::Reader stdio) {
    if (stdio.hasStdout()) p.out = stdio.getStdout();
    if (stdio.hasStderr()) p.err = stdio.getStderr();
  }
};

namespace {

using Guest = TestAgent::Guest;

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wnon-virtual-dtor"

class StdinServer final : public rpc::ByteStream::Server {
 public:
  StdinServer(Guest& g, std::string id, std::string execId) : g_(g), id_(std::move(id)), execId_(std::move(execId)) {}
  kj::Promise<void> write(WriteContext context) override {
    std::string data = text(context.getParams().getData());
    g_.state([&](TestAgentState& s) { s.containers[id_].processes[execId_].stdinData += data; });
    return kj::READY_NOW;
  }
  kj::Promise<void> end(EndContext) override {
    g_.stdinEnded(id_, execId_);
    return kj::READY_NOW;
  }

 private:
  Guest& g_;
  std::string id_, execId_;
};

class ProcessServer final : public rpc::Process::Server {
 public:
  ProcessServer(Guest& g, std::string id, std::string execId) : g_(g), id_(std::move(id)), execId_(std::move(execId)) {}

  kj::Promise<void> pid(PidContext context) override {
    g_.proc(id_, execId_);
    context.getResults().setPid(execId_.empty() ? 1 : 2);
    return kj::READY_NOW;
  }
  kj::Promise<void> wait(WaitContext context) override {
    g_.record("Process.wait " + id_ + "/" + execId_);
    auto& p = g_.proc(id_, execId_);
    kj::Promise<void> done = kj::READY_NOW;
    if (!p.exited) {
      auto paf = kj::newPromiseAndFulfiller<void>();
      p.waiters.push_back(kj::mv(paf.fulfiller));
      done = kj::mv(paf.promise);
    }
    return done.then([this, context]() mutable {
      auto& q = g_.proc(id_, execId_);
      auto s = context.getResults().initStatus();
      s.setCode(q.code);
      if (q.signaled) s.setSignaled(*q.signaled);
      else s.setExited(q.code);
    });
  }
  kj::Promise<void> signal(SignalContext context) override {
    int sig = context.getParams().getSignal();
    g_.record("Process.signal " + id_ + "/" + execId_ + " " + std::to_string(sig));
    g_.proc(id_, execId_);
    g_.state([&](TestAgentState& s) { s.containers[id_].processes[execId_].signals.push_back(sig); });
    g_.deliver(id_, execId_, sig);
    return kj::READY_NOW;
  }
  kj::Promise<void> resizeTty(ResizeTtyContext context) override {
    unsigned rows = context.getParams().getRows(), cols = context.getParams().getCols();
    g_.record("Process.resizeTty " + id_ + "/" + execId_);
    g_.state([&](TestAgentState& s) { s.containers[id_].processes[execId_].resizes.emplace_back(rows, cols); });
    return kj::READY_NOW;
  }
  kj::Promise<void> stdin(StdinContext context) override {
    g_.proc(id_, execId_);
    context.getResults().setStream(kj::heap<StdinServer>(g_, id_, execId_));
    return kj::READY_NOW;
  }
  kj::Promise<void> closeStdin(CloseStdinContext) override {
    g_.record("Process.closeStdin " + id_ + "/" + execId_);
    g_.stdinEnded(id_, execId_);
    return kj::READY_NOW;
  }

 private:
  Guest& g_;
  std::string id_, execId_;
};

class ContainerServer final : public rpc::Container::Server {
 public:
  ContainerServer(Guest& g, std::string id) : g_(g), id_(std::move(id)) {}

  kj::Promise<void> id(IdContext context) override {
    context.getResults().setId(id_);
    return kj::READY_NOW;
  }
  kj::Promise<void> start(StartContext) override {
    g_.record("Container.start " + id_);
    g_.ctr(id_);
    bool created = g_.state([&](TestAgentState& s) {
      auto& c = s.containers[id_];
      if (c.status != "created") return false;
      c.status = "running";
      return true;
    });
    if (!created) return tagged("failed-precondition: container not created");
    g_.run(id_, "");
    return kj::READY_NOW;
  }
  kj::Promise<void> exec(ExecContext context) override {
    auto p = context.getParams();
    std::string execId = p.getSpec().getExecId();
    g_.record("Container.exec " + id_ + " " + execId);
    auto& c = g_.ctr(id_);
    std::string err = g_.state([&](TestAgentState& s) { return s.execError; });
    if (!err.empty()) return tagged(err);
    bool running = g_.state([&](TestAgentState& s) { return s.containers[id_].status == "running"; });
    if (!running) return tagged("failed-precondition: container " + id_ + " is not running");
    if (c.procs.count(execId)) return tagged("already-exists: process " + execId + " exists");
    auto proc = std::make_unique<Guest::Proc>();
    g_.attachStdio(*proc, p.getStdio());
    proc->script = g_.state([&](TestAgentState& s) {
      s.containers[id_].processes[execId].spec = nlohmann::json::parse(text(p.getSpec().getProcessJson()));
      return s.exec;
    });
    c.procs[execId] = std::move(proc);
    g_.run(id_, execId);
    context.getResults().setProcess(kj::heap<ProcessServer>(g_, id_, execId));
    return kj::READY_NOW;
  }
  kj::Promise<void> process(ProcessContext context) override {
    std::string execId = context.getParams().getExecId();
    g_.proc(id_, execId);
    context.getResults().setProcess(kj::heap<ProcessServer>(g_, id_, execId));
    return kj::READY_NOW;
  }
  kj::Promise<void> state(StateContext context) override {
    g_.record("Container.state " + id_);
    g_.ctr(id_);
    auto [status, pid] = g_.state([&](TestAgentState& s) {
      return std::make_pair(s.containers[id_].status, s.containers[id_].initPid);
    });
    auto st = context.getResults().initState();
    st.setStatus(statusEnum(status));
    st.setInitPid(pid);
    return kj::READY_NOW;
  }
  kj::Promise<void> ps(PsContext context) override {
    g_.ctr(id_);
    int pid = g_.state([&](TestAgentState& s) { return s.containers[id_].initPid; });
    auto l = context.getResults().initPids(2);
    l.set(0, pid);
    l.set(1, pid + 1);
    return kj::READY_NOW;
  }
  kj::Promise<void> stats(StatsContext context) override {
    g_.ctr(id_);
    uint64_t ooms = g_.state([&](TestAgentState& s) { return s.containers[id_].oomKills; });
    auto st = context.getResults().initStats();
    st.setCpuUsageNs(1500);
    st.setMemoryUsageBytes(4096);
    st.setMemoryLimitBytes(1 << 20);
    st.setPids(2);
    st.setOomKills(ooms);
    return kj::READY_NOW;
  }
  kj::Promise<void> pause(PauseContext) override { return setStatus("pause", "running", "paused"); }
  kj::Promise<void> resume(ResumeContext) override { return setStatus("resume", "paused", "running"); }
  kj::Promise<void> signal(SignalContext context) override {
    int sig = context.getParams().getSignal();
    bool all = context.getParams().getAll();
    g_.record("Container.signal " + id_ + " " + std::to_string(sig) + (all ? " all" : ""));
    auto& c = g_.ctr(id_);
    g_.state([&](TestAgentState& s) { s.containers[id_].signals.emplace_back(sig, all); });
    if (all) {
      for (auto& [execId, p] : c.procs) g_.deliver(id_, execId, sig);
    } else {
      g_.deliver(id_, "", sig);
    }
    return kj::READY_NOW;
  }
  kj::Promise<void> remove(RemoveContext context) override {
    bool force = context.getParams().getForce();
    g_.record("Container.remove " + id_ + (force ? " force" : ""));
    g_.ctr(id_);
    std::string err = g_.state([&](TestAgentState& s) { return s.removeError; });
    if (!err.empty()) return tagged(err);
    bool running = g_.state([&](TestAgentState& s) { return s.containers[id_].status == "running"; });
    if (running && !force) return tagged("failed-precondition: container " + id_ + " is running");
    if (running) g_.deliver(id_, "", SIGKILL);
    g_.wakeOom(id_);
    g_.ctrs.erase(id_);
    g_.state([&](TestAgentState& s) {
      s.containers.erase(id_);
      s.removed.push_back(id_ + (force ? " force" : ""));
    });
    return kj::READY_NOW;
  }
  kj::Promise<void> update(UpdateContext context) override {
    g_.ctr(id_);
    auto j = nlohmann::json::parse(text(context.getParams().getResourcesJson()));
    g_.state([&](TestAgentState& s) { s.containers[id_].updates.push_back(j); });
    return kj::READY_NOW;
  }
  kj::Promise<void> nextOomEvent(NextOomEventContext context) override {
    uint64_t seen = context.getParams().getSeen();
    g_.record("Container.nextOomEvent " + id_ + " " + std::to_string(seen));
    return waitOom(seen, context);
  }
  kj::Promise<void> processList(ProcessListContext context) override {
    g_.ctr(id_);
    int pid = g_.state([&](TestAgentState& s) { return s.containers[id_].initPid; });
    auto l = context.getResults().initProcesses(1);
    l[0].setPid(pid);
    l[0].setPpid(0);
    l[0].setUid(0);
    l[0].setStartWallNs(1700000000000000000);
    l[0].setCpuTimeNs(250);
    l[0].setTty("?");
    auto cmd = l[0].initCmdline(2);
    cmd.set(0, "sleep");
    cmd.set(1, "1000");
    l[0].setComm("sleep");
    l[0].setState("S");
    return kj::READY_NOW;
  }

 private:
  kj::Promise<void> setStatus(const char* what, const char* from, const char* to) {
    g_.record(std::string("Container.") + what + " " + id_);
    g_.ctr(id_);
    bool ok = g_.state([&](TestAgentState& s) {
      auto& c = s.containers[id_];
      if (c.status != from) return false;
      c.status = to;
      return true;
    });
    if (!ok) return tagged(std::string("failed-precondition: container ") + id_ + " is not " + from);
    return kj::READY_NOW;
  }
  kj::Promise<void> waitOom(uint64_t seen, NextOomEventContext context) {
    auto it = g_.ctrs.find(id_);
    auto [count, stopped] = g_.state([&](TestAgentState& s) {
      auto c = s.containers.find(id_);
      if (c == s.containers.end()) return std::make_pair(uint64_t{0}, true);
      return std::make_pair(c->second.oomKills, c->second.status == "stopped");
    });
    if (count > seen || stopped || it == g_.ctrs.end()) {
      context.getResults().setOomKills(count);
      return kj::READY_NOW;
    }
    auto paf = kj::newPromiseAndFulfiller<void>();
    it->second.oomWaiters.push_back(kj::mv(paf.fulfiller));
    return paf.promise.then([this, seen, context]() mutable { return waitOom(seen, context); });
  }

  Guest& g_;
  std::string id_;
};

class AgentServer final : public rpc::Agent::Server {
 public:
  explicit AgentServer(Guest& g) : g_(g) {}

  kj::Promise<void> ping(PingContext context) override {
    g_.record("Agent.ping");
    context.getResults().setPayload(context.getParams().getPayload());
    return kj::READY_NOW;
  }
  kj::Promise<void> version(VersionContext context) override {
    g_.record("Agent.version");
    auto [build, protocol] = g_.state([](TestAgentState& s) { return std::make_pair(s.buildId, s.protocol); });
    auto v = context.getResults().initVersion();
    v.setAgentVersion("0.0.0-test");
    v.setAgentCommit("test");
    v.setBuildId(build);
    v.setKernelRelease("6.1.0-test");
    v.setProtocolVersion(protocol);
    return kj::READY_NOW;
  }
  kj::Promise<void> shutdown(ShutdownContext) override {
    g_.record("Agent.shutdown");
    g_.state([](TestAgentState& s) { ++s.shutdowns; });
    // The reply goes out first; then the "VM" powers off: every connection closes.
    g_.tasks->add(g_.io.provider->getTimer().afterDelay(20 * kj::MILLISECONDS).then([this] { g_.conns.clear(); }));
    return kj::READY_NOW;
  }
  kj::Promise<void> createSandbox(CreateSandboxContext context) override {
    g_.record("Agent.createSandbox");
    auto c = context.getParams().getConfig();
    bool again = g_.state([&](TestAgentState& s) {
      if (!s.sandboxId.empty()) return true;
      s.sandboxId = c.getId();
      s.hostname = c.getHostname();
      for (auto d : c.getDns()) s.dns.push_back(d);
      for (auto m : c.getSharedMounts()) s.sharedMounts.push_back(m);
      return false;
    });
    if (again) return tagged("already-exists: sandbox already exists");
    return kj::READY_NOW;
  }
  kj::Promise<void> createContainer(CreateContainerContext context) override {
    auto p = context.getParams();
    auto cfg = p.getConfig();
    std::string id = cfg.getId();
    g_.record("Agent.createContainer " + id);
    std::string err = g_.state([&](TestAgentState& s) { return s.createContainerError; });
    if (!err.empty()) return tagged(err);
    if (g_.ctrs.count(id)) return tagged("already-exists: container " + id + " exists");
    auto proc = std::make_unique<Guest::Proc>();
    g_.attachStdio(*proc, p.getStdio());
    int pid = g_.nextPid++;
    proc->script = g_.state([&](TestAgentState& s) {
      auto& c = s.containers[id];
      c = TestContainerRecord{};
      c.spec = nlohmann::json::parse(text(cfg.getOciSpecJson()));
      c.rootfsShare = cfg.getRootfsShare();
      c.rootfsPath = cfg.getRootfsPath();
      c.hadStdout = p.getStdio().hasStdout();
      c.hadStderr = p.getStdio().hasStderr();
      c.initPid = pid;
      c.processes[""] = TestProcessRecord{};
      return s.init;
    });
    g_.ctrs[id].procs[""] = std::move(proc);
    auto r = context.getResults();
    r.setContainer(kj::heap<ContainerServer>(g_, id));
    r.setInit(kj::heap<ProcessServer>(g_, id, ""));
    return kj::READY_NOW;
  }
  kj::Promise<void> container(ContainerContext context) override {
    std::string id = context.getParams().getId();
    g_.ctr(id);
    context.getResults().setContainer(kj::heap<ContainerServer>(g_, id));
    return kj::READY_NOW;
  }
  kj::Promise<void> listContainers(ListContainersContext context) override {
    auto l = context.getResults().initIds(static_cast<unsigned>(g_.ctrs.size()));
    unsigned i = 0;
    for (const auto& [id, c] : g_.ctrs) l.set(i++, id);
    return kj::READY_NOW;
  }
  kj::Promise<void> updateInterface(UpdateInterfaceContext context) override {
    auto in = context.getParams().getInterface();
    g_.record("Agent.updateInterface " + std::string(in.getName().cStr()) + " " + in.getMac().cStr());
    std::string err = g_.state([](TestAgentState& s) { return s.interfaceError; });
    if (!err.empty()) return tagged(err);
    context.getResults().setInterface(in);
    return kj::READY_NOW;
  }
  kj::Promise<void> removeInterface(RemoveInterfaceContext context) override {
    g_.record("Agent.removeInterface " + std::string(context.getParams().getMac().cStr()));
    return kj::READY_NOW;
  }
  kj::Promise<void> listInterfaces(ListInterfacesContext context) override {
    auto l = context.getResults().initInterfaces(2);
    l[0].setName("lo");
    l[0].setMac("00:00:00:00:00:00");
    l[0].setMtu(65536);
    auto a = l[0].initAddresses(1);
    a[0].setAddress("127.0.0.1");
    a[0].setPrefixLength(8);
    l[1].setName("eth0");
    l[1].setMac("02:00:00:00:00:01");
    l[1].setMtu(1500);
    auto b = l[1].initAddresses(2);
    b[0].setAddress("10.88.0.5");
    b[0].setPrefixLength(16);
    b[1].setAddress("fd00::5");
    b[1].setPrefixLength(64);
    return kj::READY_NOW;
  }
  kj::Promise<void> updateRoutes(UpdateRoutesContext context) override {
    g_.record("Agent.updateRoutes");
    routes_.clear();
    for (auto r : context.getParams().getRoutes())
      routes_.push_back({r.getDestination(), r.getGateway(), r.getDevice()});
    fillRoutes(context.getResults().initRoutes(static_cast<unsigned>(routes_.size())));
    return kj::READY_NOW;
  }
  kj::Promise<void> listRoutes(ListRoutesContext context) override {
    fillRoutes(context.getResults().initRoutes(static_cast<unsigned>(routes_.size())));
    return kj::READY_NOW;
  }
  kj::Promise<void> waitBlockDevice(WaitBlockDeviceContext context) override {
    std::string serial = context.getParams().getSerial();
    g_.record("Agent.waitBlockDevice " + serial);
    std::string err = g_.state([](TestAgentState& s) { return s.blockDeviceError; });
    if (!err.empty()) return tagged(err);
    context.getResults().setDevicePath("/dev/vdb");
    return kj::READY_NOW;
  }
  kj::Promise<void> metrics(MetricsContext context) override {
    context.getResults().setText("# TYPE kata_agent_test gauge\nkata_agent_test 1\n");
    return kj::READY_NOW;
  }

 private:
  struct RouteRec {
    std::string destination, gateway, device;
  };
  void fillRoutes(capnp::List<rpc::Route>::Builder l) {
    for (unsigned i = 0; i < routes_.size(); ++i) {
      l[i].setDestination(routes_[i].destination);
      l[i].setGateway(routes_[i].gateway);
      l[i].setDevice(routes_[i].device);
    }
  }

  Guest& g_;
  std::vector<RouteRec> routes_;
};

#pragma GCC diagnostic pop

}  // namespace

TestAgent::TestAgent() {
  char name[] = "/tmp/kata-test-agent-XXXXXX";
  if (::mkdtemp(name) == nullptr) throwSysError(errno, "mkdtemp");
  dir_ = name;
  socketPath_ = dir_ + "/agent.sock";
  UniqueFd listen = ipc::listenUnix(socketPath_, 0600, static_cast<gid_t>(-1));
  int p[2];
  KATA_SYSCALL(::pipe2(p, O_CLOEXEC), "pipe2");
  UniqueFd stopRead(p[0]);
  stopWrite_ = UniqueFd(p[1]);
  thread_ = std::thread([this, l = listen.release(), s = stopRead.release()] { run(l, s); });
  std::unique_lock<std::mutex> lock(mu_);
  changed_.wait(lock, [this] { return executor_ != nullptr; });
}

TestAgent::~TestAgent() {
  stopWrite_.reset();
  if (thread_.joinable()) thread_.join();
  (void)::unlink(socketPath_.c_str());
  (void)::rmdir(dir_.c_str());
}

UniqueFd TestAgent::connect() { return ipc::connectUnix(socketPath_); }

bool TestAgent::waitForCall(const std::string& prefix, std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock(mu_);
  return changed_.wait_for(lock, timeout, [&] {
    for (const auto& c : state_.calls)
      if (c.rfind(prefix, 0) == 0) return true;
    return false;
  });
}

void TestAgent::dropConnections() {
  executor_->executeSync([this] { guest_->conns.clear(); });
}

void TestAgent::oomKill(const std::string& containerId) {
  executor_->executeSync([this, containerId] {
    guest_->state([&](TestAgentState& s) { ++s.containers[containerId].oomKills; });
    guest_->wakeOom(containerId);
  });
}

void TestAgent::run(int listenFd, int stopFd) {
  auto io = kj::setupAsyncIo();
  {
    auto guest = std::make_unique<Guest>(*this, io);
    Guest* g = guest.get();
    rpc::Agent::Client bootstrap = kj::heap<AgentServer>(*g);
    capnp::TwoPartyServer server(bootstrap);
    auto listener = io.lowLevelProvider->wrapListenSocketFd(
        listenFd, kj::LowLevelAsyncIoProvider::TAKE_OWNERSHIP | kj::LowLevelAsyncIoProvider::ALREADY_CLOEXEC |
                      kj::LowLevelAsyncIoProvider::ALREADY_NONBLOCK);
    std::function<kj::Promise<void>()> acceptLoop = [&]() -> kj::Promise<void> {
      return listener->accept().then([&, g](kj::Own<kj::AsyncIoStream>&& conn) {
        g->state([](TestAgentState& s) { ++s.connections; });
        auto& c = g->conns.emplace_back();
        c.stream = kj::mv(conn);
        c.serving = server.accept(*c.stream).eagerlyEvaluate(nullptr);
        return acceptLoop();
      });
    };
    auto accepting = acceptLoop().eagerlyEvaluate(nullptr);
    // Runs until the test's end of the stop pipe closes (the TestAgent's destruction).
    auto stop = io.lowLevelProvider->wrapInputFd(stopFd, kj::LowLevelAsyncIoProvider::TAKE_OWNERSHIP |
                                                             kj::LowLevelAsyncIoProvider::ALREADY_CLOEXEC);
    char byte;
    auto stopped = stop->tryRead(&byte, 1, 1);
    {
      std::lock_guard<std::mutex> lock(mu_);
      guest_ = guest.get();
      executor_ = &kj::getCurrentThreadExecutor();
    }
    changed_.notify_all();
    stopped.wait(io.waitScope);
    g->conns.clear();
    g->tasks = nullptr;
    g->ctrs.clear();
    {
      std::lock_guard<std::mutex> lock(mu_);
      guest_ = nullptr;
    }
  }
}

void writeGuestImage(const std::string& dir, const std::string& agentBuildId,
                     const std::function<void(nlohmann::json&)>& edit) {
  const std::string kernel = "not a kernel\n", initramfs = "not an initramfs either\n";
  std::ofstream(dir + "/vmlinux") << kernel;
  std::ofstream(dir + "/initramfs.cpio") << initramfs;
  nlohmann::json m = {
      {"format", 1},
      {"kernel", {{"release", "6.1.0-test-amd64"}}},
      {"boot",
       {{"kernel", "vmlinux"}, {"initramfs", "initramfs.cpio"}, {"cmdline", "console=ttyS0 quiet"},
        {"agent_channel", "agent.channel.0"}}},
      {"agent", {{"build_id", agentBuildId}}},
      {"modules", {"virtio_console", "9pnet", "9p", "9pnet_virtio"}},
      {"files",
       {{"vmlinux", {{"size", kernel.size()}, {"sha256", sha256Hex(kernel)}}},
        {"initramfs.cpio", {{"size", initramfs.size()}, {"sha256", sha256Hex(initramfs)}}}}}};
  if (edit) edit(m);
  std::ofstream(dir + "/manifest.json") << m.dump(2);
}

}  // namespace kata::test
