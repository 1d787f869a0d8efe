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
