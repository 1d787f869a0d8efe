// A minimal container root file system for tests and the main job: Debian's static busybox with a
// few applets, the directories runc's default spec mounts over, and /etc/passwd + /etc/group with a
// non-root user (uid 1000 "user", groups 1000, 2000, 3000).
#pragma once

#include <string>

namespace kata::test {

inline constexpr const char* kBusyboxPath = "/bin/busybox";

// Builds the tree at root (created if missing). Throws when busybox is not installed.
void buildBusyboxRootfs(const std::string& root);

// An OCI bundle at dir: rootfs/ as above and config.json from `kata-ctl spec`'s defaults (through
// oci::defaultSpec) with the given args, no terminal, and a writable root.
void writeBusyboxBundle(const std::string& dir, const std::string& argsJson);

}  // namespace kata::test
