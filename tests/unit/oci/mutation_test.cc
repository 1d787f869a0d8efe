// A deterministic sweep in the spirit of the fuzzer: every value of a large config is replaced in
// turn by values of other JSON types (and by out-of-range numbers). Each variant must be either
// accepted, and then survive parse -> toJson -> parse unchanged, or refused with one
// kata::Error(kInvalidArgument) whose message names a JSON path.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "common/error.h"
#include "runtime/oci/spec.h"
#include "tests/unit/oci/oci_support.h"

namespace kata::oci {
namespace {

using nlohmann::json;

void collectPointers(const json& value, const json::json_pointer& at, std::vector<json::json_pointer>& out) {
  out.push_back(at);
  if (value.is_object()) {
    for (const auto& [key, child] : value.items()) collectPointers(child, at / key, out);
  } else if (value.is_array()) {
    for (size_t i = 0; i < value.size(); ++i) collectPointers(value[i], at / i, out);
  }
}

// "process.user.uid" style path of a JSON pointer, as error messages spell it.
std::string dottedPath(const json::json_pointer& ptr, const json& doc) {
  std::string out;
  json::json_pointer walk;
  for (const std::string& token : [&] {
         std::vector<std::string> tokens;
         for (json::json_pointer p = ptr; !p.empty(); p = p.parent_pointer()) tokens.insert(tokens.begin(), p.back());
         return tokens;
       }()) {
    if (doc[walk].is_array()) {
      out += "[" + token + "]";
    } else {
      out += (out.empty() ? "" : ".") + token;
    }
    walk /= token;
  }
  return out;
}

TEST(OciMutationTest, EveryValueReplacedByOtherTypesFailsCleanlyOrRoundTrips) {
  const json original = testing::corpusJson("full-1.2.json");
  std::vector<json::json_pointer> pointers;
  collectPointers(original, json::json_pointer(), pointers);
  ASSERT_GT(pointers.size(), 300u);
  const std::vector<json> replacements = {nullptr, true, -1, 1.5, "x", json::array(), json::object(),
                                          18446744073709551615ULL, 4294967296LL};
  size_t accepted = 0, refused = 0, typeErrorsAtThePath = 0;
  // Three replacements per value, rotating through the list, keep the sweep fast under sanitizers
  // while every type still lands on every kind of member somewhere.
  for (size_t p = 1; p < pointers.size(); ++p) {
    const auto& ptr = pointers[p];
    for (size_t k = 0; k < 3; ++k) {
      const json& replacement = replacements[(p + k * 3) % replacements.size()];
      json doc = original;
      doc[ptr] = replacement;
      std::string text = doc.dump();
      try {
        Spec spec = parseSpec(text);
        json out = toJson(spec);
        EXPECT_EQ(toJson(parseSpec(out.dump())), out) << ptr.to_string();
        try {
          validateSpec(spec);
          ++accepted;
        } catch (const Error& e) {
          EXPECT_EQ(e.kind(), ErrorKind::kInvalidArgument);
          ++refused;
        }
      } catch (const Error& e) {
        ++refused;
        EXPECT_EQ(e.kind(), ErrorKind::kInvalidArgument) << e.what();
        std::string msg = e.what();
        ASSERT_NE(msg.find(": "), std::string::npos) << msg;
        // A type error names the replaced member or, when a required member vanished into null, it.
        if (msg.rfind(dottedPath(ptr, original) + ": ", 0) == 0) ++typeErrorsAtThePath;
      } catch (const std::exception& e) {
        ADD_FAILURE() << "non-kata exception for " << ptr.to_string() << " = " << replacement.dump() << ": "
                      << e.what();
      }
    }
  }
  EXPECT_GT(accepted, 50u);
  EXPECT_GT(refused, 500u);
  // Most type errors are reported at exactly the member that was replaced.
  EXPECT_GT(typeErrorsAtThePath, refused / 2);
}

}  // namespace
}  // namespace kata::oci
