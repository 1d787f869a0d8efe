// Paths inside a container's root, resolved by the kernel as if the root were "/" (openat2
// RESOLVE_IN_ROOT): an absolute symlink or ".." in the image cannot lead outside it. The guest agent
// prepares container roots with it; kata-ctl creates mount points in a root on the host with it.
#pragma once

#include <sys/types.h>

#include <string>

#include "common/fd.h"

namespace kata {

// Lexically cleaned absolute path: "//a/./b/../c/" → "/a/c"; ".." never climbs above "/".
std::string cleanPath(const std::string& path);

// openat2(rootFd, path, flags, RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS). Throws kata::Error.
UniqueFd openInRoot(int rootFd, const std::string& path, int flags);

// Opens path (O_PATH) inside the root, creating what is missing beneath it: directories on the way,
// and the last component as a directory (lastIsDir) or an empty file.
UniqueFd createInRoot(int rootFd, const std::string& path, bool lastIsDir);

// "/proc/self/fd/N": mount(2) and friends given this act on the file the fd holds, not on a path
// that could be swapped under us.
std::string procFdPath(int fd);

}  // namespace kata
