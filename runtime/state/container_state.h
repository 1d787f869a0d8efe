// A container's persistent state, as kata-ctl keeps it between invocations.
//
// CONTRACT (the CLI is written against these names; this may grow, not rename):
//   enum class ContainerStatus { kCreating, kCreated, kRunning, kPaused, kStopped };
//   std::string statusName(ContainerStatus)            "creating", "created", "running", "paused", "stopped"
//   struct ContainerState { ociVersion, id, pid, status, bundle, rootfs, created (system_clock),
//                           owner, annotations (std::map<std::string,std::string>),
//                           sandboxId, plus `extra` (nlohmann::json object) for runtime-private data }
//   std::string runcStateJson(const ContainerState&)   byte-compatible with `runc state`
//   nlohmann::json ociState(const ContainerState&)     the OCI "state" object given to hooks on stdin
//   class ContainerStore (container_store.h): create / load / save / remove / list / lock, over a
//   MetadataStore (store/metadata_store.h). load of a missing id throws kNotFound
//   "container does not exist"; create of an existing id throws kAlreadyExists
//   "container with given ID already exists".
#pragma once

#include <sys/types.h>

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace kata::state {

// runc 1.1 reports the spec version it implements, not the bundle's ociVersion, in `state`,
// `list` and the hooks' state (checked against runc 1.1.5 with a bundle declaring "1.0.0").
inline constexpr const char* kRuncOciVersion = "1.0.2-dev";

enum class ContainerStatus { kCreating, kCreated, kRunning, kPaused, kStopped };

std::string statusName(ContainerStatus status);
// Inverse of statusName; nullopt for anything else.
std::optional<ContainerStatus> parseStatus(std::string_view name);

// runc's id rule (libcontainer validateID, runc 1.1): ^[\w+-\.]+$ (so [A-Za-z0-9_+,.-]; the range
// "+-." includes ','), and neither "." nor "..". Throws kInvalidArgument:
//   ""           -> "container id cannot be empty"
//   bad charset  -> "invalid container ID format"
// Ids longer than kMaxContainerIdLength (a file name must hold them) are refused too.
inline constexpr size_t kMaxContainerIdLength = 250;
void validateContainerId(const std::string& id);

struct ContainerState {
  std::string ociVersion = kRuncOciVersion;
  std::string id;
  // The container's init process as the engine sees it (runc: the container's pid 1 on the host;
  // here the per-container shim). Printed as 0 once the container is stopped, like runc.
  int pid = 0;
  ContainerStatus status = ContainerStatus::kCreating;
  std::string bundle;  // absolute path of the bundle directory
  std::string rootfs;  // absolute path of the root filesystem
  std::chrono::system_clock::time_point created{};
  // The name `runc list` prints in OWNER: the user name of the creator's uid, "#<uid>" when the uid
  // has no name (ownerName()). `runc state` always prints "" here; runcStateJson does the same.
  std::string owner;
  std::map<std::string, std::string> annotations;
  std::string sandboxId;
  // Runtime-private data (shim pid, sockets, ...): must be a JSON object; persisted as is.
  nlohmann::json extra = nlohmann::json::object();

  // The persisted form: a versioned JSON object holding every field above.
  nlohmann::json toJson() const;
  // Validates types, id, status, time stamp and sizes; throws kInvalidArgument "<field>: <reason>".
  static ContainerState fromJson(const nlohmann::json& j);

  bool operator==(const ContainerState&) const = default;
};

// Serialized state as the container store keeps it, and its bounded, validated parse. parseState
// throws kInvalidArgument "container <id>: state is corrupt (<reason>)..." naming the container.
std::string serializeState(const ContainerState& state);
ContainerState parseState(std::string_view text, const std::string& id);

// The user name of uid as `runc list` prints it: the passwd name, or "#<uid>" when there is none.
std::string ownerName(uid_t uid);

// `runc state <id>` output, byte for byte: Go's json.MarshalIndent with two spaces, fields in
// runc's order (ociVersion, id, pid, status, bundle, rootfs, created, annotations when non-empty,
// owner = ""), Go's string escaping (<, >, & as \u003c...), no trailing newline.
std::string runcStateJson(const ContainerState& state);

// The OCI state object runc writes to a hook's stdin: {ociVersion, id, status, pid (omitted when
// 0), bundle, annotations (omitted when empty)}. ociStateJson is the exact bytes (compact, Go
// escaping, no newline) to feed a hook.
nlohmann::json ociState(const ContainerState& state);
std::string ociStateJson(const ContainerState& state);

}  // namespace kata::state
