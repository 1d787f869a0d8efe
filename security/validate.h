// Validation of names and paths that reach the host: sandbox ids become directory, file and cgroup
// names, so they are checked before any of them is used. The one implementation for the whole
// daemon (the RPC layer, the registry, the launcher and the cgroup layer all call these). Every check
// throws kInvalidArgument naming the field and the rule, quoting at most a bounded prefix of the
// hostile value.
#pragma once

#include <string>

namespace kata::security {

// [A-Za-z0-9][A-Za-z0-9_.-]{0,63}: the runc id rule, bounded (never "." or ".."); what names the
// field in the error ("sandbox id", "share name").
void validateName(const std::string& name, const std::string& what);
void validateSandboxId(const std::string& id);  // validateName(id, "sandbox id")
// An absolute, normalized path: no "." / ".." components, no "//", no trailing "/" (except "/"
// itself), shorter than PATH_MAX, no NUL or control characters.
void validateAbsolutePath(const std::string& path, const std::string& what);
// A regular file the caller can execute, by absolute path.
void validateExecutable(const std::string& path);
// The quoted, length-bounded (64 bytes) form of a hostile value for an error message: control,
// non-ASCII, quote and backslash bytes as \xNN.
std::string quoteForMessage(const std::string& value);

}  // namespace kata::security
