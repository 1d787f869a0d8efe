#include "runtime/store/fs_store.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <thread>

#include "common/error.h"
#include "common/fs.h"

namespace kata::store {

namespace {

constexpr const char* kLocksDir = "@locks";  // '@' is not a key character: no collision with values
constexpr int kRaceRetries = 16;

std::vector<std::string> splitKey(const std::string& key) {
  std::vector<std::string> out;
  size_t start = 0;
  for (;;) {
    size_t end = key.find('/', start);
    out.push_back(key.substr(start, end == std::string::npos ? std::string::npos : end - start));
    if (end == std::string::npos) return out;
    start = end + 1;
  }
}

bool isErrno(const Error& e, int err) { return e.kind() == ErrorKind::kSystem && e.sysErrno() == err; }

// Opens the directory made of segs[0..count) beneath root, creating missing levels when asked.
// Returns an invalid fd when a level is missing and create is false.
UniqueFd openLevels(int root, const std::vector<std::string>& segs, size_t count, bool create) {
  UniqueFd cur = openBeneath(root, ".", O_RDONLY | O_DIRECTORY);
  for (size_t i = 0; i < count; ++i) {
    if (create && ::mkdirat(cur.get(), segs[i].c_str(), 0700) != 0 && errno != EEXIST)
      throwSysError(errno, "mkdir " + segs[i]);
    try {
      cur = openBeneath(cur.get(), segs[i], O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
    } catch (const Error& e) {
      if (!create && isErrno(e, ENOENT)) return UniqueFd();
      throw;
    }
  }
  return cur;
}

struct DirEntry {
  std::string name;
  bool isDir;
  bool isFile;
};

std::vector<DirEntry> readDirectory(int dirfd) {
  UniqueFd fd = openBeneath(dirfd, ".", O_RDONLY | O_DIRECTORY);
  DIR* dir = ::fdopendir(fd.get());
  if (!dir) throwSysError(errno, "fdopendir");
  fd.release();
  std::vector<DirEntry> out;
  errno = 0;
  while (struct dirent* ent = ::readdir(dir)) {
    std::string name = ent->d_name;
    if (name == "." || name == "..") continue;
    unsigned char type = ent->d_type;
    if (type == DT_UNKNOWN) {
      struct stat st {};
      if (::fstatat(::dirfd(dir), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) continue;
      type = S_ISDIR(st.st_mode) ? DT_DIR : S_ISREG(st.st_mode) ? DT_REG : DT_LNK;
    }
    out.push_back({name, type == DT_DIR, type == DT_REG});
  }
  ::closedir(dir);
  return out;
}

std::string readAllBounded(int fd, const std::string& what, size_t maxBytes) {
  std::string out;
  char buf[65536];
  for (;;) {
    ssize_t n = KATA_SYSCALL(::read(fd, buf, sizeof buf), what);
    if (n == 0) return out;
    if (out.size() + static_cast<size_t>(n) > maxBytes)
      fail(ErrorKind::kInvalidArgument, what + ": value is larger than the limit of " + std::to_string(maxBytes) + " bytes");
    out.append(buf, static_cast<size_t>(n));
  }
}

// Lock file names: '/' becomes '%'; names too long for a file name keep a prefix plus a stable
// hash (two keys sharing a lock file only serialize more, they never lose exclusion).
std::string lockFileName(const std::string& key) {
  std::string name = key;
  std::replace(name.begin(), name.end(), '/', '%');
  if (name.size() <= 200) return name;
  uint64_t h = 1469598103934665603ULL;  // FNV-1a
  for (unsigned char c : key) {
    h ^= c;
    h *= 1099511628211ULL;
  }
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(h));
  return name.substr(0, 180) + "~" + hex;
}

class FsLock : public StoreLock {
 public:
  FsLock(std::string key, UniqueFd locksDir, std::string fileName, UniqueFd lockFd)
      : key_(std::move(key)), locksDir_(std::move(locksDir)), fileName_(std::move(fileName)), fd_(std::move(lockFd)) {}
  ~FsLock() override {
    // Unlink while still holding the flock: waiters that locked this inode see it is no longer the
    // linked one and start over on a fresh file. Failure leaves a harmless empty file.
    (void)::unlinkat(locksDir_.get(), fileName_.c_str(), 0);
    fd_.reset();
  }
  const std::string& key() const override { return key_; }

 private:
  std::string key_;
  UniqueFd locksDir_;
  std::string fileName_;
  UniqueFd fd_;
};

}  // namespace

FsMetadataStore::FsMetadataStore(const std::string& rootDir, size_t maxValueSize)
    : rootDir_(rootDir), maxValueSize_(maxValueSize) {
  if (rootDir.empty()) fail(ErrorKind::kInvalidArgument, "metadata store: empty root directory");
  try {
    makeDirs(rootDir, 0700);
    root_ = openDir(rootDir);
    if (::mkdirat(root_.get(), kLocksDir, 0700) != 0 && errno != EEXIST) throwSysError(errno, std::string("mkdir ") + kLocksDir);
    locks_ = openBeneath(root_.get(), kLocksDir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
  } catch (const Error& e) {
    throw Error(e.kind(), "cannot open the state directory " + rootDir + ": " + e.what(), e.sysErrno());
  }
}

void FsMetadataStore::save(const std::string& key, const std::string& value) {
  validateKey(key);
  if (value.size() > maxValueSize_)
    fail(ErrorKind::kInvalidArgument, "metadata store " + rootDir_ + ": value of " + key + " is " +
                                          std::to_string(value.size()) + " bytes, more than the limit of " +
                                          std::to_string(maxValueSize_));
  auto segs = splitKey(key);
  for (int attempt = 0;; ++attempt) {
    try {
      UniqueFd dir = openLevels(root_.get(), segs, segs.size() - 1, true);
      writeFileAtomic(dir.get(), segs.back(), value, 0600);
      return;
    } catch (const Error& e) {
      // A concurrent remove() may delete a directory we just created or opened; start over.
      if (isErrno(e, ENOENT) && attempt < kRaceRetries) continue;
      throw Error(e.kind(), "metadata store " + rootDir_ + ": cannot save " + key + ": " + e.what(), e.sysErrno());
    }
  }
}

std::optional<std::string> FsMetadataStore::load(const std::string& key) {
  validateKey(key);
  auto segs = splitKey(key);
  try {
    UniqueFd dir = openLevels(root_.get(), segs, segs.size() - 1, false);
    if (!dir) return std::nullopt;
    UniqueFd fd;
    try {
      fd = openBeneath(dir.get(), segs.back(), O_RDONLY | O_NOFOLLOW | O_NOCTTY | O_NONBLOCK);
    } catch (const Error& e) {
      if (isErrno(e, ENOENT)) return std::nullopt;
      throw;
    }
    struct stat st {};
    KATA_SYSCALL(::fstat(fd.get(), &st), key);
    if (!S_ISREG(st.st_mode)) fail(ErrorKind::kInvalidArgument, "not a regular file");
    return readAllBounded(fd.get(), key, maxValueSize_);
  } catch (const Error& e) {
    throw Error(e.kind(), "metadata store " + rootDir_ + ": cannot load " + key + ": " + e.what(), e.sysErrno());
  }
}

bool FsMetadataStore::remove(const std::string& key) {
  validateKey(key);
  auto segs = splitKey(key);
  const std::string& name = segs.back();
  bool existed = false;
  try {
    UniqueFd dir = openLevels(root_.get(), segs, segs.size() - 1, false);
    if (!dir) return false;
    if (::unlinkat(dir.get(), name.c_str(), 0) == 0) existed = true;
    else if (errno != ENOENT) throwSysError(errno, "unlink " + name);
    // Leftovers of saves killed half-way.
    std::string tempPrefix = "." + name + ".tmp";
    for (const auto& ent : readDirectory(dir.get()))
      if (!ent.isDir && ent.name.starts_with(tempPrefix) && looksLikeTempFile(ent.name))
        if (::unlinkat(dir.get(), ent.name.c_str(), 0) != 0 && errno != ENOENT) throwSysError(errno, "unlink " + ent.name);
    KATA_SYSCALL(::fsync(dir.get()), "directory of " + key);
    // Prune directories this removal left empty, deepest first; stop at the first non-empty one.
    for (size_t level = segs.size() - 1; level > 0; --level) {
      UniqueFd parent = openLevels(root_.get(), segs, level - 1, false);
      if (!parent) continue;
      if (::unlinkat(parent.get(), segs[level - 1].c_str(), AT_REMOVEDIR) != 0) {
        if (errno == ENOENT) continue;
        break;  // ENOTEMPTY (other keys live there) or anything else: the directory stays
      }
    }
  } catch (const Error& e) {
    throw Error(e.kind(), "metadata store " + rootDir_ + ": cannot remove " + key + ": " + e.what(), e.sysErrno());
  }
  return existed;
}

std::vector<std::string> FsMetadataStore::list(const std::string& prefix) {
  std::string base;  // the directory the walk starts from, as a key prefix ("" or "a/b/")
  if (!prefix.empty()) {
    std::string check = prefix.back() == '/' ? prefix.substr(0, prefix.size() - 1) : prefix;
    validateKey(check);
    size_t slash = prefix.rfind('/');
    if (slash != std::string::npos) base = prefix.substr(0, slash + 1);
  }
  std::vector<std::string> keys;
  try {
    std::vector<std::string> baseSegs = base.empty() ? std::vector<std::string>{} : splitKey(base.substr(0, base.size() - 1));
    UniqueFd start = openLevels(root_.get(), baseSegs, baseSegs.size(), false);
    if (!start) return keys;
    auto walk = [&](auto& self, int dirfd, const std::string& at, size_t depth) -> void {
      for (const auto& ent : readDirectory(dirfd)) {
        if (at.empty() && ent.name == kLocksDir) continue;
        std::string key = at + ent.name;
        try {
          validateKey(key);  // skips temporaries and anything foreign dropped into the tree
        } catch (const Error&) {
          continue;
        }
        if (ent.isFile) {
          if (key.starts_with(prefix)) keys.push_back(key);
        } else if (ent.isDir && depth + 1 < kMaxKeyDepth) {
          std::string asDir = key + "/";
          if (!asDir.starts_with(prefix) && !prefix.starts_with(asDir)) continue;
          UniqueFd sub;
          try {
            sub = openBeneath(dirfd, ent.name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
          } catch (const Error& e) {
            if (isErrno(e, ENOENT)) continue;  // removed while we walked
            throw;
          }
          self(self, sub.get(), asDir, depth + 1);
        }
      }
    };
    walk(walk, start.get(), base, baseSegs.size());
  } catch (const Error& e) {
    throw Error(e.kind(), "metadata store " + rootDir_ + ": cannot list \"" + prefix + "\": " + e.what(), e.sysErrno());
  }
  std::sort(keys.begin(), keys.end());
  return keys;
}

std::unique_ptr<StoreLock> FsMetadataStore::lock(const std::string& key, std::optional<std::chrono::milliseconds> timeout) {
  validateKey(key);
  const std::string fileName = lockFileName(key);
  const auto deadline = std::chrono::steady_clock::now() + timeout.value_or(std::chrono::milliseconds(0));
  try {
    for (;;) {
      UniqueFd fd(KATA_SYSCALL(::openat(locks_.get(), fileName.c_str(), O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600),
                               "lock file " + fileName));
      if (!timeout) {
        KATA_SYSCALL(::flock(fd.get(), LOCK_EX), "lock file " + fileName);
      } else {
        auto pause = std::chrono::milliseconds(1);
        while (::flock(fd.get(), LOCK_EX | LOCK_NB) != 0) {
          if (errno != EWOULDBLOCK && errno != EINTR) throwSysError(errno, "flock " + fileName);
          auto now = std::chrono::steady_clock::now();
          if (now >= deadline)
            fail(ErrorKind::kTimeout, "timed out after " + std::to_string(timeout->count()) +
                                          " ms waiting for the lock (another command is working on it)");
          std::this_thread::sleep_for(std::min<std::chrono::steady_clock::duration>(pause, deadline - now));
          pause = std::min(pause * 2, std::chrono::milliseconds(20));
        }
      }
      // The previous holder may have unlinked the file we locked; then our lock guards nothing.
      struct stat held {}, linked {};
      KATA_SYSCALL(::fstat(fd.get(), &held), "lock file " + fileName);
      if (::fstatat(locks_.get(), fileName.c_str(), &linked, AT_SYMLINK_NOFOLLOW) != 0) {
        if (errno == ENOENT) continue;
        throwSysError(errno, "stat lock file " + fileName);
      }
      if (held.st_dev != linked.st_dev || held.st_ino != linked.st_ino) continue;
      UniqueFd dir(KATA_SYSCALL(::fcntl(locks_.get(), F_DUPFD_CLOEXEC, 0), "dup locks dir"));
      return std::make_unique<FsLock>(key, std::move(dir), fileName, std::move(fd));
    }
  } catch (const Error& e) {
    throw Error(e.kind(), "metadata store " + rootDir_ + ": cannot lock " + key + ": " + e.what(), e.sysErrno());
  }
}

}  // namespace kata::store
