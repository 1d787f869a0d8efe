// Validation of what clients send to the daemon beyond ids and paths (those are security/validate.h,
// the one implementation the launcher and the cgroup layer use too): share names, free text, and the
// bounds of a VM a client may ask for. Every check throws kInvalidArgument naming the field and the
// rule.
#pragma once

#include <cstdint>
#include <string>

#include "security/validate.h"

namespace kata::vmmd {

// A share name (one path component below the sandbox's share root): the sandbox id rule.
void validateShareName(const std::string& name);
// At most maxBytes, no NUL or other control characters (a kernel command line).
void validateText(const std::string& text, size_t maxBytes, const std::string& what);

// Bounds of a VM a client may ask for (the policy's per-uid limits apply on top).
inline constexpr uint32_t kMaxVcpus = 64;
inline constexpr uint64_t kMinMemoryMiB = 64;
inline constexpr uint64_t kMaxMemoryMiB = uint64_t{1} << 20;  // 1 TiB
inline constexpr uint32_t kMaxHotplugSlots = 16;
inline constexpr uint32_t kMaxNics = 8;  // per sandbox; the policy's [network] max_interfaces may lower it
inline constexpr size_t kMaxCmdlineBytes = 4096;
inline constexpr uint32_t kMaxTimeoutMs = 600000;

}  // namespace kata::vmmd
