// What every verb runs against: the global flags, the logger, and (opened on first use) the
// configuration and the container state store under --root. main() builds one per invocation.
#pragma once

#include <iosfwd>
#include <memory>
#include <optional>
#include <string>

#include "common/log.h"
#include "runtime/config/config.h"
#include "runtime/sandbox/sandbox.h"
#include "runtime/state/container_store.h"
#include "runtime/store/fs_store.h"

namespace kata::ctl {

struct GlobalOptions {
  bool debug = false;
  std::string log;             // empty: standard error
  std::string logFormat = "text";
  std::string root;            // empty: defaultRoot()
  std::string criu = "criu";   // accepted for compatibility; checkpoint/restore are not supported
  bool systemdCgroup = false;
  std::string rootless = "auto";
  std::string config;          // path of the toml configuration; empty: KATA_CTL_CONFIG, then defaults
  bool version = false;
};

class Context {
 public:
  Context(GlobalOptions options, std::string argv0, Logger logger, std::ostream& out);
  ~Context();
  Context(const Context&) = delete;
  Context& operator=(const Context&) = delete;

  const GlobalOptions& options() const { return options_; }
  const std::string& argv0() const { return argv0_; }
  std::ostream& out() { return out_; }

  // The logger; carries the container field once a verb has named its container.
  const Logger& log() const { return logger_; }
  void setContainer(const std::string& id);

  // The absolute state root (--root, else state::defaultStateRoot()). Throws when none can be
  // determined.
  std::string root() const;
  // The configuration: --config, else $KATA_CTL_CONFIG, else the system file, else the embedded
  // default (runtime/config/config.h). Loaded on first use.
  const config::RuntimeConfig& config();
  // The container store under root() (the kind the configuration selects), opened (and the root created, mode 0700) on first use.
  state::ContainerStore& store();
  // The Sandbox API's environment, made on first use: this process's event loop, kata-vmmd (the
  // configured socket) as the VM factory, sandbox records under root()/.sandboxes and run
  // directories (monitor sockets and logs) under root()/.run. Verbs that need no VM never make it.
  // A process that wants kj to deliver signals must capture them before the first call.
  sandbox::SandboxEnv& sandboxEnv();

 private:
  GlobalOptions options_;
  std::string argv0_;
  Logger baseLogger_;
  Logger logger_;
  std::ostream& out_;
  std::optional<config::RuntimeConfig> config_;
  std::unique_ptr<state::ContainerStore> store_;
  std::unique_ptr<sandbox::EventLoop> loop_;
  std::unique_ptr<sandbox::VmmdVmFactory> factory_;
  std::unique_ptr<store::FsMetadataStore> sandboxStore_;
  std::unique_ptr<sandbox::SandboxEnv> env_;
};

}  // namespace kata::ctl
