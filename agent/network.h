// The guest's network configuration (ipc/agent.capnp protocol 3: updateInterface, removeInterface,
// listInterfaces, updateRoutes, listRoutes). The host carried each pod interface in as a NIC with
// the same MAC; this makes the guest's NIC look exactly like the pod's interface: name, MTU,
// addresses, routes. rtnetlink through netdev::Rtnl (libnl, linked statically into the agent).
#pragma once

#include <optional>
#include <set>
#include <string>
#include <vector>

#include "netdev/model.h"
#include "netdev/rtnl.h"

namespace kata::agent {

// What the host asks an interface to become.
struct InterfaceSpec {
  std::string mac;   // which NIC (normalized, lower case)
  std::string name;  // empty: keep the kernel's name
  uint32_t mtu = 0;  // 0: keep
  std::vector<netdev::IpAddress> addresses;
};

// Bounds the host is held to (it is trusted, but a bug must not make the agent loop or allocate
// without limit).
inline constexpr size_t kMaxAddresses = 64;
inline constexpr size_t kMaxRoutes = 256;

class GuestNetwork {
 public:
  explicit GuestNetwork(netdev::Rtnl rtnl) : rtnl_(std::move(rtnl)) {}

  // Brings loopback up (at boot: the guest's own 127.0.0.1 and ::1, which containers share).
  void bringUpLoopback();

  // The interface with this MAC, if the guest has it yet (a hot-plugged NIC appears when its driver
  // probed it).
  std::optional<netdev::Link> findByMac(const std::string& mac);
  // Configures the NIC with spec.mac: renames it (moving an interface that holds the name aside),
  // sets the MTU, replaces its addresses (IPv6 link-local ones are the kernel's and stay), brings it
  // up. Returns it as the guest now has it. kNotFound when no NIC has that MAC.
  netdev::Interface updateInterface(const InterfaceSpec& spec);
  // Takes the NIC down and removes every address (its routes go with them). kNotFound for an
  // unknown MAC.
  void removeInterface(const std::string& mac);
  // Every interface, loopback included, with all its addresses and its main-table routes.
  std::vector<netdev::Interface> listInterfaces();
  // Replaces the main-table routes (both families) of the interfaces configured through
  // updateInterface, and of any interface a route names, with `routes` (added on-link first, so
  // each gateway is reachable). fe80::/64 stays. Returns the main table.
  std::vector<netdev::Route> updateRoutes(const std::vector<netdev::Route>& routes);
  std::vector<netdev::Route> listRoutes();

 private:
  netdev::Interface describe(const netdev::Link& link);
  netdev::Rtnl rtnl_;
  std::set<int> configured_;  // ifindexes the host configured
};

// A route as the host describes it (agent.capnp Route), checked and completed: family from the
// addresses when `family` is 0, canonical address text, "default" for 0/0. kInvalidArgument naming
// the field otherwise.
netdev::Route checkedRoute(const std::string& destination, const std::string& gateway, const std::string& device,
                           const std::string& source, unsigned family, uint32_t metric);

}  // namespace kata::agent
