#include "common/root_path.h"

#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <sstream>
#include <vector>

#include "common/error.h"

namespace kata {
namespace {

std::vector<std::string> components(const std::string& path) {
  std::vector<std::string> out;
  std::istringstream in(path);
  std::string part;
  while (std::getline(in, part, '/')) {
    if (part.empty() || part == ".") continue;
    if (part == "..") {
      if (!out.empty()) out.pop_back();
      continue;
    }
    out.push_back(part);
  }
  return out;
}

int rawOpenInRoot(int rootFd, const std::string& path, int flags) {
  struct open_how how {};
  how.flags = static_cast<__u64>(flags | O_CLOEXEC);
  how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
  std::string rel = path.empty() || path == "/" ? "." : path;
  return static_cast<int>(::syscall(SYS_openat2, rootFd, rel.c_str(), &how, sizeof how));
}

}  // namespace

std::string cleanPath(const std::string& path) {
  std::string out;
  for (const std::string& c : components(path)) out += "/" + c;
  return out.empty() ? "/" : out;
}

UniqueFd openInRoot(int rootFd, const std::string& path, int flags) {
  int fd = rawOpenInRoot(rootFd, path, flags);
  if (fd < 0) throwSysError(errno, "open " + path + " in the container root");
  return UniqueFd(fd);
}

namespace {
UniqueFd createInRootAt(int rootFd, const std::string& path, bool lastIsDir, int depth);
}

UniqueFd createInRoot(int rootFd, const std::string& path, bool lastIsDir) {
  return createInRootAt(rootFd, path, lastIsDir, 0);
}

namespace {
UniqueFd createInRootAt(int rootFd, const std::string& path, bool lastIsDir, int depth) {
  if (depth > 16) throwSysError(ELOOP, "create " + path + " in the container root");
  std::vector<std::string> parts = components(path);
  UniqueFd dir(KATA_SYSCALL(::fcntl(rootFd, F_DUPFD_CLOEXEC, 0), "dup root fd"));
  std::string sofar;
  for (size_t i = 0; i < parts.size(); ++i) {
    bool last = i + 1 == parts.size();
    std::string parent = sofar;
    sofar += "/" + parts[i];
    // Resolve the whole prefix from the root each time, so a symlink anywhere on the way is
    // followed as the container would follow it, inside the root.
    int fd = rawOpenInRoot(rootFd, sofar, O_PATH);
    if (fd < 0 && errno == ENOENT) {
      UniqueFd parentFd = openInRoot(rootFd, parent, O_PATH | O_DIRECTORY);
      char target[4096];
      ssize_t n = ::readlinkat(parentFd.get(), parts[i].c_str(), target, sizeof target - 1);
      if (n > 0) {
        // A dangling symlink (e.g. /etc -> /somewhere missing): create its target, inside the root.
        std::string t(target, static_cast<size_t>(n));
        createInRootAt(rootFd, t[0] == '/' ? t : parent + "/" + t, last ? lastIsDir : true, depth + 1);
      } else if (last && !lastIsDir) {
        int f = ::openat(parentFd.get(), parts[i].c_str(), O_CREAT | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, 0644);
        if (f < 0 && errno != EEXIST) throwSysError(errno, "create " + sofar + " in the container root");
        if (f >= 0) ::close(f);
      } else if (::mkdirat(parentFd.get(), parts[i].c_str(), 0755) != 0 && errno != EEXIST) {
        throwSysError(errno, "mkdir " + sofar + " in the container root");
      }
      fd = rawOpenInRoot(rootFd, sofar, O_PATH);
    }
    if (fd < 0) throwSysError(errno, "open " + sofar + " in the container root");
    dir.reset(fd);
  }
  return dir;
}
}  // namespace

std::string procFdPath(int fd) { return "/proc/self/fd/" + std::to_string(fd); }

}  // namespace kata
