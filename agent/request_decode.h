// Decoding and validation of what the host sends, before anything in the guest changes: Cap'n Proto
// requests (ipc/agent.capnp) become checked C++ values or a kata::Error(kInvalidArgument/
// kNotSupported) that says what is wrong. Pure functions with no side effects, so the fuzzer
// (tests/fuzz/agent_request_fuzz.cc) runs exactly the code the RPC servers run.
#pragma once

#include <capnp/message.h>
#include <kj/array.h>

#include <string>
#include <vector>

#include "ipc/agent.capnp.h"
#include "runtime/oci/spec.h"

namespace kata::agent {

// Longest virtio-blk serial the guest sees (VIRTIO_BLK_ID_BYTES).
inline constexpr size_t kMaxBlockSerialBytes = 20;
// Longest a waitBlockDevice call may wait.
inline constexpr uint32_t kMaxBlockWaitMs = 10 * 60 * 1000;

// The limits the agent reads host messages with (channel and vsock sessions, and the fuzzer).
capnp::ReaderOptions agentReaderOptions();

// A Text field as a std::string: at most maxBytes, no NUL inside (a C string would silently cut it).
std::string decodeText(capnp::Text::Reader text, size_t maxBytes, const char* what);

struct SandboxSettings {
  std::string id;
  std::string hostname;
  std::vector<std::string> dns;
  std::vector<std::string> shares;  // mount tags
  enum class SharedFs { kVirtio9p, kVirtioFs } sharedFs = SharedFs::kVirtio9p;  // how they are mounted
};
// Sandbox id, hostname, DNS servers and mount tags (counts, characters, duplicates).
void validateSandboxSettings(const SandboxSettings& s);
SandboxSettings decodeSandboxConfig(ipc::agent::SandboxConfig::Reader cfg);

struct ContainerRequest {
  std::string id;
  oci::Spec spec;  // parsed and validated; process present
  std::string rootfsShare;
  std::string rootfsPath;  // relative, checked again beneath the share when opened
  bool ownPidNs = false;
};
ContainerRequest decodeContainerConfig(ipc::agent::ContainerConfig::Reader cfg);

struct ExecRequest {
  std::string execId;
  oci::Spec wrapped;  // a minimal config whose process is the exec's (validated as one)
};
ExecRequest decodeProcessSpec(ipc::agent::ProcessSpec::Reader spec);

// linux.resources for Container.update (at most 64 KiB of JSON).
oci::Resources decodeResources(kj::ArrayPtr<const kj::byte> json);

// waitBlockDevice's serial: 1-20 bytes of [A-Za-z0-9_.-] (what vmmd sets: the device id).
std::string decodeBlockSerial(capnp::Text::Reader serial);

}  // namespace kata::agent
