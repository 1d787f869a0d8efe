#include "security/cgroup.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <sstream>

#include "common/error.h"
#include "common/fs.h"
#include "security/validate.h"

namespace kata::security {
namespace {

std::vector<std::string> splitWords(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::string cur;
  for (char c : s) {
    if (c == sep || c == ' ' || c == '\n') {
      if (!cur.empty()) out.push_back(cur);
      cur.clear();
    } else {
      cur += c;
    }
  }
  if (!cur.empty()) out.push_back(cur);
  return out;
}

bool has(const std::vector<std::string>& v, const std::string& s) { return std::find(v.begin(), v.end(), s) != v.end(); }

void writeValue(const std::string& path, const std::string& value) {
  UniqueFd fd(KATA_SYSCALL(::open(path.c_str(), O_WRONLY | O_CLOEXEC | O_CREAT, 0644), path));
  KATA_SYSCALL(::write(fd.get(), value.data(), value.size()), path + " <- " + value);
}

void validateRelative(const std::string& rel, const std::string& what) {
  if (rel.empty()) fail(ErrorKind::kInvalidArgument, what + " is empty");
  validateAbsolutePath("/" + rel, what);
}

}  // namespace

CgroupLayout CgroupLayout::detect(const std::string& root, const std::vector<std::string>& v1Controllers) {
  CgroupLayout layout;
  if (auto c = readFileIfExists(AT_FDCWD, root + "/cgroup.controllers", 4096)) {
    layout.hierarchies.push_back({CgroupVersion::kV2, root, splitWords(*c, ' ')});
    return layout;
  }
  UniqueFd dirfd = openDir(root);
  DIR* d = ::fdopendir(::dup(dirfd.get()));
  if (!d) throwSysError(errno, "opendir " + root);
  std::vector<std::string> names;
  while (dirent* e = ::readdir(d))
    if (e->d_type == DT_DIR && e->d_name[0] != '.') names.push_back(e->d_name);  // symlinks (cpu -> cpu,cpuacct) skipped
  ::closedir(d);
  std::sort(names.begin(), names.end());
  for (const auto& n : names) {
    std::string mount = root + "/" + n;
    if (auto c = readFileIfExists(AT_FDCWD, mount + "/cgroup.controllers", 4096)) {
      layout.hierarchies.push_back({CgroupVersion::kV2, mount, splitWords(*c, ' ')});
      continue;
    }
    if (!pathExists(mount + "/cgroup.procs")) continue;
    auto ctrls = splitWords(n, ',');
    bool wanted = std::any_of(ctrls.begin(), ctrls.end(), [&](const std::string& c) { return has(v1Controllers, c); });
    if (wanted) layout.hierarchies.push_back({CgroupVersion::kV1, mount, ctrls});
  }
  if (layout.hierarchies.empty())
    fail(ErrorKind::kNotFound, "no cgroup hierarchy found under " + root + "; is cgroupfs mounted?");
  // The unified hierarchy first: it is the one processes() reads.
  std::stable_sort(layout.hierarchies.begin(), layout.hierarchies.end(),
                   [](const CgroupHierarchy& a, const CgroupHierarchy& b) {
                     return a.version == CgroupVersion::kV2 && b.version != CgroupVersion::kV2;
                   });
  return layout;
}

Cgroup Cgroup::create(const CgroupLayout& layout, const std::string& parent, const std::string& name,
                      const CgroupLimits& limits) {
  validateRelative(parent, "cgroup parent");
  validateSandboxId(name);
  // Which hierarchy enforces which limit.
  auto controllerIn = [&](const CgroupHierarchy& h, const std::string& c) { return has(h.controllers, c); };
  auto anyHas = [&](const std::string& c) {
    return std::any_of(layout.hierarchies.begin(), layout.hierarchies.end(), [&](const auto& h) { return controllerIn(h, c); });
  };
  if (limits.memoryBytes && !anyHas("memory"))
    fail(ErrorKind::kNotSupported, "a memory limit was asked for but no cgroup hierarchy has the memory controller");
  if (limits.pidsMax && !anyHas("pids"))
    fail(ErrorKind::kNotSupported, "a pids limit was asked for but no cgroup hierarchy has the pids controller");
  if (limits.cpuWeight && !anyHas("cpu"))
    fail(ErrorKind::kNotSupported, "a CPU weight was asked for but no cgroup hierarchy has the cpu controller");
  if (limits.cpuWeight && (*limits.cpuWeight < 1 || *limits.cpuWeight > 10000))
    fail(ErrorKind::kInvalidArgument, "CPU weight must be 1-10000");

  std::vector<std::string> paths;
  std::string relative = "/" + parent + "/" + name;
  try {
    for (const auto& h : layout.hierarchies) {
      std::string parentPath = h.mountPoint + "/" + parent;
      makeDirs(parentPath, 0755);
      std::string path = parentPath + "/" + name;
      if (::mkdir(path.c_str(), 0755) < 0) {
        if (errno == EEXIST) fail(ErrorKind::kAlreadyExists, "cgroup " + path + " already exists");
        throwSysError(errno, "mkdir " + path);
      }
      paths.push_back(path);
      if (h.version == CgroupVersion::kV2) {
        // Controllers must be enabled on the way down: root → parent → our cgroup's parent.
        std::string enable;
        for (const char* c : {"memory", "pids", "cpu"})
          if (controllerIn(h, c)) enable += std::string(enable.empty() ? "" : " ") + "+" + c;
        if (!enable.empty()) {
          std::string level = h.mountPoint;
          writeValue(level + "/cgroup.subtree_control", enable);
          for (const auto& comp : splitWords(parent, '/')) {
            level += "/" + comp;
            writeValue(level + "/cgroup.subtree_control", enable);
          }
        }
        if (limits.memoryBytes && controllerIn(h, "memory")) writeValue(path + "/memory.max", std::to_string(*limits.memoryBytes));
        if (limits.pidsMax && controllerIn(h, "pids")) writeValue(path + "/pids.max", std::to_string(*limits.pidsMax));
        if (limits.cpuWeight && controllerIn(h, "cpu")) writeValue(path + "/cpu.weight", std::to_string(*limits.cpuWeight));
      } else {
        if (limits.memoryBytes && controllerIn(h, "memory"))
          writeValue(path + "/memory.limit_in_bytes", std::to_string(*limits.memoryBytes));
        if (limits.pidsMax && controllerIn(h, "pids")) writeValue(path + "/pids.max", std::to_string(*limits.pidsMax));
        // v1 shares: 1024 is the default weight 100 of v2.
        if (limits.cpuWeight && controllerIn(h, "cpu"))
          writeValue(path + "/cpu.shares", std::to_string(std::max<uint64_t>(2, *limits.cpuWeight * 1024 / 100)));
      }
    }
  } catch (...) {
    for (auto it = paths.rbegin(); it != paths.rend(); ++it) (void)::rmdir(it->c_str());  // undo; the error matters
    throw;
  }
  return Cgroup(layout.hierarchies, std::move(paths), relative);
}

Cgroup Cgroup::open(const CgroupLayout& layout, const std::string& parent, const std::string& name) {
  validateRelative(parent, "cgroup parent");
  validateSandboxId(name);
  std::vector<std::string> paths;
  for (const auto& h : layout.hierarchies) {
    std::string path = h.mountPoint + "/" + parent + "/" + name;
    if (!pathExists(path)) fail(ErrorKind::kNotFound, "cgroup " + path + " does not exist");
    paths.push_back(path);
  }
  return Cgroup(layout.hierarchies, std::move(paths), "/" + parent + "/" + name);
}

std::vector<UniqueFd> Cgroup::openProcsFiles() const {
  std::vector<UniqueFd> fds;
  for (const auto& p : paths_) {
    std::string file = p + "/cgroup.procs";
    fds.emplace_back(KATA_SYSCALL(::open(file.c_str(), O_WRONLY | O_CLOEXEC), file));
  }
  return fds;
}

void Cgroup::addProcess(pid_t pid) const {
  for (const auto& p : paths_) writeValue(p + "/cgroup.procs", std::to_string(pid));
}

std::vector<pid_t> Cgroup::processes() const {
  std::vector<pid_t> out;
  if (paths_.empty()) return out;
  std::string text = readFile(paths_.front() + "/cgroup.procs", 1 << 20);
  for (const auto& w : splitWords(text, '\n')) out.push_back(static_cast<pid_t>(std::stol(w)));
  return out;
}

void Cgroup::remove() {
  for (auto it = paths_.rbegin(); it != paths_.rend(); ++it) {
    if (::rmdir(it->c_str()) < 0 && errno != ENOENT) {
      if (errno == EBUSY)
        fail(ErrorKind::kFailedPrecondition, "cgroup " + *it + " still has processes; stop the VM first");
      throwSysError(errno, "rmdir " + *it);
    }
  }
  paths_.clear();
}

}  // namespace kata::security
