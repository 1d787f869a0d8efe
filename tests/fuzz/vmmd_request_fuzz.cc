// Fuzz target: arbitrary bytes as a Cap'n Proto message (flat array, segment table included) read
// with the daemon's reader limits and decoded as each request type the daemon accepts. Every input
// must end in a value or a kata::Error / kj::Exception, never a crash, hang or unbounded allocation.
#include <capnp/serialize.h>
#include <kj/exception.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include "common/error.h"
#include "kata-vmmd/rpc_decode.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 8 || size > (1u << 20)) return 0;
  std::vector<capnp::word> words(size / sizeof(capnp::word));
  std::memcpy(words.data(), data, words.size() * sizeof(capnp::word));
  try {
    capnp::FlatArrayMessageReader reader(kj::arrayPtr(words.data(), words.size()), kata::vmmd::vmmdReaderOptions());
    try {
      (void)kata::vmmd::decodeVmSpec(reader.getRoot<kata::ipc::vmmd::VmSpec>());
    } catch (const kata::Error&) {
    }
    try {
      (void)kata::vmmd::decodeDevice(reader.getRoot<kata::ipc::vmmd::Device>());
    } catch (const kata::Error&) {
    }
  } catch (const kj::Exception&) {
  }
  return 0;
}
