#include "tests/support/local_agent.h"

#include <gtest/gtest.h>

namespace kata::test {

class LocalAgent::Host final : public agent::AgentHost {
 public:
  void requestPowerOff() override {}
};

namespace {
bool captureOnce() {
  agent::Reaper::captureSigchld();
  return true;
}
agent::ManagerPaths paths() {
  agent::ManagerPaths p;
  p.sharedDir = ::testing::TempDir() + "/local-agent-shared";
  p.resolvConf = ::testing::TempDir() + "/local-agent-resolv.conf";
  return p;
}
}  // namespace

LocalAgent::LocalAgent(std::optional<netdev::Rtnl> network)
    : captured_(captureOnce()), io_(kj::setupAsyncIo()), host_(std::make_unique<Host>()), reaper_(io_.unixEventPort, log_) {
  containers_ = std::make_unique<agent::ContainerManager>(*io_.lowLevelProvider, io_.provider->getTimer(), reaper_,
                                                          boot_.modules, agent::makeProcessLauncher(), log_, paths());
  if (network) {
    net_.emplace(std::move(*network));
    service_.emplace(agent::NetworkService{*net_, io_.provider->getTimer()});
  }
  agent_ = kj::heap<agent::AgentServer>(boot_, *host_, *containers_, service_ ? &*service_ : nullptr);
}

LocalAgent::~LocalAgent() noexcept {
  agent_ = nullptr;
  containers_.reset();
}

}  // namespace kata::test
