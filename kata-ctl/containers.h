// What the verbs share about stored containers: looking one up the way runc does, its live status,
// and the error every verb gives while the VM backend does not exist.
//
// Conventions for the runtime-private `extra` of a ContainerState (written by whoever creates the
// container, read here):
//   extra["pidStartTime"]  start time of `pid` (field 22 of /proc/<pid>/stat), guards against pid reuse
//   extra["hooks"]         the config.json "hooks" object as it was at create time (delete runs its
//                          poststop hooks, as runc runs the hooks it saved, even if the bundle is gone)
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "runtime/oci/hook.h"
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

// Field 22 of /proc/<pid>/stat (the process's start time), nullopt when it cannot be read.
std::optional<unsigned long long> processStartTime(int pid);

// The hooks of one phase ("poststart", "poststop", ...) saved at create time in extra["hooks"].
std::vector<oci::Hook> savedHooks(const state::ContainerState& s, const std::string& phase);

// Runs the hooks of a phase with the container's state on stdin, in the bundle directory.
void runContainerHooks(const state::ContainerState& s, const std::string& phase, const std::vector<oci::Hook>& hooks);

}  // namespace kata::ctl
