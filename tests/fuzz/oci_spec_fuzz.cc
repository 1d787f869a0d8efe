// Fuzzes the config.json parser: for any input, parseSpec either throws kata::Error or yields a spec
// whose toJson() parses back to the same document; validateSpec may only throw kata::Error. Anything
// else escaping (a nlohmann exception, std::bad_alloc, a crash, a sanitizer report) is a bug.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include <nlohmann/json.hpp>

#include "common/error.h"
#include "runtime/oci/spec.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  kata::oci::Spec spec;
  try {
    spec = kata::oci::parseSpec(text);
  } catch (const kata::Error& e) {
    if (e.kind() != kata::ErrorKind::kInvalidArgument) std::abort();
    return 0;
  }
  try {
    kata::oci::validateSpec(spec);
  } catch (const kata::Error& e) {
    if (e.kind() != kata::ErrorKind::kInvalidArgument) std::abort();
  }
  nlohmann::json once = kata::oci::toJson(spec);
  // The serialized form must parse again and be stable. Re-read it as a document rather than as text:
  // floats in unknown members may print longer than they were written ("1e9" -> "1000000000.0"), so
  // the text could exceed the byte bound the input met.
  std::string dumped = once.dump(-1, ' ', false, nlohmann::json::error_handler_t::strict);
  kata::oci::Spec again = kata::oci::specFromJson(nlohmann::json::parse(dumped));
  if (kata::oci::toJson(again) != once) std::abort();
  return 0;
}
