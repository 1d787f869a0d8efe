// The filesystem metadata store: key "a/b" is the file <root>/a/b.
//
// - Writes go through writeFileAtomic (temp file, fsync, rename, fsync of the directory).
// - Every path is resolved beneath the root directory fd with openat2(RESOLVE_BENEATH |
//   RESOLVE_NO_SYMLINKS): a symlink planted in the tree is refused, never followed.
// - lock(key) is a flock on <root>/@locks/<key with '/' as '%'>. '@' and '%' are outside the key
//   character set, so lock files never collide with values. The holder unlinks its lock file when it
//   releases the lock, and an acquirer re-checks after flock that the file it locked is still the one
//   linked at that path (else it retries). So lock files do not pile up, and a process that waited
//   for a lock while the holder deleted the key finds the key gone instead of resurrecting it.
// - Leftovers of an interrupted save (".<name>.tmp<n>" files) are invisible to load/list and removed
//   by remove(key); directories left empty by remove() are removed too.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/fd.h"
#include "runtime/store/metadata_store.h"

namespace kata::store {

class FsMetadataStore : public MetadataStore {
 public:
  // Creates rootDir (mode 0700) when missing.
  explicit FsMetadataStore(const std::string& rootDir, size_t maxValueSize = kDefaultMaxValueSize);

  void save(const std::string& key, const std::string& value) override;
  std::optional<std::string> load(const std::string& key) override;
  bool remove(const std::string& key) override;
  std::vector<std::string> list(const std::string& prefix) override;
  std::unique_ptr<StoreLock> lock(const std::string& key,
                                  std::optional<std::chrono::milliseconds> timeout = std::nullopt) override;

  const std::string& rootDir() const { return rootDir_; }

 private:
  std::string rootDir_;
  size_t maxValueSize_;
  UniqueFd root_;
  UniqueFd locks_;
};

}  // namespace kata::store
