// One OCI lifecycle hook (config.json "hooks.<phase>[i]").
#pragma once

#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace kata::oci {

struct Hook {
  std::string path;               // absolute path of the executable
  std::vector<std::string> args;  // argv, including argv[0]
  std::vector<std::string> env;   // KEY=value
  std::optional<int> timeout;     // seconds; must be > 0 when present
  nlohmann::json unknown = nlohmann::json::object();
};

}  // namespace kata::oci
