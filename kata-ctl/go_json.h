// JSON written the way Go's encoding/json writes runc's structs: members in the struct's field order
// (not sorted), MarshalIndent's layout, no trailing newline. Engines only parse these files, but
// byte-identical output lets tests and people diff kata-ctl against runc.
#pragma once

#include <nlohmann/json.hpp>

#include <string>

namespace kata::ctl {

// `indent` is the per-level indent ("\t" for runc spec, "    " for runc features).
// Members named in goFieldOrder(path) come first in that order, the others after them, sorted.
std::string goMarshalIndent(const nlohmann::json& value, const std::string& indent);

}  // namespace kata::ctl
