// OCI mount options → mount(2) flags, propagation and file-system data, with runc's option table
// (libcontainer/specconv parseMountOptions).
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace kata::agent {

struct MountOptions {
  unsigned long flags = 0;                    // MS_* for the mount itself (MS_BIND, MS_RDONLY, ...)
  std::vector<unsigned long> propagation;     // MS_SHARED/MS_PRIVATE/MS_SLAVE/MS_UNBINDABLE (| MS_REC), in order
  std::string data;                           // every option not in the table, comma-joined (mode=, size=, ...)
};

MountOptions parseMountOptions(const std::vector<std::string>& options);

// linux.rootfsPropagation ("shared", "rslave", ...) → flags; throws kInvalidArgument for anything else.
unsigned long parsePropagation(std::string_view name);

}  // namespace kata::agent
