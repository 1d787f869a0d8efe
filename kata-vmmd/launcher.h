// The jailed launcher: starts a hypervisor process with the least the host can give it. One ordered
// pipeline (docs/vmmd.md, "Launch pipeline", says why each step is where it is):
//
//   parent (kata-vmmd, may be multi-threaded; everything that allocates or can be validated):
//     P1 validate the sandbox id, program path, uid/gid, passed fds, log path
//     P2 create the sandbox's cgroup (limits written) and open its cgroup.procs files
//     P3 open the log (stdout/stderr) and /dev/null (stdin); prepare every child step as plain data
//     P4 clone3(CLONE_PIDFD): the child, and a pidfd that names it for as long as we hold it
//   child (raw system calls only, no allocation; a failure is sent to the parent as step + errno):
//     C1 reset signal mask and dispositions (the daemon's are not QEMU's)
//     C2 setsid: leave the daemon's session, so a signal to the daemon's group does not reach QEMU
//     C3 stdio: stdin /dev/null, stdout+stderr the per-sandbox log
//     C4 close every inherited fd except the passed ones (close_range over the gaps)
//     C5 join the cgroup (write our pid to each cgroup.procs)
//     C6 join the network namespace (setns), when given
//     C7 resource limits (before the uid change: raising a hard limit needs the privilege)
//     C7b with LaunchSpec::userns only: unshare(CLONE_NEWUSER); the parent writes its id maps (P4b)
//     C8 empty the capability bounding set (needs CAP_SETPCAP, so before the uid change); in a user
//        namespace: drop all but the kept capabilities
//     C9 setgroups, setresgid, setresuid to the VM's identity (in a user namespace: its ids there)
//     C10 clear ambient, permitted, effective, inheritable capabilities; in a user namespace:
//         permitted = effective = the kept ones (they survive execve only there, see userns.h)
//     C11 PR_SET_NO_NEW_PRIVS
//     C12 clear FD_CLOEXEC on the passed fds, execve with an empty (or given) environment
//   parent again:
//     P5 read the error pipe: EOF means exec succeeded; a report means the step that failed
#pragma once

#include <sys/resource.h>
#include <sys/types.h>

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/fd.h"
#include "common/log.h"
#include "kata-vmmd/hypervisor.h"
#include "security/cgroup.h"
#include "security/identity.h"
#include "security/userns.h"

namespace kata::vmmd {

struct CgroupSpec {
  security::CgroupLayout layout;
  std::string parent = "kata";  // below each hierarchy's mount point
  security::CgroupLimits limits;
};

struct LaunchSpec {
  std::string sandboxId;
  std::vector<std::string> argv;  // argv[0]: absolute path of the program
  std::vector<std::string> env;   // the child's whole environment ("K=V"); empty by default
  security::IdentitySpec identity;
  std::vector<int> passFds;       // kept open at the same numbers in the child
  std::string logPath;            // stdout and stderr, appended; created 0600 if missing
  std::optional<CgroupSpec> cgroup;  // created for this process, owned by its LaunchedProcess
  const security::Cgroup* joinCgroup = nullptr;  // or an existing one it joins (not owned): a VM's helper
  int netnsFd = -1;               // an open /proc/<pid>/ns/net or bind mount, -1: stay in ours
  std::map<int, rlimit> rlimits;  // e.g. security::defaultQemuRlimits()
  // A user namespace of its own (security/userns.h): identity is then an identity inside it, and
  // userns->keep the capabilities it keeps there. Only for a helper that needs capabilities (the
  // QEMU flavour of virtiofsd); the launcher process accepts it only for the programs it is told to.
  std::optional<security::UserNamespaceSpec> userns;
};

// A launched process, tracked by pidfd (no pid reuse race). Owns its cgroup: cleanup() removes it
// once the process is gone.
class LaunchedProcess {
 public:
  LaunchedProcess(pid_t pid, UniqueFd pidfd, std::optional<security::Cgroup> cgroup, uint64_t startTime = 0)
      : pid_(pid), pidfd_(std::move(pidfd)), cgroup_(std::move(cgroup)), startTime_(startTime) {}
  // A process an earlier daemon launched (after a restart): nullopt when the process the record names
  // is gone (exited, a zombie, or its pid now belongs to another process). The start time is checked
  // again after pidfd_open, so the pidfd cannot name a successor that took the pid in between. It is
  // not our child: its exit is seen on the pidfd, its exit status is unknown (code -1).
  static std::optional<LaunchedProcess> adopt(pid_t pid, uint64_t startTime, std::optional<security::Cgroup> cgroup,
                                              const std::string& procRoot = "/proc");
  LaunchedProcess(LaunchedProcess&&) = default;
  LaunchedProcess& operator=(LaunchedProcess&&) = default;
  // Kills and reaps a process that was never waited for, and removes its cgroup: no zombies, no
  // orphaned VMs or cgroups from a half-finished launch. A daemon that wants the VM to outlive it
  // calls release() first.
  ~LaunchedProcess();

