// The cgroups a sandbox's processes live in. One layer for both versions, rooted at a directory
// parameter (unit tests point it at a fake tree in a temp dir):
//   - pure v2 (cgroup.controllers at the root): one hierarchy;
//   - hybrid (this build machine: v1 controllers under <root>/<controller>, v2 at <root>/unified with
//     no controllers): the unified hierarchy for membership plus the chosen v1 controllers;
//   - pure v1.
// A sandbox cgroup is <hierarchy>/<parent>/<name> in every hierarchy used. It outlives the daemon
// (so a restarted vmmd finds its VMs where it left them); remove() deletes it once the VM is gone.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/fd.h"

namespace kata::security {

enum class CgroupVersion { kV1, kV2 };

struct CgroupHierarchy {
  CgroupVersion version = CgroupVersion::kV2;
  std::string mountPoint;                // e.g. /sys/fs/cgroup/unified or /sys/fs/cgroup/pids
  std::vector<std::string> controllers;  // v2: available at the mount's root; v1: the mount's own
};

struct CgroupLayout {
  std::vector<CgroupHierarchy> hierarchies;
  // Looks at root (default /sys/fs/cgroup). v1Controllers: which v1 hierarchies to use when there
  // are any (cpuset is never joined implicitly: a v1 cpuset cgroup needs cpus/mems before tasks).
  static CgroupLayout detect(const std::string& root,
                             const std::vector<std::string>& v1Controllers = {"pids", "memory", "cpu", "cpuacct",
                                                                               "blkio", "freezer"});
};

struct CgroupLimits {
  std::optional<uint64_t> memoryBytes;
  std::optional<uint64_t> pidsMax;
  std::optional<uint64_t> cpuWeight;  // 1-10000 (v2 cpu.weight); v1 gets cpu.shares scaled from it
};

class Cgroup {
 public:
  // Creates <parent>/<name> in every hierarchy of the layout (the parent too, if missing), enables
  // the needed v2 controllers in the parent, and writes the limits. A limit no hierarchy can
  // enforce is kNotSupported, never silently ignored. Fails with kAlreadyExists if it exists.
  static Cgroup create(const CgroupLayout& layout, const std::string& parent, const std::string& name,
                       const CgroupLimits& limits);
  // The cgroup of an existing sandbox (after a daemon restart).
  static Cgroup open(const CgroupLayout& layout, const std::string& parent, const std::string& name);

  // One O_WRONLY|O_CLOEXEC fd of cgroup.procs per hierarchy: a child writes its pid to each to join.
  std::vector<UniqueFd> openProcsFiles() const;
  void addProcess(pid_t pid) const;
  // The pids in the cgroup (first hierarchy), bounded.
  std::vector<pid_t> processes() const;
  // rmdir in every hierarchy; kFailedPrecondition while processes remain.
  void remove();
  const std::vector<std::string>& paths() const { return paths_; }
  // What /proc/<pid>/cgroup shows for a member: the path below each hierarchy's root.
  std::string relativePath() const { return relative_; }

 private:
  Cgroup(std::vector<CgroupHierarchy> hierarchies, std::vector<std::string> paths, std::string relative)
      : hierarchies_(std::move(hierarchies)), paths_(std::move(paths)), relative_(std::move(relative)) {}
  std::vector<CgroupHierarchy> hierarchies_;
  std::vector<std::string> paths_;
  std::string relative_;
};

}  // namespace kata::security
