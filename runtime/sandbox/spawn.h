// Starting the runtime's helper processes (the sandbox monitor, per-container shims): fork + exec
// with exactly the descriptors they need, optionally detached (a session of their own, and not our
// child: the intermediate process exits, so the helper is reparented to the nearest subreaper —
// conmon or containerd's shim when an engine drives us — or to init).
#pragma once

#include <sys/types.h>

#include <string>
#include <utility>
#include <vector>

namespace kata::sandbox {

struct SpawnOptions {
  std::vector<std::string> argv;           // argv[0] is the path to exec
  // Descriptors the child gets, as (fd in the child, fd here). Everything else is closed, except
  // 0-2 when inheritStdio is set. Child fds must be >= 3.
  std::vector<std::pair<int, int>> fds;
  bool inheritStdio = false;               // else 0-2 are /dev/null
  bool newSession = true;                  // setsid()
  bool detach = true;                      // double fork: not our child
};

// Returns the pid of the helper (also when detached). Throws when fork/exec fails; an exec failure
// is reported by the child through a close-on-exec pipe, so it is seen here.
pid_t spawnHelper(const SpawnOptions& options);

// The path of the running binary (/proc/self/exe resolved), for re-executing ourselves.
std::string selfExe();

}  // namespace kata::sandbox
