// Validation of names and paths that reach the host: sandbox ids become directory and cgroup names,
// so they are checked before any of them is used.
#pragma once

#include <string>

namespace kata::security {

// [A-Za-z0-9][A-Za-z0-9_.-]{0,63}: the runc id rule, bounded; never "." or "..".
void validateSandboxId(const std::string& id);
// An absolute, normalized path (no "." / ".." components, no "//", no NUL or control characters).
void validateAbsolutePath(const std::string& path, const std::string& what);
// A regular file the caller can execute, by absolute path.
void validateExecutable(const std::string& path);

}  // namespace kata::security
