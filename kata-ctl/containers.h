// What the verbs share about stored containers: looking one up the way runc does, its live status,
// and the error every verb gives while the VM backend does not exist.
//
// Conventions for the runtime-private `extra` of a ContainerState (written by whoever creates the
// container, read here):
//   extra["pidStartTime"]  start time of `pid` (field 22 of /proc/<pid>/stat), guards against pid reuse
//   extra["hooks"]         the config.json "hooks" object as it was at create time (delete runs its
//                          poststop hooks, as runc runs the hooks it saved, even if the bundle is gone)
#pragma once

#include <string>

#include "runtime/state/container_state.h"

namespace kata::ctl {

class Context;

// runc's getContainer: validates the id ("invalid container ID format"), then loads the state
// ("container does not exist"). The result carries the live status (see liveStatus). Sets the
// logger's container field.
state::ContainerState getContainer(Context& ctx, const std::string& id);

// Whether pid still names the process the state recorded: it exists and, when the state recorded
// its start time, started then.
bool processAlive(int pid, const nlohmann::json& extra);

// The status runc would report now: a created/running/paused container whose process is gone is
// stopped (pid printed as 0). A "creating" container keeps its status.
state::ContainerStatus liveStatus(const state::ContainerState& s);

// Throws kNotSupported: `<doing> container "<id>": <what> needs the VM backend (kata-vmmd), which is not
// implemented in this build`.
[[noreturn]] void backendUnavailable(const std::string& doing, const std::string& id,
                                     const std::string& what = "running containers");

}  // namespace kata::ctl
