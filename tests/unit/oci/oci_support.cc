#include "tests/unit/oci/oci_support.h"

#include <gtest/gtest.h>

#include "common/error.h"
#include "common/fs.h"
#include "runtime/oci/spec.h"

namespace kata::oci::testing {

std::string corpusText(const std::string& name) {
  return readFile(std::string(KATA_SOURCE_DIR) + "/tests/fuzz/corpus/oci_spec/" + name, 1 << 22);
}

nlohmann::json corpusJson(const std::string& name) { return nlohmann::json::parse(corpusText(name)); }

std::string errorOfText(const std::string& text) {
  try {
    Spec spec = parseSpec(text);
    validateSpec(spec);
    return "";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kInvalidArgument) << e.what();
    return e.what();
  } catch (const std::exception& e) {
    ADD_FAILURE() << "non-kata exception escaped: " << e.what();
    return "<escaped>";
  }
}

std::string errorOf(const nlohmann::json& doc) { return errorOfText(doc.dump()); }

}  // namespace kata::oci::testing
