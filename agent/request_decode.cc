#include "agent/request_decode.h"

#include <set>

#include "agent/container_manager.h"
#include "common/error.h"

namespace kata::agent {
namespace {

// Largest message the agent accepts: 16 MiB (the default is 64 MiB, a quarter of a small guest).
// Bulk data flows through ByteStream in chunks, never as one message.
constexpr uint64_t kMaxMessageWords = 2 * 1024 * 1024;

bool hostnameChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '.' ||
         c == '-';
}

std::string asText(kj::ArrayPtr<const kj::byte> data) {
  return std::string(reinterpret_cast<const char*>(data.begin()), data.size());
}

}  // namespace

capnp::ReaderOptions agentReaderOptions() {
  capnp::ReaderOptions o;
  o.traversalLimitInWords = kMaxMessageWords;
  o.nestingLimit = 64;
  return o;
}

std::string decodeText(capnp::Text::Reader text, size_t maxBytes, const char* what) {
  if (text.size() > maxBytes)
    fail(ErrorKind::kInvalidArgument, std::string(what) + " is " + std::to_string(text.size()) +
                                          " bytes long; the limit is " + std::to_string(maxBytes));
  std::string s(text.cStr(), text.size());
  if (s.find('\0') != std::string::npos) fail(ErrorKind::kInvalidArgument, std::string(what) + " contains a NUL byte");
  return s;
}

void validateSandboxSettings(const SandboxSettings& s) {
  validateId(s.id, "sandbox id");
  if (s.hostname.size() > kMaxHostnameBytes)
    fail(ErrorKind::kInvalidArgument, "hostname is longer than " + std::to_string(kMaxHostnameBytes) + " bytes");
  for (char c : s.hostname)
    if (!hostnameChar(c))
      fail(ErrorKind::kInvalidArgument, "hostname \"" + s.hostname + "\" has characters other than [A-Za-z0-9_.-]");
  if (s.dns.size() > kMaxDnsServers)
    fail(ErrorKind::kInvalidArgument, "more than " + std::to_string(kMaxDnsServers) + " dns servers");
  for (const auto& d : s.dns)
    if (d.empty() || d.size() > 64 || d.find_first_not_of("0123456789abcdefABCDEF.:") != std::string::npos)
      fail(ErrorKind::kInvalidArgument, "dns server \"" + d.substr(0, 64) + "\" is not an IP address");
  if (s.shares.size() > kMaxShares)
    fail(ErrorKind::kInvalidArgument, "more than " + std::to_string(kMaxShares) + " shared mounts");
  std::set<std::string> seen;
  for (const auto& t : s.shares) {
    validateId(t, "mount tag");
    if (!seen.insert(t).second) fail(ErrorKind::kInvalidArgument, "mount tag \"" + t + "\" listed twice");
  }
}

SandboxSettings decodeSandboxConfig(ipc::agent::SandboxConfig::Reader cfg) {
  if (cfg.getDns().size() > kMaxDnsServers || cfg.getSharedMounts().size() > kMaxShares)
    fail(ErrorKind::kInvalidArgument, "too many dns servers (limit " + std::to_string(kMaxDnsServers) +
                                          ") or shared mounts (limit " + std::to_string(kMaxShares) + ")");
  SandboxSettings s;
  s.id = decodeText(cfg.getId(), kMaxIdBytes, "sandbox id");
  s.hostname = decodeText(cfg.getHostname(), kMaxHostnameBytes, "hostname");
  for (auto d : cfg.getDns()) s.dns.push_back(decodeText(d, 64, "dns server"));
  for (auto t : cfg.getSharedMounts()) s.shares.push_back(decodeText(t, kMaxIdBytes, "mount tag"));
  std::string fs = decodeText(cfg.getSharedFs(), 16, "sharedFs");
  if (fs == "virtio-fs") s.sharedFs = SandboxSettings::SharedFs::kVirtioFs;
  else if (!fs.empty() && fs != "virtio-9p")
    fail(ErrorKind::kInvalidArgument, "sharedFs \"" + fs + "\" is not \"virtio-9p\" or \"virtio-fs\"");
  validateSandboxSettings(s);
  return s;
}

