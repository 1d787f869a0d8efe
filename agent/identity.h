// Who the agent is: the answer to Agent.version, and what build/guest/manifest.json records.
#pragma once

#include <string>

namespace kata::agent {

struct AgentIdentity {
  std::string version;        // project version
  std::string commit;         // git commit
  std::string buildId;        // hex GNU build id of the running binary, "" if it has none
  std::string kernelRelease;  // uname -r
};

// The GNU build id note of the running executable (found through dl_iterate_phdr, which works in a
// static binary too), as lowercase hex; "" when the binary was linked without one.
std::string ownBuildId();

// Version and commit come from the build (KATA_AGENT_VERSION / KATA_AGENT_COMMIT); the rest is read
// from the running system.
AgentIdentity currentIdentity();

}  // namespace kata::agent
