// The privileged half of a sandbox's pod network (docs/networking.md): admitting a client's network
// namespace, pinning it, creating the tap/macvtap and tc objects inside it for each interface,
// hot-plugging and unplugging the NICs, and tearing it all down. The unprivileged half (configuring
// the guest through the agent) is the client's: kata-vmmd never talks to the guest.
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

}  // namespace

netdev::Netns SandboxManager::admitNetns(const CallerId& caller, int fd, const std::string& id) {
  netdev::Netns ns = netdev::Netns::fromFd(fd, "the network namespace descriptor passed for sandbox " + id);
  authorizeNetns(options_.policy, caller, netdev::netnsOwnership(ns), ns.id().str());
  return ns;
}

void SandboxManager::pinNetwork(SandboxRecord& r, const netdev::Netns& ns) {
  std::string pin = netnsPinPath(r.id);
  // A pin left by a crash between pinning and recording: nothing refers to it any more.
  netdev::unpinNetns(pin);
  netdev::pinNetns(ns, pin);
  NetworkRecord net;
  net.netnsPin = pin;
  net.nsDev = ns.id().dev;
  net.nsIno = ns.id().ino;
  r.network = std::move(net);
}

netdev::Netns SandboxManager::pinnedNetns(const SandboxRecord& r) {
  if (!r.network) fail(ErrorKind::kFailedPrecondition, "sandbox " + r.id + " has no network namespace");
  netdev::Netns ns = netdev::Netns::open(r.network->netnsPin);
  if (ns.id().dev != r.network->nsDev || ns.id().ino != r.network->nsIno)
    fail(ErrorKind::kFailedPrecondition, "the network namespace pinned at " + r.network->netnsPin + " is " + ns.id().str() +
                                             ", not the sandbox's net:[" + std::to_string(r.network->nsIno) + "]");
  return ns;
}

