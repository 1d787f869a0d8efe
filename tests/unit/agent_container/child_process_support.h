// Runs a piece of container set-up in a forked child, as the agent's container init would, and
// brings back what it printed and how it ended. The host kernel is real: the body may unshare,
// mount, drop privileges and exec; none of that reaches the test process.
#pragma once

#include <functional>
#include <string>

namespace kata::agent::testing {

struct ChildResult {
  int exitCode = -1;    // exit status, or 128 + signal
  std::string output;   // stdout and stderr together; a kata::Error escaping the body prints "ERROR: <what>"
};

// The body must exec or return; returning exits 0, an escaping exception exits 100.
ChildResult runInChild(const std::function<void()>& body);

}  // namespace kata::agent::testing
