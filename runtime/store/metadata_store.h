// The metadata storage plugin interface: a small key/value store for runtime metadata.
//
// CONTRACT: save(key, value), load(key) -> std::optional<std::string>, remove(key), plus list and
// per-key locking; a filesystem implementation (atomic write + rename + fsync, flock per container)
// now, a LevelDB one later, so nothing in the interface may assume files.
#pragma once