  pid_t pid() const { return pid_; }
  int pidfd() const { return pidfd_.get(); }
  // /proc/<pid>/stat field 22: with the pid, what names this process across a daemon restart.
  uint64_t startTime() const { return startTime_; }
  bool adopted() const { return !child_; }
  const std::optional<security::Cgroup>& cgroup() const { return cgroup_; }
  // Waits for exit until the deadline (poll on the pidfd), reaping it when it is our child.
  ExitStatus wait(Deadline deadline);
  bool exited() const { return exit_.exited; }
  void signal(int sig);  // pidfd_send_signal: never hits a recycled pid
  // Removes the cgroup (after the process exited); kFailedPrecondition while it still runs.
  void cleanup();
  // Gives up ownership without killing (the VM outlives this object, e.g. on daemon shutdown).
  void release();

 private:
  pid_t pid_;
  UniqueFd pidfd_;
  std::optional<security::Cgroup> cgroup_;
  uint64_t startTime_ = 0;
  bool child_ = true;
  ExitStatus exit_;
  bool released_ = false;
};

// Field 22 of <procRoot>/<pid>/stat; nullopt when there is no such process or it is a zombie.
std::optional<uint64_t> processStartTime(const std::string& procRoot, pid_t pid);

// What P3-P5 produced: the child (the caller's own child, however it was started) and whether it
// reached execve.
struct JailedChild {
  pid_t pid = -1;
  UniqueFd pidfd;
  int failedStep = 0;       // 0: it reached execve
  int failedErrno = 0;
  bool reportLost = false;  // it died without a report
};

// Where P3-P5 run: in this process (nullptr), or in the launcher process (jail_launcher.h), which
// keeps the privileges the child steps need so the daemon does not have to.
class LaunchBackend {
 public:
  virtual ~LaunchBackend() = default;
  // logFd: spec.logPath, opened by the caller (which may write where the backend may not).
  virtual JailedChild start(const LaunchSpec& spec, int logFd, const std::vector<UniqueFd>& cgroupProcs) = 0;
};

// P3-P5 in the calling process: the log (logFd, or opened from spec.logPath when -1), /dev/null and
// the error pipe, the child plan, the clone, the verdict. cloneParent: the child becomes a child of
// our parent (CLONE_PARENT; the launcher process uses it so the daemon is QEMU's parent).
JailedChild startJailedHere(const LaunchSpec& spec, const std::vector<int>& cgroupProcs, bool cloneParent,
                            int logFd = -1);
// The log a launched process writes to: appended, created 0600, never through a symlink.
UniqueFd openLaunchLog(const std::string& path);
const char* launchStepName(int step);

// P1 and P2 here, P3-P5 here or in the backend; a failed child is reaped and its cgroup removed.
LaunchedProcess launchJailed(const LaunchSpec& spec, const Logger& log, LaunchBackend* backend = nullptr);

}  // namespace kata::vmmd
