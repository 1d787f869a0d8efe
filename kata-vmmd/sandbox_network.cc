// The privileged half of a sandbox's pod network (docs/networking.md): admitting a client's network
// namespace, pinning it, creating the tap/macvtap and tc objects inside it for each interface,
// hot-plugging and unplugging the NICs, and tearing it all down. The unprivileged half (configuring
// the guest through the agent) is the client's: kata-vmmd never talks to the guest.
//
// Threads (sandbox_manager.h): authorization and the checks of a request run on the event loop;
// the plumbing and the QMP calls of attach and detach run on the VM's worker, one job each, against
// the worker's copy of the network state (VmRunner::network); the loop records what the job hands
// back (recordNetworkChange). Netlink itself runs on netdev's short-lived threads inside the pod's
// namespace (netdev/netns.h), whichever thread asks.
#include <fcntl.h>
#include <sys/stat.h>

#include <algorithm>

#include "common/error.h"
#include "kata-vmmd/qemu_config.h"
#include "kata-vmmd/sandbox_manager.h"
#include "kata-vmmd/validation.h"
#include "netdev/rtnl.h"
#include "netdev/tap.h"

namespace kata::vmmd {
namespace {

std::chrono::milliseconds boundedMs(uint32_t ms) {
  if (ms == 0) ms = 10000;
  return std::chrono::milliseconds(std::min(ms, kMaxTimeoutMs));
}

// The interface as the namespace has it now, if it is still the one carried.
std::optional<netdev::Interface> describeNic(netdev::Rtnl& rtnl, const NicRecord& nic) {
  auto i = netdev::describeInterface(rtnl, nic.podIndex);
  if (!i || i->link.name != nic.podName) return std::nullopt;
  return i;
}

std::vector<std::string> hotplugEntriesOf(const QemuHypervisor& vm) {
  std::vector<std::string> out;
  for (const auto& [dev, slot] : vm.adoption().hotplugSlots) out.push_back(dev + "@" + std::to_string(slot));
  return out;
}

bool sameNetns(const netdev::Netns& ns, const NetworkRecord& net) {
  return ns.id().dev == net.nsDev && ns.id().ino == net.nsIno;
}

std::string otherNetnsMessage(const std::string& id, const NetworkRecord& net, const netdev::Netns& ns) {
  return "sandbox " + id + " carries network namespace net:[" + std::to_string(net.nsIno) + "]; " + ns.id().str() +
         " is another one (a pod has one network namespace)";
}

}  // namespace

netdev::Netns SandboxManager::admitNetns(const CallerId& caller, int fd, const std::string& id) const {
  netdev::Netns ns = netdev::Netns::fromFd(fd, "the network namespace descriptor passed for sandbox " + id);
  authorizeNetns(options_.policy, caller, netdev::netnsOwnership(ns), ns.id().str());
  return ns;
}

NetworkRecord SandboxManager::pinNetwork(const std::string& id, const netdev::Netns& ns) const {
  std::string pin = netnsPinPath(id);
  // A pin left by a crash between pinning and recording: nothing refers to it any more.
  netdev::unpinNetns(pin);
  netdev::pinNetns(ns, pin);
  NetworkRecord net;
  net.netnsPin = pin;
  net.nsDev = ns.id().dev;
  net.nsIno = ns.id().ino;
  return net;
}

netdev::Netns SandboxManager::pinnedNetns(const std::string& id, const NetworkRecord& net) const {
  netdev::Netns ns = netdev::Netns::open(net.netnsPin);
  if (!sameNetns(ns, net))
    fail(ErrorKind::kFailedPrecondition, "the network namespace pinned at " + net.netnsPin + " is " + ns.id().str() +
                                             ", not the one of sandbox " + id + " (net:[" + std::to_string(net.nsIno) + "])");
  return ns;
}

std::vector<SandboxManager::Carried> SandboxManager::carryInterfaces(const std::string& id, const NetworkRecord& net,
                                                                     const netdev::Netns& ns, const std::string& name,
                                                                     netdev::Model model, unsigned queues,
                                                                     const security::IdentitySpec& vmIdentity) const {
  if (queues == 0) queues = 1;
  if (queues > netdev::kMaxQueues)
    fail(ErrorKind::kInvalidArgument, "netQueues " + std::to_string(queues) + " exceeds " + std::to_string(netdev::kMaxQueues));
  netdev::Rtnl rtnl = netdev::Rtnl::openIn(ns);
  std::set<std::string> ours;
  std::set<int> carried;
  for (const auto& n : net.nics) {
    ours.insert(n.device);
    carried.insert(n.podIndex);
  }
  std::vector<netdev::Interface> todo;
  for (auto& i : netdev::describeNamespace(rtnl, ours))
    if (!carried.count(i.link.index) && (name.empty() || i.link.name == name)) todo.push_back(std::move(i));
  if (!name.empty() && todo.empty())
    fail(ErrorKind::kNotFound, "the network namespace of sandbox " + id + " has no interface " + name +
                                   " that is not carried already");
  uint32_t limit = std::min(kMaxNics, options_.policy.maxInterfaces);
  if (net.nics.size() + todo.size() > limit)
    fail(ErrorKind::kPermissionDenied, "sandbox " + id + " would carry " + std::to_string(net.nics.size() + todo.size()) +
                                           " interfaces, the limit is " + std::to_string(limit));
  netdev::ConnectOptions o;
  o.queues = queues;
  o.owner = vmIdentity.uid;
  o.group = vmIdentity.gid;
  std::vector<Carried> out;
  try {
    for (const auto& i : todo) {
      Carried c;
      c.connection = netdev::connectInterface(ns, rtnl, i.link, model, o);
      const netdev::Plumbing& p = c.connection.plumbing;
      c.nic.deviceId = "nic" + std::to_string(i.link.index);
      c.nic.model = netdev::modelName(model);
      c.nic.podName = p.podName;
      c.nic.podIndex = p.podIndex;
      c.nic.device = p.device;
      c.nic.deviceIndex = p.deviceIndex;
      c.nic.mac = i.link.mac;
      c.nic.queues = queues;
      c.device.id = c.nic.deviceId;
      for (const auto& fd : c.connection.queues) c.device.tapFds.push_back(fd.get());
      c.device.mac = i.link.mac;
      c.device.mtu = i.link.mtu;
      out.push_back(std::move(c));
    }
  } catch (...) {
    for (const auto& c : out) netdev::disconnectInterface(rtnl, c.connection.plumbing);
    throw;
  }
  return out;
}

void SandboxManager::teardownNic(const std::string& id, const NetworkRecord& net, const NicRecord& nic) const {
  try {
    netdev::Netns ns = pinnedNetns(id, net);
    netdev::Rtnl rtnl = netdev::Rtnl::openIn(ns);
    netdev::Plumbing p{netdev::parseModel(nic.model), nic.podName, nic.podIndex, nic.device, nic.deviceIndex};
    netdev::disconnectInterface(rtnl, p);
    auto left = netdev::leftovers(rtnl, p);
    if (!left.empty()) {
      std::string what;
      for (const auto& l : left) what += (what.empty() ? "" : ", ") + l;
      logFor(id).warn("after removing the plumbing of " + nic.podName + " there is still: " + what);
    }
  } catch (const Error& e) {
    logFor(id).error("could not remove the plumbing of interface " + nic.podName + " (" + nic.device + "): " + e.what());
  }
}

void SandboxManager::teardownNetwork(const std::string& id, std::optional<NetworkRecord>& net) const {
  if (!net) return;
  for (const auto& nic : net->nics) teardownNic(id, *net, nic);
  try {
    netdev::unpinNetns(net->netnsPin);
  } catch (const Error& e) {
    logFor(id).error(std::string("could not unpin the network namespace: ") + e.what());
  }
  net.reset();
}

kj::Promise<std::vector<NetInterfaceInfo>> SandboxManager::attachNetwork(const CallerId& caller, const std::string& id,
                                                                         std::optional<int> netnsFd,
                                                                         const std::string& interfaceName,
                                                                         const std::string& model, uint32_t queues) {
  Sandbox& s = find(caller, id);
  requireRunning(s);
  if (!interfaceName.empty()) netdev::validateIfName(interfaceName, "interface name");
  netdev::Model m = netdev::parseModel(model);
  if (queues > netdev::kMaxQueues)
    fail(ErrorKind::kInvalidArgument, "queues " + std::to_string(queues) + " exceeds " + std::to_string(netdev::kMaxQueues));
  std::optional<netdev::Netns> ns;
  if (netnsFd) {
    ns.emplace(admitNetns(caller, *netnsFd, id));
    if (s.record.network && !sameNetns(*ns, *s.record.network))
      fail(ErrorKind::kFailedPrecondition, otherNetnsMessage(id, *s.record.network, *ns));
  }
  const security::IdentitySpec identity = driverOptions(s.record).identity;
  VmRunner* runner = s.runner.get();
  auto job = [this, runner, id, ns = std::move(ns), interfaceName, m, queues, identity]() mutable -> NetworkChange {
    if (!runner->vm) fail(ErrorKind::kFailedPrecondition, "sandbox " + id + " is not running (it was stopped)");
    QemuHypervisor& vm = *runner->vm;
    Logger log = logFor(id);
    NetworkChange out;
    try {
      // Checked again here: an attach queued before this one may have pinned the namespace.
      if (ns) {
        if (runner->network && !sameNetns(*ns, *runner->network))
          fail(ErrorKind::kFailedPrecondition, otherNetnsMessage(id, *runner->network, *ns));
        if (!runner->network) runner->network = pinNetwork(id, *ns);
      } else {
        if (!runner->network)
          fail(ErrorKind::kInvalidArgument, "sandbox " + id + " has no network namespace yet: pass one");
        ns.emplace(pinnedNetns(id, *runner->network));
      }
      std::vector<Carried> carried = carryInterfaces(id, *runner->network, *ns, interfaceName, m, queues, identity);
      netdev::Rtnl rtnl = netdev::Rtnl::openIn(*ns);
      for (size_t k = 0; k < carried.size(); ++k) {
        Carried& c = carried[k];
        try {
          vm.hotplug(c.device);
        } catch (...) {
          // This one and the ones not plugged yet go; the ones plugged before stay carried.
          for (size_t j = k; j < carried.size(); ++j) netdev::disconnectInterface(rtnl, carried[j].connection.plumbing);
          throw;
        }
        c.connection.queues.clear();  // QEMU holds them now (getfd)
        c.nic.hotplugged = true;
        runner->network->nics.push_back(c.nic);
        log.info("hot-plugged NIC " + c.nic.deviceId + " for " + c.nic.podName + " (" + c.nic.model + ", " + c.nic.device + ")");
        if (auto i = describeNic(rtnl, c.nic)) out.added.push_back(NetInterfaceInfo{*i, c.nic});
      }
    } catch (const Error& e) {
      out.failure = e;
    } catch (const std::exception& e) {
      out.failure = Error(ErrorKind::kInternal, "attachNetwork of sandbox " + id + ": " + e.what());
    }
    out.network = runner->network;
    out.hotplugged = hotplugEntriesOf(vm);
    return out;
  };
  return recordNetworkChange(id, runner->worker.run<NetworkChange>(std::move(job)))
      .then([](NetworkChange c) { return std::move(c.added); });
}

kj::Promise<void> SandboxManager::detachInterface(const CallerId& caller, const std::string& id, const std::string& name,
                                                  uint32_t timeoutMs) {
  Sandbox& s = find(caller, id);
  netdev::validateIfName(name, "interface name");
  auto carries = [&name](const std::optional<NetworkRecord>& net) {
    return net && std::any_of(net->nics.begin(), net->nics.end(), [&](const NicRecord& n) { return n.podName == name; });
  };
  if (!carries(s.record.network)) fail(ErrorKind::kNotFound, "sandbox " + id + " carries no interface " + name);
  Deadline deadline = deadlineIn(boundedMs(timeoutMs));
  VmRunner* runner = s.runner.get();
  // A stopped sandbox's NIC has no device to unplug any more, only plumbing to remove.
  auto job = [this, runner, id, name, deadline]() -> NetworkChange {
    if (!runner->network) fail(ErrorKind::kNotFound, "sandbox " + id + " carries no interface " + name);
    auto& nics = runner->network->nics;
    auto it = std::find_if(nics.begin(), nics.end(), [&](const NicRecord& n) { return n.podName == name; });
    if (it == nics.end()) fail(ErrorKind::kNotFound, "sandbox " + id + " carries no interface " + name);
    if (runner->vm) runner->vm->unplug(it->deviceId, deadline);  // device_del, DEVICE_DELETED, netdev_del
    teardownNic(id, *runner->network, *it);
    logFor(id).info("removed NIC " + it->deviceId + " of " + name);
    nics.erase(it);
    NetworkChange out;
    out.network = runner->network;
    if (runner->vm) out.hotplugged = hotplugEntriesOf(*runner->vm);
    return out;
  };
  return recordNetworkChange(id, runner->worker.run<NetworkChange>(std::move(job))).then([](NetworkChange) {});
}

std::vector<NetInterfaceInfo> SandboxManager::listNetwork(const CallerId& caller, const std::string& id) {
  Sandbox& s = find(caller, id);
  std::vector<NetInterfaceInfo> out;
  if (!s.record.network) return out;
  // The record as the loop has it (a change in flight shows once its job is done) and the namespace
  // as the kernel has it now: one netlink dump, nothing of the VM.
  netdev::Rtnl rtnl = netdev::Rtnl::openIn(pinnedNetns(id, *s.record.network));
  for (const auto& nic : s.record.network->nics) {
    NetInterfaceInfo info{{}, nic};
    if (auto i = describeNic(rtnl, nic)) info.iface = *i;
    else info.iface.link.name = nic.podName;  // gone from the namespace
    out.push_back(std::move(info));
  }
  return out;
}

}  // namespace kata::vmmd
