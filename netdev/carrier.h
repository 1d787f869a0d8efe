// Carrying a pod's network interfaces into a VM (docs/networking.md). The engine (or a CNI plugin)
// gave the pod a namespace with, typically, a veth whose peer sits on a bridge. The VM gets a NIC
// with the veth's MAC, and the namespace gets a descriptor pair that joins the two:
//
//   tcfilter (default): a tap next to the veth, an ingress qdisc on each, and on each a u32 filter
//     that matches every frame with action "mirred egress redirect" to the other. Frames arriving on
//     the veth leave through the tap (to QEMU); frames QEMU writes into the tap leave through the
//     veth. Works for any Ethernet interface; the pod's interface is not changed.
//   macvtap: a macvtap in passthru mode on top of the interface; its character device is the
//     descriptor. No tc objects; the lower device is put in promiscuous mode by the kernel.
//
// Everything created is described by a Plumbing, which a daemon records, so teardown removes exactly
// that, also after a restart.
#pragma once

#include <set>
#include <string>
#include <vector>

#include "common/fd.h"
#include "netdev/model.h"
#include "netdev/netns.h"
#include "netdev/rtnl.h"

namespace kata::netdev {

enum class Model { kTcFilter, kMacvtap };
const char* modelName(Model model);
// "tcfilter" | "macvtap"; "" gives the default (tcfilter). kInvalidArgument otherwise.
Model parseModel(const std::string& name);

// The interfaces of a namespace as the guest must reproduce them. Left out: loopback (the guest has
// its own), interfaces in `skip` (our own taps and macvtaps), and interfaces nobody configured (down
// and without an address other than IPv6 link-local, such as the fallback tunnels sit0/tunl0 the
// kernel creates in every namespace). An interface in use whose type cannot be carried is
// kNotSupported naming it and its type.
std::vector<Interface> describeNamespace(Rtnl& rtnl, const std::set<std::string>& skip = {});
// The same decision as a pure function of what was read (unit-tested). Returns the carried links.
std::vector<Interface> selectInterfaces(const std::vector<Link>& links,
                                        const std::vector<std::pair<int, std::vector<IpAddress>>>& addresses,
                                        const std::vector<Route>& routes, const std::set<std::string>& skip);

// One interface as describeNamespace describes it (addresses without IPv6 link-local ones, carried
// routes), without the selection; nullopt when the namespace has no interface of that index.
std::optional<Interface> describeInterface(Rtnl& rtnl, int index);

// What connect() made for one pod interface.
struct Plumbing {
  Model model = Model::kTcFilter;
  std::string podName;  // the pod's interface (e.g. eth0)
  int podIndex = 0;
  std::string device;   // the tap or macvtap
  int deviceIndex = 0;
};

struct ConnectOptions {
  unsigned queues = 1;
  std::optional<uid_t> owner;  // the VMM's uid/gid (taps: TUNSETOWNER/TUNSETGROUP)
  std::optional<gid_t> group;
  std::string devDir = "/dev";
};

struct Connection {
  Plumbing plumbing;
  std::vector<UniqueFd> queues;  // one descriptor per queue, for the VMM
};

// Joins the pod interface to a new descriptor set with the model. On failure, whatever was made is
// removed again before the error propagates.
Connection connectInterface(const Netns& ns, Rtnl& rtnl, const Link& pod, Model model, const ConnectOptions& options);
// Removes exactly what connect made: the filters and qdiscs on both sides (each filter goes with its
// qdisc), the tap or macvtap. Objects that are gone already are fine: a tap vanishes with the last
// descriptor (QEMU exited), a pod interface with its namespace.
void disconnectInterface(Rtnl& rtnl, const Plumbing& plumbing);
// What is left of a plumbing, as readable facts ("ingress qdisc on eth0", "tap tap2_kata"); empty
// when nothing is. For checks after teardown.
std::vector<std::string> leftovers(Rtnl& rtnl, const Plumbing& plumbing);

}  // namespace kata::netdev
