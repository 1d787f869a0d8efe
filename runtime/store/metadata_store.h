// The metadata storage plugin interface: a small key/value store for runtime metadata, with
// per-key exclusive locks that serialize concurrent invocations (kata-ctl is a short-lived process,
// several of which may act on one container at once).
//
// Nothing here assumes files: the filesystem store (fs_store.h) maps keys to files under a root
// directory, a LevelDB store maps them to database keys.
//
// Keys are '/'-separated paths of segments, e.g. "c1/state.json". Every key is validated
// (validateKey) before any implementation sees it: bounded length, a safe character set, no empty,
// "." or ".." segments, no leading or trailing '/'.
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace kata::store {

inline constexpr size_t kMaxKeyLength = 1024;
inline constexpr size_t kMaxKeySegmentLength = 255;
inline constexpr size_t kMaxKeyDepth = 8;
// Values are small JSON documents; anything larger is a bug or an attack.
inline constexpr size_t kDefaultMaxValueSize = 4 * 1024 * 1024;

// Throws kInvalidArgument naming the key and the rule it breaks. Allowed segment characters are
// [A-Za-z0-9_+,.=-]; a segment may not look like a temporary file of the store (".<x>.tmp<digits>").
void validateKey(const std::string& key);

// True for ".<anything>.tmp<digits>", the names writeFileAtomic gives its temporary files; such
// segments are not valid in keys so an implementation can keep temporaries next to values.
bool looksLikeTempFile(const std::string& segment);

// An exclusive lock on one key, held until destruction. Locks are advisory: they exclude other
// holders of lock() on the same key (in this or any other process), not readers of the value.
// A lock is not re-entrant: locking a key twice from one process deadlocks (or times out).
class StoreLock {
 public:
  virtual ~StoreLock() = default;
  virtual const std::string& key() const = 0;
};

class MetadataStore {
 public:
  virtual ~MetadataStore() = default;

  // Replaces the value of key atomically and durably: a concurrent or later reader, and a reader
  // after a crash at any point, sees the old value or the new one, never a mix.
  // Throws kInvalidArgument when the value is larger than the store's bound.
  virtual void save(const std::string& key, const std::string& value) = 0;
  // nullopt when the key has no value.
  virtual std::optional<std::string> load(const std::string& key) = 0;
  // Removes the key's value and whatever the store kept for it (e.g. leftovers of an interrupted
  // save). Returns false when there was no value; removing a missing key is not an error.
  virtual bool remove(const std::string& key) = 0;
  // Every key that has a value and starts with prefix (plain string prefix; "" lists everything),
  // sorted. prefix is validated like a key unless it is empty or ends with '/'.
  virtual std::vector<std::string> list(const std::string& prefix) = 0;
  // Takes the exclusive lock of key, waiting for the current holder. Without a timeout it waits
  // for as long as it takes; with one it throws kTimeout when the lock is still held at the
  // deadline. The key need not have a value (locking is how a creator reserves a new key).
  virtual std::unique_ptr<StoreLock> lock(const std::string& key,
                                          std::optional<std::chrono::milliseconds> timeout = std::nullopt) = 0;
};

}  // namespace kata::store