ContainerRequest decodeContainerConfig(ipc::agent::ContainerConfig::Reader cfg) {
  ContainerRequest r;
  r.id = decodeText(cfg.getId(), kMaxIdBytes, "container id");
  validateId(r.id, "container id");
  auto json = cfg.getOciSpecJson();
  if (json.size() > oci::kMaxConfigBytes) fail(ErrorKind::kInvalidArgument, "OCI spec is larger than 4 MiB");
  r.rootfsShare = decodeText(cfg.getRootfsShare(), kMaxIdBytes, "rootfs share");
  validateId(r.rootfsShare, "rootfs share");
  r.rootfsPath = decodeText(cfg.getRootfsPath(), 4096, "rootfs path");
  r.spec = oci::parseSpec(std::string_view(reinterpret_cast<const char*>(json.begin()), json.size()));
  oci::validateSpec(r.spec);
  if (!r.spec.process) fail(ErrorKind::kInvalidArgument, "container \"" + r.id + "\": the OCI spec has no process");
  if (r.spec.linux && r.spec.linux->namespaces)
    for (const auto& ns : *r.spec.linux->namespaces) {
      if (ns.path)
        fail(ErrorKind::kNotSupported, "linux.namespaces: joining an existing " + ns.type +
                                           " namespace by path is not supported inside the VM");
      if (ns.type == "time") fail(ErrorKind::kNotSupported, "linux.namespaces: time namespaces are not supported");
      if (ns.type == "pid") r.ownPidNs = true;
    }
  return r;
}

ExecRequest decodeProcessSpec(ipc::agent::ProcessSpec::Reader spec) {
  ExecRequest r;
  r.execId = decodeText(spec.getExecId(), kMaxIdBytes, "exec id");
  validateId(r.execId, "exec id");
  auto json = spec.getProcessJson();
  if (json.size() > kMaxProcessJsonBytes) fail(ErrorKind::kInvalidArgument, "process JSON is larger than 1 MiB");
  // The OCI model parses a whole config; an exec's process is parsed as the process of a minimal one.
  std::string text = "{\"ociVersion\":\"1.0.2\",\"root\":{\"path\":\"rootfs\"},\"process\":" + asText(json) + "}";
  r.wrapped = oci::parseSpec(text);
  oci::validateSpec(r.wrapped);
  if (!r.wrapped.process) fail(ErrorKind::kInvalidArgument, "exec \"" + r.execId + "\": no process");
  return r;
}

oci::Resources decodeResources(kj::ArrayPtr<const kj::byte> json) {
  if (json.size() > kMaxResourcesJsonBytes) fail(ErrorKind::kInvalidArgument, "resources JSON is larger than 64 KiB");
  // Parsed (bounded, typed) as the linux.resources of a minimal config.
  std::string text =
      "{\"ociVersion\":\"1.0.2\",\"root\":{\"path\":\"rootfs\"},\"linux\":{\"resources\":" + asText(json) + "}}";
  oci::Spec wrapped = oci::parseSpec(text);
  if (!wrapped.linux || !wrapped.linux->resources) fail(ErrorKind::kInvalidArgument, "resources: missing");
  return *wrapped.linux->resources;
}

std::string decodeBlockSerial(capnp::Text::Reader serial) {
  std::string s = decodeText(serial, kMaxBlockSerialBytes, "block device serial");
  if (s.empty()) fail(ErrorKind::kInvalidArgument, "block device serial is empty");
  for (char c : s)
    if (!hostnameChar(c))
      fail(ErrorKind::kInvalidArgument, "block device serial \"" + s + "\" has characters other than [A-Za-z0-9_.-]");
  return s;
}

}  // namespace kata::agent
