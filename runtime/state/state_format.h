// `runc list` output formats, byte for byte (checked against runc 1.1.5; goldens in
// tests/unit/state/golden/).
#pragma once

#include <string>
#include <vector>

#include "runtime/state/container_state.h"

namespace kata::state {

// `runc list` (table): Go tabwriter (minwidth 12, padding 3, spaces) over
// "ID\tPID\tSTATUS\tBUNDLE\tCREATED\tOWNER\n" and one "%s\t%d\t%s\t%s\t%s\t%s\n" row per state, in
// the given order (runc lists in directory order of its root, i.e. sorted by id as ContainerStore
// returns them). PID is 0 for stopped containers; OWNER is state.owner.
std::string listTable(const std::vector<ContainerState>& states);
// `runc list --format json`: compact JSON array of runc's containerState objects followed by a
// newline (json.Encoder), "null\n" when there are no containers.
std::string listJson(const std::vector<ContainerState>& states);
// `runc list --quiet`: one id per line.
std::string listQuiet(const std::vector<ContainerState>& states);

}  // namespace kata::state
