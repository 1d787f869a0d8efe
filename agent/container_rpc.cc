#include "agent/container_rpc.h"

#include <kj/debug.h>

#include "common/error.h"

namespace kata::agent {
namespace {

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wnon-virtual-dtor"

class StdinServer final : public ipc::agent::ByteStream::Server {
 public:
  StdinServer(ContainerManager& m, std::string id, std::string execId)
      : m_(m), id_(std::move(id)), execId_(std::move(execId)) {}
  kj::Promise<void> write(WriteContext context) override {
    return rpcGuard("Process.stdin.write", [&] {
      auto data = context.getParams().getData();
      return m_.writeStdin(id_, execId_, kj::heapArray<kj::byte>(data));
    });
  }
  kj::Promise<void> end(EndContext) override {
    return rpcGuard("Process.stdin.end", [&]() -> kj::Promise<void> {
      m_.closeStdin(id_, execId_);
      return kj::READY_NOW;
    });
  }

 private:
  ContainerManager& m_;
  std::string id_, execId_;
};

class ProcessServer final : public ipc::agent::Process::Server {
 public:
  ProcessServer(ContainerManager& m, std::string id, std::string execId)
      : m_(m), id_(std::move(id)), execId_(std::move(execId)) {}

  kj::Promise<void> pid(PidContext context) override {
    return rpcGuard("Process.pid", [&]() -> kj::Promise<void> {
      context.getResults().setPid(m_.processPid(id_, execId_));
      return kj::READY_NOW;
    });
  }
  kj::Promise<void> wait(WaitContext context) override {
    return rpcGuard("Process.wait", [&] {
      return m_.waitProcess(id_, execId_).then([context](int st) mutable {
        auto r = context.getResults().initStatus();
        r.setCode(shellExitCode(st));
        if (WIFSIGNALED(st))
          r.setSignaled(WTERMSIG(st));
        else
          r.setExited(WIFEXITED(st) ? WEXITSTATUS(st) : 255);
      });
    });
  }
  kj::Promise<void> signal(SignalContext context) override {
    return rpcGuard("Process.signal", [&]() -> kj::Promise<void> {
      m_.signalProcess(id_, execId_, context.getParams().getSignal());
      return kj::READY_NOW;
    });
  }
  kj::Promise<void> resizeTty(ResizeTtyContext context) override {
    return rpcGuard("Process.resizeTty", [&]() -> kj::Promise<void> {
      m_.resizeTty(id_, execId_, context.getParams().getRows(), context.getParams().getCols());
      return kj::READY_NOW;
    });
  }
  kj::Promise<void> stdin(StdinContext context) override {
    return rpcGuard("Process.stdin", [&]() -> kj::Promise<void> {
      (void)m_.processPid(id_, execId_);
      context.getResults().setStream(kj::heap<StdinServer>(m_, id_, execId_));
      return kj::READY_NOW;
    });
  }
  kj::Promise<void> closeStdin(CloseStdinContext) override {
    return rpcGuard("Process.closeStdin", [&]() -> kj::Promise<void> {
      m_.closeStdin(id_, execId_);
      return kj::READY_NOW;
    });
  }

 private:
  ContainerManager& m_;
  std::string id_, execId_;
};

class ContainerServer final : public ipc::agent::Container::Server {
 public:
  ContainerServer(ContainerManager& m, std::string id) : m_(m), id_(std::move(id)) {}

