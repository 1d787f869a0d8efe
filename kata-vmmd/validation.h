// Validation of what clients send to the daemon: ids, names, sizes. Every check throws
// kInvalidArgument with a message that names the field and the rule, and never echoes more than a
// bounded prefix of the hostile value.
#pragma once

#include <cstdint>
#include <string>

namespace kata::vmmd {

// [A-Za-z0-9][A-Za-z0-9_.-]{0,63}: the runc id rule, bounded (it names files and cgroups).
void validateSandboxId(const std::string& id);
// A share name (one path component below the sandbox's share root): [A-Za-z0-9][A-Za-z0-9_.-]{0,63}.
void validateShareName(const std::string& name);
// An absolute, normalized path: no "." or ".." components, no "//", no control characters.
void validatePath(const std::string& path, const std::string& what);
// At most maxBytes, no NUL or control characters other than none (a kernel command line).
void validateText(const std::string& text, size_t maxBytes, const std::string& what);
// The quoted, length-bounded form of a hostile value for an error message.
std::string quoteForMessage(const std::string& value);

// Bounds of a VM a client may ask for (the policy's per-uid limits apply on top).
inline constexpr uint32_t kMaxVcpus = 64;
inline constexpr uint64_t kMinMemoryMiB = 64;
inline constexpr uint64_t kMaxMemoryMiB = uint64_t{1} << 20;  // 1 TiB
inline constexpr uint32_t kMaxHotplugSlots = 16;
inline constexpr size_t kMaxCmdlineBytes = 4096;
inline constexpr uint32_t kMaxTimeoutMs = 600000;

}  // namespace kata::vmmd
