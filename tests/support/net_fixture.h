// Network fixtures for functional tests (root): named network namespaces the test creates and
// removes, commands run to set them up (`ip`, CNI plugins: tests may shell out, the product may not),
// and raw Ethernet frames for reading and writing tap descriptors. Names carry the test's pid so
// concurrent sessions on one host never collide.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace kata::test {

// Runs argv (no shell), returns exit status and combined stdout+stderr.
struct CommandResult {
  int status = -1;
  std::string output;
};
CommandResult runCommand(const std::vector<std::string>& argv, const std::vector<std::string>& env = {},
                         const std::string& stdinData = "");
// Runs `sh -c script`; throws with the output when it fails.
std::string sh(const std::string& script);

// `ip netns add <name>`, removed (with everything in it) when the object goes away.
class NamedNetns {
 public:
  explicit NamedNetns(std::string name);
  ~NamedNetns();
  NamedNetns(const NamedNetns&) = delete;
  NamedNetns& operator=(const NamedNetns&) = delete;
  const std::string& name() const { return name_; }
  std::string path() const { return "/run/netns/" + name_; }
  // `ip -n <name> <args>`, throwing on failure.
  std::string ip(const std::string& args) const;

 private:
  std::string name_;
};

// A short name unique to this process: prefix + pid (fits IFNAMSIZ for prefixes up to 7 chars).
std::string uniqueName(const std::string& prefix);

// ---- frames ----
struct Frame {
  std::string dstMac, srcMac;
  uint16_t etherType = 0;
  int ipFamily = 0;  // AF_INET / AF_INET6 for UDP frames we parsed
  std::string srcIp, dstIp;
  uint16_t srcPort = 0, dstPort = 0;
  std::string payload;  // UDP payload
};
// Parses an Ethernet frame read from a tap/macvtap descriptor with `vnetHdr` bytes of virtio-net
// header in front. UDP over IPv4/IPv6 is decoded; other frames keep etherType only.
Frame parseFrame(const std::string& bytes, size_t vnetHdr);
// A UDP-over-IP Ethernet frame with correct IP and UDP checksums, prefixed with a zero virtio-net
// header of `vnetHdr` bytes (no offloads requested).
std::string buildUdpFrame(const Frame& frame, size_t vnetHdr);

// Reads frames from any of fds until `match` accepts one or the timeout passes.
std::optional<Frame> readFrame(const std::vector<int>& fds, size_t vnetHdr, std::chrono::milliseconds timeout,
                               const std::function<bool(const Frame&)>& match);

}  // namespace kata::test
