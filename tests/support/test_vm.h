// A VmFactory for tests of the Sandbox API that cannot boot a VM: its VMs keep in memory what they
// were asked (shares with the file each descriptor held, unshares, hot-plugs, destroy) and connect
// their agent channel to a TestAgent. The image is never booted; the request is recorded.
#pragma once

#include <sys/types.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "runtime/sandbox/vm_factory.h"
#include "tests/support/test_agent.h"

namespace kata::test {

struct TestShare {
  std::string name;
  bool readOnly = false;
  std::string path;  // what the descriptor held (/proc/self/fd), at share time
  dev_t dev = 0;
  ino_t ino = 0;
  bool dir = false;
};

struct TestVmRecord {
  sandbox::VmRequest request;   // image points at nothing once create() returned
  std::string imageKernel;      // request.image->kernel
  std::vector<TestShare> shares;        // currently shared
  std::vector<std::string> log;         // "share c1 ro", "unshare c1", "hotplug d1", "unplug d1", "destroy"
  bool destroyed = false;
  std::string state = "running";
  std::string hotplugError;     // non-empty: hotplug fails with kInvalidArgument and this text
  // The pod network as kata-vmmd would describe it: what the VM carries, and interfaces of the pod's
  // namespace not carried yet (attachNetwork moves one over; detachInterface drops it).
  std::vector<sandbox::Interface> carried;
  std::vector<sandbox::Interface> uncarried;
};

class TestVmFactory final : public sandbox::VmFactory {
 public:
  explicit TestVmFactory(TestAgent& agent) : agent_(agent) {}

  std::unique_ptr<sandbox::Vm> create(const sandbox::VmRequest& request, UniqueFd& agentChannel) override;
  std::unique_ptr<sandbox::Vm> open(const std::string& sandboxId) override;

  // The VM of a sandbox (created by this factory), for the test to inspect.
  TestVmRecord& vm(const std::string& sandboxId) { return *vms_.at(sandboxId); }
  bool hasVm(const std::string& sandboxId) const { return vms_.count(sandboxId) > 0; }

  std::string createError;  // non-empty: create() fails with kPermissionDenied and this text
  int creates = 0;
  int opens = 0;

 private:
  TestAgent& agent_;
  std::map<std::string, std::shared_ptr<TestVmRecord>> vms_;
};

}  // namespace kata::test
