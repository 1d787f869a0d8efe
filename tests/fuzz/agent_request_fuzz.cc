// Fuzz target: what a hostile or buggy host can send the guest agent (PID 1: a crash kills the VM).
// The first byte picks a request, the rest is a Cap'n Proto message (flat array, segment table
// included) read with the agent's own reader limits, whose root is that request's parameters; the
// agent's decoding and validation (agent/request_decode.h, exactly what the RPC servers call before
// anything in the guest changes) runs on it. Every input must end in a value or a kata::Error /
// kj::Exception: never a crash, an abort, a hang or an unbounded allocation.
#include <capnp/serialize.h>
#include <kj/exception.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include "agent/request_decode.h"
#include "common/error.h"

namespace {

namespace rpc = kata::ipc::agent;

template <typename Fn>
void expectErrorsOnly(Fn&& fn) {
  try {
    fn();
  } catch (const kata::Error&) {
  }
}

void decode(uint8_t which, capnp::MessageReader& reader) {
  switch (which % 6) {
    case 0:
      expectErrorsOnly([&] { (void)kata::agent::decodeSandboxConfig(reader.getRoot<rpc::Agent::CreateSandboxParams>().getConfig()); });
      break;
    case 1:
      expectErrorsOnly([&] {
        auto p = reader.getRoot<rpc::Agent::CreateContainerParams>();
        (void)kata::agent::decodeContainerConfig(p.getConfig());
        (void)p.getStdio().hasStdout();
      });
      break;
    case 2:
      expectErrorsOnly([&] { (void)kata::agent::decodeProcessSpec(reader.getRoot<rpc::Container::ExecParams>().getSpec()); });
      break;
    case 3:
      expectErrorsOnly(
          [&] { (void)kata::agent::decodeResources(reader.getRoot<rpc::Container::UpdateParams>().getResourcesJson()); });
      break;
    case 4:
      expectErrorsOnly(
          [&] { (void)kata::agent::decodeBlockSerial(reader.getRoot<rpc::Agent::WaitBlockDeviceParams>().getSerial()); });
      break;
    case 5:
      expectErrorsOnly([&] {
        auto p = reader.getRoot<rpc::Agent::PingParams>();
        (void)p.getPayload().size();
        (void)kata::agent::decodeText(reader.getRoot<rpc::Agent::ContainerParams>().getId(), 128, "container id");
      });
      break;
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1 + 8 || size > (1u << 20)) return 0;
  std::vector<capnp::word> words((size - 1) / sizeof(capnp::word));
  std::memcpy(words.data(), data + 1, words.size() * sizeof(capnp::word));
  try {
    capnp::FlatArrayMessageReader reader(kj::arrayPtr(words.data(), words.size()), kata::agent::agentReaderOptions());
    decode(data[0], reader);
  } catch (const kj::Exception&) {
  }
  return 0;
}
