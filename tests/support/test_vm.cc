#include "tests/support/test_vm.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>

#include "common/error.h"

namespace kata::test {
namespace {

class TestVm final : public sandbox::Vm {
 public:
  TestVm(std::shared_ptr<TestVmRecord> rec, TestAgent& agent) : rec_(std::move(rec)), agent_(agent) {}

  sandbox::VmInfo info() override {
    alive();
    sandbox::VmInfo i;
    i.sandboxId = rec_->request.sandboxId;
    i.state = rec_->state;
    i.pid = 4242;
    i.vcpus = rec_->request.vcpus;
    i.memoryMiB = rec_->request.memoryMiB;
    return i;
  }
  sandbox::VmStats stats() override {
    alive();
    return sandbox::VmStats{rec_->request.memoryMiB << 20, 512ull << 20, rec_->request.vcpus};
  }
  void start() override { rec_->state = "running"; }
  void pause() override { rec_->state = "paused"; }
  void resume() override { rec_->state = "running"; }
  void share(int fd, const std::string& name, bool readOnly) override {
    alive();
    struct stat st {};
    KATA_SYSCALL(::fstat(fd, &st), "fstat the shared descriptor");
    char buf[4096];
    std::string link = "/proc/self/fd/" + std::to_string(fd);
    ssize_t n = KATA_SYSCALL(::readlink(link.c_str(), buf, sizeof buf - 1), "readlink " + link);
    rec_->shares.push_back(TestShare{name, readOnly, std::string(buf, static_cast<size_t>(n)), st.st_dev, st.st_ino,
                                     S_ISDIR(st.st_mode)});
    rec_->log.push_back("share " + name + (readOnly ? " ro" : ""));
  }
  void unshare(const std::string& name) override {
    alive();
    auto it = std::find_if(rec_->shares.begin(), rec_->shares.end(), [&](const TestShare& s) { return s.name == name; });
    if (it == rec_->shares.end()) fail(ErrorKind::kNotFound, "share " + name + " does not exist");
    rec_->shares.erase(it);
    rec_->log.push_back("unshare " + name);
  }
  void hotplug(const sandbox::HotplugDevice& device) override {
    alive();
    if (!rec_->hotplugError.empty()) fail(ErrorKind::kInvalidArgument, rec_->hotplugError);
    rec_->log.push_back("hotplug " + device.id);
  }
  void unplug(const std::string& deviceId, std::chrono::milliseconds) override {
    alive();
    rec_->log.push_back("unplug " + deviceId);
  }
  UniqueFd agentChannel() override { return agent_.connect(); }
  std::vector<sandbox::Interface> network() override {
    alive();
    return rec_->carried;
  }
  std::vector<sandbox::Interface> attachNetwork(int netnsFd, const std::string& interfaceName) override {
    alive();
    if (netnsFd < 0 && rec_->request.netnsFd < 0)
      fail(ErrorKind::kFailedPrecondition, "sandbox " + rec_->request.sandboxId + " has no network namespace");
    std::vector<sandbox::Interface> added;
    auto& u = rec_->uncarried;
    for (auto it = u.begin(); it != u.end();) {
      if (interfaceName.empty() || it->name == interfaceName) {
        added.push_back(*it);
        rec_->carried.push_back(*it);
        rec_->log.push_back("attach " + it->name);
        it = u.erase(it);
      } else {
        ++it;
      }
    }
    return added;
  }
  void detachInterface(const std::string& name, std::chrono::milliseconds) override {
    alive();
    auto& c = rec_->carried;
    auto it = std::find_if(c.begin(), c.end(), [&](const sandbox::Interface& i) { return i.name == name; });
    if (it == c.end()) fail(ErrorKind::kNotFound, "sandbox " + rec_->request.sandboxId + " carries no interface " + name);
    rec_->uncarried.push_back(*it);
    c.erase(it);
    rec_->log.push_back("detach " + name);
  }
  void destroy(std::chrono::milliseconds) override {
    alive();
    rec_->destroyed = true;
    rec_->state = "stopped";
    rec_->log.push_back("destroy");
  }

 private:
  void alive() {
    if (rec_->destroyed) fail(ErrorKind::kNotFound, "sandbox " + rec_->request.sandboxId + " does not exist");
  }
  std::shared_ptr<TestVmRecord> rec_;
  TestAgent& agent_;
};

}  // namespace

std::unique_ptr<sandbox::Vm> TestVmFactory::create(const sandbox::VmRequest& request, UniqueFd& agentChannel) {
  ++creates;
  if (!createError.empty()) fail(ErrorKind::kPermissionDenied, createError);
  auto rec = std::make_shared<TestVmRecord>();
  rec->request = request;
  rec->imageKernel = request.image ? request.image->kernel : "";
  rec->request.image = nullptr;
  vms_[request.sandboxId] = rec;
  agentChannel = agent_.connect();
  return std::make_unique<TestVm>(rec, agent_);
}

std::unique_ptr<sandbox::Vm> TestVmFactory::open(const std::string& sandboxId) {
  ++opens;
  auto it = vms_.find(sandboxId);
  if (it == vms_.end() || it->second->destroyed) fail(ErrorKind::kNotFound, "sandbox " + sandboxId + " does not exist");
  return std::make_unique<TestVm>(it->second, agent_);
}

}  // namespace kata::test
