// Running OCI lifecycle hooks (config.json "hooks"): each hook is fork/exec'ed directly (no shell)
// with the container's OCI state JSON on its stdin, in order; the first failure stops the phase.
//
// - argv is the hook's args (argv[0] = args[0]), or just { path } when args is empty.
// - The environment is exactly the hook's env: nothing of kata-ctl's environment leaks into it.
//   (runc instead hands its own environment to a hook whose env is absent.)
// - The hook runs in its own process group with default signal dispositions and an empty signal
//   mask; on timeout the whole group is killed with SIGKILL.
// - stdout and stderr are captured (bounded) and reported when the hook fails. A hook that does not
//   read its stdin, or exits early, is fine: we never die of SIGPIPE and never wait on a pipe that a
//   hook's leftover child keeps open.
// - The hook is always reaped, also when we fail or throw half-way.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "runtime/oci/hook.h"

namespace kata::hooks {

struct HookOptions {
  // Used for hooks without their own timeout; nullopt waits as long as the hook runs (as runc).
  std::optional<std::chrono::milliseconds> defaultTimeout;
  // Working directory of the hook; empty keeps ours (runc runs hooks in its own cwd, the bundle
  // when an engine drives it).
  std::string workingDir;
  // Bytes of stderr (and stdout) quoted in an error message.
  size_t maxCapture = 4096;
};

// Runs hooks[0..] of the named phase ("prestart", "createRuntime", ...). Throws kata::Error:
//   kInvalidArgument  "<phase> hook #<i> (<path>): ..." for a hook that cannot be run (relative path,
//                     bad timeout, exec failure such as "No such file or directory")
//   kTimeout          "<phase> hook #<i> (<path>) timed out after <N> s and was killed"
//   kFailedPrecondition "<phase> hook #<i> (<path>) failed: exit status <n>; stderr: ..." or
//                     "... failed: killed by signal <n> (SIGxxx); stderr: ..."
void runHooks(std::string_view phase, const std::vector<oci::Hook>& hooks, const std::string& stateJson,
              const HookOptions& options = {});

// One hook; index only labels messages.
void runHook(std::string_view phase, size_t index, const oci::Hook& hook, const std::string& stateJson,
             const HookOptions& options = {});

}  // namespace kata::hooks
