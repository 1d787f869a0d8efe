// A guest agent for tests that cannot boot a VM: a small implementation of ipc/agent.capnp's Agent,
// Container and Process served on its own thread (with its own kj event loop), on a unix socket
// that connect() reaches, as a VM's agent channel is reached. It keeps what it was asked in a state
// the test reads and scripts what it answers (build id, errors, what each process writes and how it
// ends). Methods it does not implement fail as capnp fails an unimplemented method. Errors travel
// as the real agent sends them: "<kind tag>: <message>" (agent/container_rpc.h).
#pragma once

#include <sys/types.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <kj/async.h>
#include <nlohmann/json.hpp>

#include "common/fd.h"

namespace kata::test {

// How a process of the test agent behaves once it runs (a container's init after start(), an exec
// at once): it writes `out` to its stdout stream and `err` to its stderr stream, ends both, then
// exits with exitCode unless `runs` (then it runs until a signal ends it) or `untilStdinEnds`.
struct ScriptedProcess {
  std::string out;
  std::string err;
  int exitCode = 0;
  bool runs = false;
  bool ignoresSigterm = false;  // only SIGKILL ends it
  bool untilStdinEnds = false;  // exits once its stdin ended too (as `cat` does)
};

struct TestProcessRecord {
  nlohmann::json spec;          // an exec's OCI process (null for the init)
  std::string stdinData;        // what arrived on its stdin stream
  bool stdinEnded = false;      // end() on the stream, or closeStdin()
  std::vector<int> signals;     // Process.signal
  std::vector<std::pair<unsigned, unsigned>> resizes;  // rows, cols
  bool exited = false;
  int exitCode = 0;
};

struct TestContainerRecord {
  nlohmann::json spec;          // ociSpecJson as received
  std::string rootfsShare;
  std::string rootfsPath;
  std::string status = "created";  // created | running | paused | stopped
  bool hadStdout = false;       // createContainer's stdio carried a stdout capability
  bool hadStderr = false;
  std::vector<std::pair<int, bool>> signals;  // Container.signal (signal, all)
  std::vector<nlohmann::json> updates;
  std::map<std::string, TestProcessRecord> processes;  // "" is the init
  uint64_t oomKills = 0;
  int initPid = 0;
};

struct TestAgentState {
  // --- what it answers
  std::string buildId = "0123456789abcdef0123456789abcdef01234567";
  uint32_t protocol = 3;
  std::string createContainerError;  // non-empty: createContainer fails with this (tagged) text
  std::string removeError;           // non-empty: Container.remove fails with this text
  std::string execError;
  std::string blockDeviceError;      // non-empty: waitBlockDevice fails
  std::string interfaceError;        // non-empty: updateInterface fails
  ScriptedProcess init;
  ScriptedProcess exec;
  // --- what it was asked
  std::vector<std::string> calls;    // "Agent.ping", "Container.start c1", ... in arrival order
  std::string sandboxId, hostname;
  std::vector<std::string> dns, sharedMounts;
  std::map<std::string, TestContainerRecord> containers;  // created and not removed
  std::vector<std::string> removed;  // ids of removed containers, with " force" when forced
  int shutdowns = 0;
  int connections = 0;               // accepted so far
};

class TestAgent {
 public:
  TestAgent();
  ~TestAgent();  // closes every connection
  TestAgent(const TestAgent&) = delete;
  TestAgent& operator=(const TestAgent&) = delete;

  // A new connection to the agent (what Vm::agentChannel returns).
  UniqueFd connect();
  const std::string& socketPath() const { return socketPath_; }

  // Reads or changes the state under its lock.
  template <typename F>
  auto with(F&& f) {
    std::lock_guard<std::mutex> lock(mu_);
    return f(state_);
  }
  // Whether a call whose record starts with `prefix` arrived within `timeout`.
  bool waitForCall(const std::string& prefix, std::chrono::milliseconds timeout);

  // Closes every connection, as a guest that powered off (new connections are still accepted).
  void dropConnections();
  // Raises a container's OOM-kill count (answers pending nextOomEvent calls).
  void oomKill(const std::string& containerId);

  struct Guest;  // lives on the agent's thread

 private:
  void run(int listenFd, int stopFd);

  std::string dir_;
  std::string socketPath_;
  std::mutex mu_;
  std::condition_variable changed_;
  TestAgentState state_;
  UniqueFd stopWrite_;
  const kj::Executor* executor_ = nullptr;  // of the agent's thread
  Guest* guest_ = nullptr;                  // owned by the agent's thread
  std::thread thread_;
};

// A fake guest image directory (guest/build-image.sh's layout) with a consistent manifest; `edit`
// may change the manifest before it is written. The boot files hold a few bytes, never booted.
void writeGuestImage(const std::string& dir, const std::string& agentBuildId,
                     const std::function<void(nlohmann::json&)>& edit = {});

}  // namespace kata::test
