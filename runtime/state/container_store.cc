#include "runtime/state/container_store.h"

#include <unistd.h>

#include <cstdlib>

#include "common/error.h"

namespace kata::state {

namespace {

constexpr const char* kStateFile = "/state.json";

[[noreturn]] void notFound() { fail(ErrorKind::kNotFound, "container does not exist"); }

}  // namespace

std::string stateKey(const std::string& id) { return id + kStateFile; }

ContainerStore::ContainerStore(std::unique_ptr<store::MetadataStore> store) : store_(std::move(store)) {
  if (!store_) fail(ErrorKind::kInternal, "ContainerStore: no metadata store");
}

ContainerLock ContainerStore::lock(const std::string& id, std::optional<std::chrono::milliseconds> timeout) {
  validateContainerId(id);
  try {
    return ContainerLock(id, store_->lock(id, timeout));
  } catch (const Error& e) {
    throw Error(e.kind(), "container " + id + ": " + e.what(), e.sysErrno());
  }
}

ContainerLock ContainerStore::create(const ContainerState& state, std::optional<std::chrono::milliseconds> timeout) {
  ContainerLock held = lock(state.id, timeout);
  if (store_->load(stateKey(state.id))) fail(ErrorKind::kAlreadyExists, "container with given ID already exists");
  store_->save(stateKey(state.id), serializeState(state));
  return held;
}

std::optional<ContainerState> ContainerStore::tryLoad(const std::string& id) {
  validateContainerId(id);
  auto text = store_->load(stateKey(id));
  if (!text) return std::nullopt;
  return parseState(*text, id);
}

ContainerState ContainerStore::load(const std::string& id) {
  auto s = tryLoad(id);
  if (!s) notFound();
  return std::move(*s);
}

void ContainerStore::save(const ContainerLock& lock, const ContainerState& state) {
  if (lock.id() != state.id)
    fail(ErrorKind::kInternal, "saving container " + state.id + " while holding the lock of " + lock.id());
  // A waiter that got the lock after the holder deleted the container must not bring it back.
  if (!store_->load(stateKey(state.id))) notFound();
  store_->save(stateKey(state.id), serializeState(state));
}

bool ContainerStore::remove(const ContainerLock& lock) { return store_->remove(stateKey(lock.id())); }

bool ContainerStore::exists(const std::string& id) {
  validateContainerId(id);
  return store_->load(stateKey(id)).has_value();
}

std::vector<std::string> ContainerStore::list() {
  std::vector<std::string> ids;
  for (const auto& key : store_->list("")) {
    if (!key.ends_with(kStateFile)) continue;
    std::string id = key.substr(0, key.size() - std::char_traits<char>::length(kStateFile));
    if (id.find('/') != std::string::npos) continue;
    try {
      validateContainerId(id);
    } catch (const Error&) {
      continue;  // not ours
    }
    ids.push_back(std::move(id));
  }
  return ids;
}

std::vector<ContainerEntry> ContainerStore::listEntries() {
  std::vector<ContainerEntry> out;
  for (auto& id : list()) {
    ContainerEntry entry{id, std::nullopt, {}};
    try {
      entry.state = tryLoad(id);
      if (!entry.state) continue;  // removed since list()
    } catch (const Error& e) {
      entry.error = e.what();
    }
    out.push_back(std::move(entry));
  }
  return out;
}

std::string defaultStateRoot(uid_t euid, const char* xdgRuntimeDir) {
  if (euid == 0) return "/run/kata-ctl";
  if (xdgRuntimeDir == nullptr || *xdgRuntimeDir == '\0')
    fail(ErrorKind::kInvalidArgument,
         "XDG_RUNTIME_DIR is not set: kata-ctl keeps an unprivileged user's containers under "
         "$XDG_RUNTIME_DIR/kata-ctl; set it (e.g. log in through a session that provides it) or pass --root");
  std::string dir = xdgRuntimeDir;
  if (dir.front() != '/')
    fail(ErrorKind::kInvalidArgument, "XDG_RUNTIME_DIR must be an absolute path, got \"" + dir + "\"; fix it or pass --root");
  while (dir.size() > 1 && dir.back() == '/') dir.pop_back();
  return dir + "/kata-ctl";
}

std::string defaultStateRoot() { return defaultStateRoot(::geteuid(), std::getenv("XDG_RUNTIME_DIR")); }

}  // namespace kata::state
