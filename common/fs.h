// File-system helpers that every component shares: bounded reads, crash-safe writes, and path
// resolution that cannot escape a directory.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <optional>
#include <string>

#include "common/fd.h"

namespace kata {

// Reads a whole file, refusing one larger than maxBytes (kInvalidArgument). dirfd may be AT_FDCWD.
std::string readFile(int dirfd, const std::string& path, size_t maxBytes);
std::string readFile(const std::string& path, size_t maxBytes);
// nullopt when the file does not exist; throws for every other failure.
std::optional<std::string> readFileIfExists(int dirfd, const std::string& name, size_t maxBytes);

// Replaces dir/name atomically and durably: the data goes to a temporary file in the same
// directory, is fsync'ed, renamed over the target, and the directory is fsync'ed. A reader sees the
// old content or the new, never a mix; a crash at any point leaves one of the two.
void writeFileAtomic(int dirfd, const std::string& name, const std::string& data, mode_t mode = 0600);

// Opens a path beneath dirfd with openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS):
// an absolute path, "..", or any symlink along the way is refused (EXDEV/ELOOP).
UniqueFd openBeneath(int dirfd, const std::string& path, int flags, mode_t mode = 0);

UniqueFd openDir(const std::string& path);
// mkdir -p with the given mode for the directories it creates.
void makeDirs(const std::string& path, mode_t mode);
// Removes a directory tree below dirfd/name without following symlinks. Missing is not an error.
void removeTree(int dirfd, const std::string& name);

bool pathExists(const std::string& path);

}  // namespace kata
