#include "agent/pid1.h"

#include <fcntl.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <cctype>
#include <cstring>

#include "common/error.h"

namespace kata::agent {

const std::vector<MountSpec>& earlyMounts() {
  static const std::vector<MountSpec> kMounts = {
      {"proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, nullptr},
      {"sysfs", "/sys", "sysfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, nullptr},
      // Containers' cgroups (agent/container/cgroup.cc). nsdelegate: a container in its own cgroup
      // namespace cannot write the limits of the cgroup it was put in.
      {"cgroup2", "/sys/fs/cgroup", "cgroup2", MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_RELATIME, "nsdelegate"},
      {"devtmpfs", "/dev", "devtmpfs", MS_NOSUID, "mode=0755"},
      {"devpts", "/dev/pts", "devpts", MS_NOSUID | MS_NOEXEC, "newinstance,ptmxmode=0666,mode=0620"},
      {"tmpfs", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777"},
      {"tmpfs", "/run", "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755"},
      {"tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777"},
  };
  return kMounts;
}

void mountAll(const std::vector<MountSpec>& mounts) {
  for (const MountSpec& m : mounts) {
    if (::mkdir(m.target, 0755) != 0 && errno != EEXIST) throwSysError(errno, std::string("mkdir ") + m.target);
    if (::mount(m.source, m.target, m.fstype, m.flags, m.data) != 0) {
      // EBUSY: already mounted (e.g. CONFIG_DEVTMPFS_MOUNT); fine for an idempotent boot step.
      if (errno == EBUSY) continue;
      throwSysError(errno, std::string("mount ") + m.fstype + " on " + m.target);
    }
  }
}

bool attachConsole() {
  int fd = ::open("/dev/console", O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (fd < 0) return false;
  for (int target = 0; target <= 2; ++target) {
    if (fd != target) (void)::dup2(fd, target);  // dup2 clears O_CLOEXEC on the copies
  }
  if (fd > 2) (void)::close(fd);
  return true;
}

void powerOff(const ConsoleLog& log) {
  log.info("powering off");
  ::sync();
  ::reboot(RB_POWER_OFF);
  log.error("power off failed; rebooting instead", {{"error", std::strerror(errno)}});
  ::reboot(RB_AUTOBOOT);
  // Nothing left to try. PID 1 must not exit (that panics the kernel), so wait for the end.
  for (;;) ::pause();
}

}  // namespace kata::agent

namespace kata::agent {

std::optional<std::string> kernelCmdlineValue(const std::string& cmdline, const std::string& key) {
  std::optional<std::string> found;
  size_t pos = 0;
  while (pos < cmdline.size()) {
    while (pos < cmdline.size() && std::isspace(static_cast<unsigned char>(cmdline[pos]))) ++pos;
    size_t end = pos;
    while (end < cmdline.size() && !std::isspace(static_cast<unsigned char>(cmdline[end]))) ++end;
    std::string word = cmdline.substr(pos, end - pos);
    if (word.size() > key.size() && word.compare(0, key.size(), key) == 0 && word[key.size()] == '=')
      found = word.substr(key.size() + 1);  // the last occurrence wins, as in the kernel
    pos = end;
  }
  return found;
}

}  // namespace kata::agent