std::vector<SandboxManager::Carried> SandboxManager::carryInterfaces(SandboxRecord& r, const netdev::Netns& ns,
                                                                     const std::string& name, netdev::Model model,
                                                                     unsigned queues,
                                                                     const security::IdentitySpec& vmIdentity) {
  if (queues == 0) queues = 1;
  if (queues > netdev::kMaxQueues)
    fail(ErrorKind::kInvalidArgument, "netQueues " + std::to_string(queues) + " exceeds " + std::to_string(netdev::kMaxQueues));
  netdev::Rtnl rtnl = netdev::Rtnl::openIn(ns);
  std::set<std::string> ours;
  std::set<int> carried;
  for (const auto& n : r.network->nics) {
    ours.insert(n.device);
    carried.insert(n.podIndex);
  }
  std::vector<netdev::Interface> todo;
  for (auto& i : netdev::describeNamespace(rtnl, ours))
    if (!carried.count(i.link.index) && (name.empty() || i.link.name == name)) todo.push_back(std::move(i));
  if (!name.empty() && todo.empty())
    fail(ErrorKind::kNotFound, "the network namespace of sandbox " + r.id + " has no interface " + name +
                                   " that is not carried already");
  uint32_t limit = std::min(kMaxNics, options_.policy.maxInterfaces);
  if (r.network->nics.size() + todo.size() > limit)
    fail(ErrorKind::kPermissionDenied, "sandbox " + r.id + " would carry " + std::to_string(r.network->nics.size() + todo.size()) +
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

void SandboxManager::teardownNic(const SandboxRecord& r, const NicRecord& nic) {
  try {
    netdev::Netns ns = pinnedNetns(r);
    netdev::Rtnl rtnl = netdev::Rtnl::openIn(ns);
    netdev::Plumbing p{netdev::parseModel(nic.model), nic.podName, nic.podIndex, nic.device, nic.deviceIndex};
    netdev::disconnectInterface(rtnl, p);
    auto left = netdev::leftovers(rtnl, p);
    if (!left.empty()) {
      std::string what;
      for (const auto& l : left) what += (what.empty() ? "" : ", ") + l;
      logFor(r.id).warn("after removing the plumbing of " + nic.podName + " there is still: " + what);
    }
  } catch (const Error& e) {
    logFor(r.id).error("could not remove the plumbing of interface " + nic.podName + " (" + nic.device + "): " + e.what());
  }
}

void SandboxManager::teardownNetwork(SandboxRecord& r) {
  if (!r.network) return;
  for (const auto& nic : r.network->nics) teardownNic(r, nic);
  try {
    netdev::unpinNetns(r.network->netnsPin);
  } catch (const Error& e) {
    logFor(r.id).error(std::string("could not unpin the network namespace: ") + e.what());
  }
  r.network.reset();
}

std::vector<NetInterfaceInfo> SandboxManager::attachNetwork(const CallerId& caller, const std::string& id,
                                                            std::optional<int> netnsFd, const std::string& interfaceName,
                                                            const std::string& model, uint32_t queues) {
  Sandbox& s = find(caller, id);
  QemuHypervisor& vm = running(s);
  if (!interfaceName.empty()) netdev::validateIfName(interfaceName, "interface name");
  netdev::Model m = netdev::parseModel(model);
  std::optional<netdev::Netns> ns;
  if (netnsFd) {
    ns.emplace(admitNetns(caller, *netnsFd, id));
    if (s.record.network && (ns->id().dev != s.record.network->nsDev || ns->id().ino != s.record.network->nsIno))
      fail(ErrorKind::kFailedPrecondition, "sandbox " + id + " carries network namespace net:[" +
                                               std::to_string(s.record.network->nsIno) + "]; " + ns->id().str() +
                                               " is another one (a pod has one network namespace)");
    if (!s.record.network) {
      pinNetwork(s.record, *ns);
      save(s);
    }
  } else {
    if (!s.record.network)
      fail(ErrorKind::kInvalidArgument, "sandbox " + id + " has no network namespace yet: pass one");
    ns.emplace(pinnedNetns(s.record));
  }
  Logger log = logFor(id);
  std::vector<Carried> carried = carryInterfaces(s.record, *ns, interfaceName, m, queues, driverOptions(s.record).identity);
  std::vector<NetInterfaceInfo> out;
  netdev::Rtnl rtnl = netdev::Rtnl::openIn(*ns);
  for (size_t k = 0; k < carried.size(); ++k) {
    Carried& c = carried[k];
    try {
      vm.hotplug(c.device);
    } catch (...) {
      // This one and the ones not plugged yet go; the ones plugged before stay carried.
      for (size_t j = k; j < carried.size(); ++j) netdev::disconnectInterface(rtnl, carried[j].connection.plumbing);
      save(s);
      throw;
    }
    c.connection.queues.clear();  // QEMU holds them now (getfd)
    c.nic.hotplugged = true;
    s.record.network->nics.push_back(c.nic);
    save(s);
    log.info("hot-plugged NIC " + c.nic.deviceId + " for " + c.nic.podName + " (" + c.nic.model + ", " + c.nic.device + ")");
    if (auto i = describeNic(rtnl, c.nic)) out.push_back(NetInterfaceInfo{*i, c.nic});
  }
  return out;
}

void SandboxManager::detachInterface(const CallerId& caller, const std::string& id, const std::string& name,
                                     uint32_t timeoutMs) {
  Sandbox& s = find(caller, id);
  netdev::validateIfName(name, "interface name");
  if (!s.record.network) fail(ErrorKind::kNotFound, "sandbox " + id + " carries no interface " + name);
  auto& nics = s.record.network->nics;
  auto it = std::find_if(nics.begin(), nics.end(), [&](const NicRecord& n) { return n.podName == name; });
  if (it == nics.end()) fail(ErrorKind::kNotFound, "sandbox " + id + " carries no interface " + name);
  if (!s.record.stopped && s.vm) s.vm->unplug(it->deviceId, deadlineIn(boundedMs(timeoutMs)));
  teardownNic(s.record, *it);
  logFor(id).info("removed NIC " + it->deviceId + " of " + name);
  nics.erase(it);
  save(s);
}

std::vector<NetInterfaceInfo> SandboxManager::listNetwork(const CallerId& caller, const std::string& id) {
  Sandbox& s = find(caller, id);
  std::vector<NetInterfaceInfo> out;
  if (!s.record.network) return out;
  netdev::Rtnl rtnl = netdev::Rtnl::openIn(pinnedNetns(s.record));
  for (const auto& nic : s.record.network->nics) {
    NetInterfaceInfo info{{}, nic};
    if (auto i = describeNic(rtnl, nic)) info.iface = *i;
    else info.iface.link.name = nic.podName;  // gone from the namespace
    out.push_back(std::move(info));
  }
  return out;
}

}  // namespace kata::vmmd
