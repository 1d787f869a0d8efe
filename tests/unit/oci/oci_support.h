// Helpers shared by the OCI spec tests.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

namespace kata::oci::testing {

// A file of the fuzz seed corpus (tests/fuzz/corpus/oci_spec/<name>), as text and as JSON.
std::string corpusText(const std::string& name);
nlohmann::json corpusJson(const std::string& name);

// The message of the kata::Error that parseSpec + validateSpec throw for `doc`, or "" when it is
// accepted. Fails the test when anything but a kInvalidArgument kata::Error escapes.
std::string errorOf(const nlohmann::json& doc);
std::string errorOfText(const std::string& text);

}  // namespace kata::oci::testing
