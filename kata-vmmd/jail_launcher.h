// The launcher process: a small helper kata-vmmd forks at start-up, before it hardens itself, that
// starts every jailed process (QEMU, virtiofsd) for it — a fork server, as Sandbox2's forkserver and
// Chrome's zygote are.
//
// Why a second process: a seccomp filter and the capability bounding set are inherited across clone
// and exec. Launched straight from the hardened daemon, QEMU would run under the daemon's filter
// (which then had to list QEMU's system calls) and the daemon would have to keep the capabilities
// only the launch needs (setuid, setgid, setpcap, setns). The launcher keeps exactly those and no
// seccomp filter; the daemon keeps its own, smaller set and a filter of its own calls only.
//
//   daemon (hardened)                     launcher (launcherCapabilities(), no_new_privs, no seccomp)
//     P1 validate, P2 cgroup, open the log ─── request: argv, identity, rlimits ──▶
//     (the daemon owns the cgroup)             + fds (SCM_RIGHTS): passed fds, log, netns, cgroup.procs
//                                              checks again (program allow-list, no uid 0),
//                                              puts the fds at the numbers argv names, then
//                                              P3-P5 with clone(CLONE_PARENT | CLONE_PIDFD)
//     ◀── reply: pid, failed step/errno + the child's pidfd ───
//   the child is the daemon's child (CLONE_PARENT): the daemon waits for it, reaps it and reads its
//   start time exactly as for a process it cloned itself.
//
// The launcher serves one request at a time (a launch takes milliseconds: it ends at execve); the
// client side is thread-safe (the daemon's VM workers launch concurrently). It exits when the daemon
// closes its end or dies (PR_SET_PDEATHSIG), so kill -9 of the daemon takes it along and leaves the
// VMs running; a restarted daemon forks a new one.
#pragma once

#include <sys/types.h>

#include <mutex>
#include <string>
#include <vector>

#include "common/fd.h"
#include "common/log.h"
#include "kata-vmmd/launcher.h"
#include "security/keep_caps.h"

namespace kata::vmmd {

struct JailLauncherOptions {
  // The only programs it starts (absolute paths: the policy's qemu_binary and virtiofsd).
  std::vector<std::string> programs;
  // Those of them that may run in a user namespace of their own (LaunchSpec::userns) as its uid 0,
  // keeping some of userNamespaceCapabilities() there: the policy's virtiofsd when it is QEMU's.
  std::vector<std::string> userNamespacePrograms;
  // Kept in the launcher process: a missing required one fails start(), an optional one is a warning.
  security::CapabilitySet capabilities;
  security::CapabilitySet optionalCapabilities;
};

// What a program in its own user namespace may keep there: a file server's capabilities (virtiofsd's
// own list: chown, dac_override, fowner, fsetid, setuid, setgid), CAP_SYS_ADMIN for the namespace
// sandbox it builds itself (unshare, mount, pivot_root; it drops it before serving) and CAP_SETPCAP
// for dropping its bounding set.
const security::CapabilitySet& userNamespaceCapabilities();

class JailLauncher final : public LaunchBackend {
 public:
  // Forks the launcher. Call it while the daemon has one thread and all its privileges (before
  // hardenDaemon): the launcher reduces its capabilities itself and reports whether that worked.
  static std::unique_ptr<JailLauncher> spawn(const JailLauncherOptions& options, const Logger& log);
  // Closes the channel (the launcher exits) and reaps the launcher.
  ~JailLauncher() override;
  JailLauncher(const JailLauncher&) = delete;
  JailLauncher& operator=(const JailLauncher&) = delete;

  // P3-P5 in the launcher; thread-safe. kFailedPrecondition if the launcher is gone.
  JailedChild start(const LaunchSpec& spec, int logFd, const std::vector<UniqueFd>& cgroupProcs) override;
  pid_t pid() const { return pid_; }

 private:
  JailLauncher(pid_t pid, UniqueFd channel) : pid_(pid), channel_(std::move(channel)) {}
  pid_t pid_;
  UniqueFd channel_;
  std::mutex mu_;
};

}  // namespace kata::vmmd
