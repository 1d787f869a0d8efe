// CONTRACT: the cgroup v2 side of a container inside the guest (agent/container/cgroup.cc).
// The guest kernel mounts cgroup2 at /sys/fs/cgroup (the agent does that at boot); each container gets
// a cgroup under a configurable root (/sys/fs/cgroup/kata/<container> by default), limits from
// linux.resources, stats, freeze/thaw for pause/resume, live updates, and OOM notifications from
// memory.events. The root directory is a parameter so unit tests run against a fake tree.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "common/fd.h"

#include "runtime/oci/spec.h"

namespace kata::agent {

struct CgroupStats {
  uint64_t cpuUsageUsec = 0, cpuUserUsec = 0, cpuSystemUsec = 0;
  uint64_t memoryUsageBytes = 0, memoryLimitBytes = 0, memoryMaxUsageBytes = 0;
  uint64_t pidsCurrent = 0, pidsLimit = 0;
  uint64_t ioReadBytes = 0, ioWriteBytes = 0;
  uint64_t oomKills = 0;
};

// Limit values a cgroup file spells "max" are reported as kCgroupUnlimited (as runc reports them).
inline constexpr uint64_t kCgroupUnlimited = UINT64_MAX;

// runc's conversions from the cgroup v1 values the OCI spec carries to cgroup v2 files.
uint64_t cpuSharesToWeight(uint64_t shares);        // 1 + ((shares - 2) * 9999) / 262142; 0 stays 0
uint64_t blkioWeightToIoWeight(uint64_t weight);    // 1 + ((weight - 10) * 9999) / 990; 0 stays 0
// memory.swap.max from OCI swap (memory+swap) and limit: -1 = "max", 0 = leave alone, else swap-limit.
// Throws kInvalidArgument when swap is set without a limit or below it.
int64_t memorySwapToSwapMax(int64_t swap, int64_t limit);

class ContainerCgroup {
 public:
  // Creates <root>/<relativePath> (enabling the needed controllers on the way) and applies resources.
  static ContainerCgroup create(const std::string& root, const std::string& relativePath,
                                const std::optional<oci::Resources>& resources);
  void addProcess(pid_t pid);
  void update(const oci::Resources& resources);
  void freeze(std::chrono::milliseconds timeout = std::chrono::seconds(10));  // returns once
                                                        // cgroup.events says frozen; kTimeout after
  void thaw(std::chrono::milliseconds timeout = std::chrono::seconds(10));
  CgroupStats stats() const;
  std::vector<pid_t> processes() const;
  // Count of OOM kills so far (memory.events oom_kill); callers poll this or watch eventsFd().
  uint64_t oomKillCount() const;
  int eventsFd() const;  // an fd on memory.events to poll for POLLPRI/EPOLLPRI changes
  void remove();         // kills nothing; fails if processes remain
  const std::string& path() const;

 private:
  ContainerCgroup(std::string path, UniqueFd dir) : path_(std::move(path)), dir_(std::move(dir)) {}
  void write(const std::string& file, const std::string& value, const char* setting);
  std::optional<std::string> read(const std::string& file) const;
  void setFrozen(bool frozen, std::chrono::milliseconds timeout);

  std::string path_;
  UniqueFd dir_;              // the cgroup directory; every file is opened relative to it
  mutable UniqueFd events_;   // memory.events, opened on the first eventsFd()
};

}  // namespace kata::agent
