#include "kata-ctl/context.h"

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <ostream>

#include "common/error.h"
#include "runtime/store/fs_store.h"

namespace kata::ctl {

Context::Context(GlobalOptions options, std::string argv0, Logger logger, std::ostream& out)
    : options_(std::move(options)),
      argv0_(std::move(argv0)),
      baseLogger_(logger),
      logger_(std::move(logger)),
      out_(out) {}

Context::~Context() = default;

void Context::setContainer(const std::string& id) { logger_ = baseLogger_.with("container", id); }

std::string Context::root() const {
  std::string root = options_.root.empty() ? state::defaultStateRoot() : options_.root;
  return std::filesystem::absolute(root).lexically_normal().string();
}

const config::RuntimeConfig& Context::config() {
  if (!config_) {
    std::optional<std::string> flag;
    if (!options_.config.empty()) flag = options_.config;
    config_ = config::loadConfig(config::ConfigSources::fromEnvironment(flag));
  }
  return *config_;
}

state::ContainerStore& Context::store() {
  if (!store_) {
    if (config().runtime.stateStore != config::StateStoreKind::kFilesystem) {
      fail(ErrorKind::kNotSupported, "state store \"" + config::stateStoreName(config().runtime.stateStore) +
                                         "\" (configured in " + config().source +
                                         ") is not implemented in this build; use \"filesystem\"");
    }
    store_ = std::make_unique<state::ContainerStore>(std::make_unique<store::FsMetadataStore>(root()));
  }
  return *store_;
}

sandbox::SandboxEnv& Context::sandboxEnv() {
  if (!env_) {
    (void)store();  // creates root() with its mode
    loop_ = std::make_unique<sandbox::EventLoop>();
    factory_ = std::make_unique<sandbox::VmmdVmFactory>(*loop_, config().runtime.vmmdSocket);
    sandboxStore_ = std::make_unique<store::FsMetadataStore>(root() + "/.sandboxes");
    env_ = std::make_unique<sandbox::SandboxEnv>(
        sandbox::SandboxEnv{*loop_, *factory_, *sandboxStore_, root() + "/.run", logger_});
  }
  return *env_;
}

}  // namespace kata::ctl