  kj::Promise<void> id(IdContext context) override {
    context.getResults().setId(id_);
    return kj::READY_NOW;
  }
  kj::Promise<void> start(StartContext) override {
    return rpcGuard("Container.start", [&] { return m_.start(id_); });
  }
  kj::Promise<void> exec(ExecContext context) override {
    return rpcGuard("Container.exec", [&] {
      auto params = context.getParams();
      ExecRequest request = decodeProcessSpec(params.getSpec());
      std::string execId = request.execId;
      return m_.exec(id_, std::move(request), stdioFrom(params.getStdio()))
          .then([this, context, execId]() mutable {
            context.getResults().setProcess(makeProcessClient(m_, id_, execId));
          });
    });
  }
  kj::Promise<void> process(ProcessContext context) override {
    return rpcGuard("Container.process", [&]() -> kj::Promise<void> {
      std::string execId = context.getParams().getExecId();
      if (!execId.empty()) validateId(execId, "exec id");
      (void)m_.processPid(id_, execId);
      context.getResults().setProcess(makeProcessClient(m_, id_, execId));
      return kj::READY_NOW;
    });
  }
  kj::Promise<void> state(StateContext context) override {
    return rpcGuard("Container.state", [&]() -> kj::Promise<void> {
      auto s = context.getResults().initState();
      switch (m_.status(id_)) {
        case ContainerStatus::kCreated: s.setStatus(ipc::agent::ContainerStatus::CREATED); break;
        case ContainerStatus::kRunning: s.setStatus(ipc::agent::ContainerStatus::RUNNING); break;
        case ContainerStatus::kPaused: s.setStatus(ipc::agent::ContainerStatus::PAUSED); break;
        case ContainerStatus::kStopped: s.setStatus(ipc::agent::ContainerStatus::STOPPED); break;
      }
      s.setInitPid(m_.initPid(id_));
      return kj::READY_NOW;
    });
  }
  kj::Promise<void> ps(PsContext context) override {
    return rpcGuard("Container.ps", [&]() -> kj::Promise<void> {
      auto pids = m_.ps(id_);
      auto list = context.getResults().initPids(static_cast<unsigned>(pids.size()));
      for (unsigned i = 0; i < pids.size(); ++i) list.set(i, pids[i]);
      return kj::READY_NOW;
    });
  }
  kj::Promise<void> stats(StatsContext context) override {
    return rpcGuard("Container.stats", [&]() -> kj::Promise<void> {
      CgroupStats st = m_.stats(id_);
      auto r = context.getResults().initStats();
      r.setCpuUsageNs(st.cpuUsageUsec * 1000);
      r.setMemoryUsageBytes(st.memoryUsageBytes);
      r.setMemoryLimitBytes(st.memoryLimitBytes);
      r.setPids(static_cast<uint32_t>(st.pidsCurrent));
      r.setOomKills(st.oomKills);
      return kj::READY_NOW;
    });
  }
  kj::Promise<void> pause(PauseContext) override {
    return rpcGuard("Container.pause", [&]() -> kj::Promise<void> {
      m_.pause(id_);
      return kj::READY_NOW;
    });
  }
  kj::Promise<void> resume(ResumeContext) override {
    return rpcGuard("Container.resume", [&]() -> kj::Promise<void> {
      m_.resume(id_);
      return kj::READY_NOW;
    });
  }
  kj::Promise<void> update(UpdateContext context) override {
    return rpcGuard("Container.update", [&]() -> kj::Promise<void> {
      m_.update(id_, decodeResources(context.getParams().getResourcesJson()));
      return kj::READY_NOW;
    });
  }
  kj::Promise<void> nextOomEvent(NextOomEventContext context) override {
    return rpcGuard("Container.nextOomEvent", [&] {
      return m_.nextOomEvent(id_, context.getParams().getSeen()).then([context](uint64_t n) mutable {
        context.getResults().setOomKills(n);
      });
    });
  }
  kj::Promise<void> processList(ProcessListContext context) override {
    return rpcGuard("Container.processList", [&]() -> kj::Promise<void> {
      std::vector<ProcessEntry> procs = m_.processList(id_);
      auto list = context.getResults().initProcesses(static_cast<unsigned>(procs.size()));
      for (unsigned i = 0; i < procs.size(); ++i) {
        const ProcessEntry& p = procs[i];
        auto b = list[i];
        b.setPid(p.pid);
        b.setPpid(p.ppid);
        b.setUid(p.uid);
        b.setStartWallNs(p.startWallNs);
        b.setCpuTimeNs(p.cpuTimeNs);
        b.setTty(p.tty);
        auto args = b.initCmdline(static_cast<unsigned>(p.cmdline.size()));
        for (unsigned j = 0; j < p.cmdline.size(); ++j) args.set(j, p.cmdline[j]);
        b.setComm(p.comm);
        b.setState(p.state);
      }
      return kj::READY_NOW;
    });
  }
  kj::Promise<void> signal(SignalContext context) override {
    return rpcGuard("Container.signal", [&]() -> kj::Promise<void> {
      m_.signal(id_, context.getParams().getSignal(), context.getParams().getAll());
      return kj::READY_NOW;
    });
  }
  kj::Promise<void> remove(RemoveContext context) override {
    return rpcGuard("Container.remove", [&] { return m_.remove(id_, context.getParams().getForce()); });
  }

 private:
  ContainerManager& m_;
  std::string id_;
};

#pragma GCC diagnostic pop

}  // namespace

ipc::agent::Container::Client makeContainerClient(ContainerManager& manager, const std::string& id) {
  return kj::heap<ContainerServer>(manager, id);
}

ipc::agent::Process::Client makeProcessClient(ContainerManager& manager, const std::string& id,
                                              const std::string& execId) {
  return kj::heap<ProcessServer>(manager, id, execId);
}

StdioStreams stdioFrom(ipc::agent::Stdio::Reader stdio) {
  StdioStreams s;
  // An unset capability field reads as a broken "null" capability; treat it as "discard".
  if (stdio.hasStdout()) s.stdout = stdio.getStdout();
  if (stdio.hasStderr()) s.stderr = stdio.getStderr();
  return s;
}

}  // namespace kata::agent
