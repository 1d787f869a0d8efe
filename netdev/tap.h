// Descriptors a VMM reads and writes Ethernet frames through: taps (/dev/net/tun) and the character
// devices of macvtaps (/dev/tap<ifindex>). Both come with IFF_VNET_HDR, so QEMU's virtio-net can pass
// checksum and segmentation offloads through instead of computing them per packet.
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>
#include <vector>

#include "common/fd.h"
#include "netdev/netns.h"

namespace kata::netdev {

inline constexpr unsigned kMaxQueues = 16;

struct TapOptions {
  std::string name;     // the tap's interface name in the namespace
  unsigned queues = 1;  // 1..kMaxQueues descriptors (IFF_MULTI_QUEUE: one per virtio queue pair)
  // The VMM's identity (TUNSETOWNER/TUNSETGROUP): lets an unprivileged QEMU re-attach a queue the
  // guest disabled and enabled again (TUNSETQUEUE), which the kernel allows only to the tap's owner.
  std::optional<uid_t> owner;
  std::optional<gid_t> group;
  std::string devNetTun = "/dev/net/tun";
};

// Creates a tap inside ns: IFF_TAP | IFF_NO_PI | IFF_VNET_HDR | IFF_MULTI_QUEUE, the first queue with
// IFF_TUN_EXCL (an existing interface of that name is an error, never attached to). Not persistent:
// the tap disappears when the last descriptor closes, so a VMM that dies takes it along.
std::vector<UniqueFd> createTap(const Netns& ns, const TapOptions& options);

// Opens the character device of the macvtap `name` (index `ifindex` in its namespace) `queues`
// times. devtmpfs names the node after the ifindex alone, so in a host with several namespaces
// /dev/tap<N> can belong to another namespace's macvtap: each descriptor is checked (TUNGETIFF) to
// name our macvtap, whose name the caller makes unguessable (randomName), and refused otherwise.
std::vector<UniqueFd> openMacvtap(int ifindex, const std::string& name, unsigned queues,
                                  const std::string& devDir = "/dev");

// prefix + 8 random hex digits (getrandom), e.g. "kmvt3fa9c01e"; prefix at most 7 characters.
std::string randomName(const std::string& prefix);

}  // namespace kata::netdev
