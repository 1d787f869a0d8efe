// Container states kept in a MetadataStore, one key per container ("<id>/state.json"), with a
// per-container lock that serializes concurrent kata-ctl invocations on one container while
// leaving different containers independent.
//
// Crash safety: every write is atomic (MetadataStore::save), so a command killed at any point
// leaves the previous state or the new one. A container whose creator died stays listed (its state
// says "creating"; deciding it is dead is the caller's business) and remove() deletes it like any
// other, together with whatever an interrupted save left behind.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "runtime/state/container_state.h"
#include "runtime/store/metadata_store.h"

namespace kata::state {

// Proof that the caller holds a container's lock; mutating calls require one. Move-only; the lock
// is released on destruction. Not re-entrant: lock one container once per process.
class ContainerLock {
 public:
  ContainerLock(std::string id, std::unique_ptr<store::StoreLock> lock) : id_(std::move(id)), lock_(std::move(lock)) {}
  ContainerLock(ContainerLock&&) noexcept = default;
  ContainerLock& operator=(ContainerLock&&) noexcept = default;
  const std::string& id() const { return id_; }

 private:
  std::string id_;
  std::unique_ptr<store::StoreLock> lock_;
};

// One row of list(): the state, or why it could not be read (a corrupt or unreadable state must
// still be listed so that it can be deleted).
struct ContainerEntry {
  std::string id;
  std::optional<ContainerState> state;
  std::string error;  // set when state is nullopt
};

class ContainerStore {
 public:
  explicit ContainerStore(std::unique_ptr<store::MetadataStore> store);

  // Waits for the container's lock (throws kTimeout after timeout, when given). The id is validated
  // (validateContainerId). The container need not exist.
  ContainerLock lock(const std::string& id, std::optional<std::chrono::milliseconds> timeout = std::nullopt);
  // Reserves state.id and writes the state, atomically with respect to other creators. Returns the
  // held lock so the creator can finish creating before anyone else touches the container.
  // Throws kAlreadyExists "container with given ID already exists".
  ContainerLock create(const ContainerState& state, std::optional<std::chrono::milliseconds> timeout = std::nullopt);
  // Throws kNotFound "container does not exist"; kInvalidArgument naming the container when its
  // state is corrupt. Reading needs no lock (writes are atomic).
  ContainerState load(const std::string& id);
  std::optional<ContainerState> tryLoad(const std::string& id);
  // Replaces the state of an existing container. Throws kNotFound "container does not exist" when
  // it was removed meanwhile (e.g. by the holder the caller waited for).
  void save(const ContainerLock& lock, const ContainerState& state);
  // Removes the container's state; returns false when there was none. Works on corrupt states.
  bool remove(const ContainerLock& lock);
  bool exists(const std::string& id);
  // Ids of every container, sorted.
  std::vector<std::string> list();
  // Every container with its state or the error reading it, sorted by id.
  std::vector<ContainerEntry> listEntries();

  store::MetadataStore& metadata() { return *store_; }

 private:
  std::unique_ptr<store::MetadataStore> store_;
};

// The metadata key of a container's state.
std::string stateKey(const std::string& id);

// kata-ctl's default --root: /run/kata-ctl for euid 0, else $XDG_RUNTIME_DIR/kata-ctl. Throws
// kInvalidArgument when XDG_RUNTIME_DIR is needed but unset, empty or relative.
std::string defaultStateRoot();
std::string defaultStateRoot(uid_t euid, const char* xdgRuntimeDir);

}  // namespace kata::state
