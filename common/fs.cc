#include "common/fs.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <random>

#include "common/error.h"

namespace kata {

std::string readFile(int dirfd, const std::string& path, size_t maxBytes) {
  UniqueFd fd(KATA_SYSCALL(::openat(dirfd, path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY), path));
  std::string out;
  char buf[65536];
  for (;;) {
    ssize_t n = KATA_SYSCALL(::read(fd.get(), buf, sizeof buf), path);
    if (n == 0) break;
    if (out.size() + static_cast<size_t>(n) > maxBytes)
      fail(ErrorKind::kInvalidArgument,
           path + ": file is larger than the limit of " + std::to_string(maxBytes) + " bytes");
    out.append(buf, static_cast<size_t>(n));
  }
  return out;
}

std::string readFile(const std::string& path, size_t maxBytes) { return readFile(AT_FDCWD, path, maxBytes); }

std::optional<std::string> readFileIfExists(int dirfd, const std::string& name, size_t maxBytes) {
  try {
    return readFile(dirfd, name, maxBytes);
  } catch (const Error& e) {
    if (e.sysErrno() == ENOENT) return std::nullopt;
    throw;
  }
}

void writeFileAtomic(int dirfd, const std::string& name, const std::string& data, mode_t mode) {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  // A forked child inherits the generator's state, so a name can repeat one that a killed process
  // left behind: mix in the pid and pick another name on EEXIST.
  std::string tmp;
  UniqueFd fd;
  for (int attempt = 0;; ++attempt) {
    tmp = "." + name + ".tmp" + std::to_string(rng() ^ static_cast<uint64_t>(::getpid()));
    int raw = ::openat(dirfd, tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
    if (raw >= 0) {
      fd.reset(raw);
      break;
    }
    if ((errno == EEXIST && attempt < 100) || errno == EINTR) continue;
    throwSysError(errno, "openat " + tmp);
  }
  try {
    size_t off = 0;
    while (off < data.size()) {
      ssize_t n = KATA_SYSCALL(::write(fd.get(), data.data() + off, data.size() - off), tmp);
      off += static_cast<size_t>(n);
    }
    KATA_SYSCALL(::fsync(fd.get()), tmp);
    fd.reset();
    KATA_SYSCALL(::renameat(dirfd, tmp.c_str(), dirfd, name.c_str()), tmp + " -> " + name);
  } catch (...) {
    (void)::unlinkat(dirfd, tmp.c_str(), 0);  // best effort: the original error is what matters
    throw;
  }
  KATA_SYSCALL(::fsync(dirfd), "directory of " + name);
}

UniqueFd openBeneath(int dirfd, const std::string& path, int flags, mode_t mode) {
  struct open_how how {};
  how.flags = static_cast<__u64>(flags | O_CLOEXEC);
  how.mode = (flags & (O_CREAT | O_TMPFILE)) ? mode : 0;
  how.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS;
  long fd = KATA_SYSCALL(::syscall(SYS_openat2, dirfd, path.c_str(), &how, sizeof how), path);
  return UniqueFd(static_cast<int>(fd));
}

UniqueFd openDir(const std::string& path) {
  return UniqueFd(KATA_SYSCALL(::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC), path));
}

void makeDirs(const std::string& path, mode_t mode) {
  if (path.empty()) return;
  size_t pos = 0;
  while (pos != std::string::npos) {
    pos = path.find('/', pos + 1);
    std::string part = path.substr(0, pos);
    if (part.empty()) continue;
    if (::mkdir(part.c_str(), mode) != 0 && errno != EEXIST) throwSysError(errno, "mkdir " + part);
  }
  struct stat st {};
  KATA_SYSCALL(::stat(path.c_str(), &st), path);
  if (!S_ISDIR(st.st_mode)) fail(ErrorKind::kInvalidArgument, path + " exists and is not a directory");
}

void removeTree(int dirfd, const std::string& name) {
  int fd = ::openat(dirfd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return;
    if (errno == ENOTDIR || errno == ELOOP) {
      if (::unlinkat(dirfd, name.c_str(), 0) != 0 && errno != ENOENT) throwSysError(errno, "unlink " + name);
      return;
    }
    throwSysError(errno, "open " + name);
  }
  DIR* dir = ::fdopendir(fd);
  if (!dir) {
    int err = errno;
    ::close(fd);
    throwSysError(err, "fdopendir " + name);
  }
  try {
    while (struct dirent* ent = ::readdir(dir)) {
      std::string child = ent->d_name;
      if (child == "." || child == "..") continue;
      if (ent->d_type == DT_DIR) {
        removeTree(::dirfd(dir), child);
      } else if (::unlinkat(::dirfd(dir), child.c_str(), 0) != 0 && errno != ENOENT) {
        if (errno == EISDIR) removeTree(::dirfd(dir), child);
        else throwSysError(errno, "unlink " + name + "/" + child);
      }
    }
  } catch (...) {
    ::closedir(dir);
    throw;
  }
  ::closedir(dir);
  if (::unlinkat(dirfd, name.c_str(), AT_REMOVEDIR) != 0 && errno != ENOENT)
    throwSysError(errno, "rmdir " + name);
}

bool pathExists(const std::string& path) {
  struct stat st {};
  return ::lstat(path.c_str(), &st) == 0;
}

}  // namespace kata
