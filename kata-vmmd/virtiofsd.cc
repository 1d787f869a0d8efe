#include "kata-vmmd/virtiofsd.h"

#include <algorithm>

#include "common/error.h"
#include "security/rlimits.h"
#include "security/validate.h"

namespace kata::vmmd {

std::map<int, rlimit> virtiofsdRlimits() {
  rlimit nofile{};
  KATA_SYSCALL(::getrlimit(RLIMIT_NOFILE, &nofile), "getrlimit(RLIMIT_NOFILE)");
  rlim_t n = std::min<rlim_t>(nofile.rlim_max, 1u << 20);
  return {{RLIMIT_CORE, {0, 0}}, {RLIMIT_NOFILE, {n, n}}};
}

std::vector<std::string> buildVirtiofsdArgs(const VirtiofsdSpec& s) {
  security::validateAbsolutePath(s.binary, "virtiofsd binary");
  security::validateAbsolutePath(s.sharedDir, "virtio-fs shared directory");
  if (s.listenFd < 3)
    fail(ErrorKind::kInvalidArgument, "virtiofsd of device " + s.deviceId + ": listening fd " +
                                          std::to_string(s.listenFd) + " is not a valid passed fd");
  // Each value is one argv element (no shell, no option syntax to escape); paths were validated.
  return {
      s.binary,
      "--fd=" + std::to_string(s.listenFd),
      "--shared-dir=" + s.sharedDir,
      "--sandbox=none",
      "--seccomp=kill",
      "--modcaps=-chown:-dac_override:-fowner:-fsetid:-setgid:-setuid:-mknod:-setfcap",
      "--inode-file-handles=never",
      "--rlimit-nofile=0",
      "--cache=auto",
      // shareDirectory bind-mounts below the share root: the guest must see them as submounts
      // (distinct st_dev), or inode numbers of different host file systems collide.
      "--announce-submounts",
      "--log-level=info",
  };
}

LaunchedProcess launchVirtiofsd(const VirtiofsdSpec& s, const Logger& log) {
  LaunchSpec spec;
  spec.sandboxId = s.sandboxId;
  spec.argv = buildVirtiofsdArgs(s);
  spec.identity = s.identity;
  spec.passFds = {s.listenFd};
  spec.logPath = s.logPath;
  spec.joinCgroup = s.cgroup;
  spec.rlimits = s.rlimits.empty() ? virtiofsdRlimits() : s.rlimits;
  return launchJailed(spec, log, s.launcher);
}

}  // namespace kata::vmmd
