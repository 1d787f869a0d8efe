// What a container's config.json becomes on its way into the guest. The host paths in it mean
// nothing inside the VM, so every host path the container needs is shared into the guest and the
// spec is rewritten to the guest's path of that share:
//   - root.path (resolved against the bundle) → one share; the agent gets its name as rootfsPath;
//   - the source of each bind mount (a directory or a regular file) → one share each, read-only when
//     the mount is; sources under /dev, /proc and /sys stay as they are (the guest's own);
//     a socket, fifo or device node cannot be carried by the shared file system and is refused;
//   - the network namespace loses its path (the pod shares the VM's network, which the agent never
//     replaces; the path is kept for the networking layer), the hooks are dropped (they run on the host) and linux.cgroupsPath (a host
//     cgroup; the agent places containers in the guest's own hierarchy).
// The descriptors are opened here, by the caller, which proves it may read what it shares.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/fd.h"

namespace kata::sandbox {

// Where the agent mounts the sandbox's share root (agent/container_manager.h ManagerPaths).
inline constexpr const char* kGuestShareDir = "/run/kata/shared";

struct GuestShare {
  std::string name;      // below the share root
  std::string hostPath;
  UniqueFd fd;           // O_PATH, opened by the caller
  bool readOnly = false;
};

struct GuestContainerSpec {
  nlohmann::json spec;       // what the agent gets
  std::string rootfsPath;    // the rootfs share's name
  std::vector<GuestShare> shares;  // the rootfs first
  std::string netnsPath;     // the spec's network namespace path ("" when none)
};

// newShareName() yields a fresh share name per call (unique in the sandbox). Throws kInvalidArgument
// or kNotSupported naming the mount for what cannot be carried.
GuestContainerSpec prepareGuestSpec(const nlohmann::json& spec, const std::string& bundle, const std::string& shareTag,
                                    const std::function<std::string()>& newShareName);

}  // namespace kata::sandbox
