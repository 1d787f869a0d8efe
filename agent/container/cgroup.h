// CONTRACT: the cgroup v2 side of a container inside the guest (agent/container/cgroup.cc).
// The guest kernel mounts cgroup2 at /sys/fs/cgroup (the agent does that at boot); each container gets
// a cgroup under a configurable root (/sys/fs/cgroup/kata/<container> by default), limits from
// linux.resources, stats, freeze/thaw for pause/resume, live updates, and OOM notifications from
// memory.events. The root directory is a parameter so unit tests run against a fake tree.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <optional>
#include <string>

#include "runtime/oci/spec.h"

namespace kata::agent {

struct CgroupStats {
  uint64_t cpuUsageUsec = 0, cpuUserUsec = 0, cpuSystemUsec = 0;
  uint64_t memoryUsageBytes = 0, memoryLimitBytes = 0, memoryMaxUsageBytes = 0;
  uint64_t pidsCurrent = 0, pidsLimit = 0;
  uint64_t ioReadBytes = 0, ioWriteBytes = 0;
  uint64_t oomKills = 0;
};

class ContainerCgroup {
 public:
  // Creates <root>/<relativePath> (enabling the needed controllers on the way) and applies resources.
  static ContainerCgroup create(const std::string& root, const std::string& relativePath,
                                const std::optional<oci::Resources>& resources);
  void addProcess(pid_t pid);
  void update(const oci::Resources& resources);
  void freeze();  // returns once cgroup.events says frozen
  void thaw();
  CgroupStats stats() const;
  std::vector<pid_t> processes() const;
  // Count of OOM kills so far (memory.events oom_kill); callers poll this or watch eventsFd().
  uint64_t oomKillCount() const;
  int eventsFd() const;  // an fd on memory.events to poll for POLLPRI/EPOLLPRI changes
  void remove();         // kills nothing; fails if processes remain
  const std::string& path() const;
};

}  // namespace kata::agent
