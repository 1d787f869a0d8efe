#include "kata-ctl/containers.h"

#include <signal.h>

#include <cerrno>
#include <fstream>
#include <sstream>

#include "common/error.h"
#include "kata-ctl/context.h"

namespace kata::ctl {
namespace {

// Field 22 of /proc/<pid>/stat; nullopt when it cannot be read. comm (field 2) may hold spaces and
// parentheses, so the fields are counted from the last ')'.
std::optional<unsigned long long> startTime(int pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto close = stat.rfind(')');
  if (close == std::string::npos) return std::nullopt;
  std::istringstream rest(stat.substr(close + 1));
  std::string field;
  for (int i = 3; i <= 22; ++i) {
    if (!(rest >> field)) return std::nullopt;
  }
  try {
    return std::stoull(field);
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

}  // namespace

state::ContainerState getContainer(Context& ctx, const std::string& id) {
  state::validateContainerId(id);
  ctx.setContainer(id);
  state::ContainerState s = ctx.store().load(id);
  s.status = liveStatus(s);
  return s;
}

bool processAlive(int pid, const nlohmann::json& extra) {
  if (pid <= 0) return false;
  if (::kill(pid, 0) != 0 && errno == ESRCH) return false;
  auto recorded = extra.find("pidStartTime");
  if (recorded != extra.end() && recorded->is_number_unsigned()) {
    auto now = startTime(pid);
    if (!now || *now != recorded->get<unsigned long long>()) return false;
  }
  return true;
}

state::ContainerStatus liveStatus(const state::ContainerState& s) {
  using state::ContainerStatus;
  switch (s.status) {
    case ContainerStatus::kCreated:
    case ContainerStatus::kRunning:
    case ContainerStatus::kPaused:
      return processAlive(s.pid, s.extra) ? s.status : ContainerStatus::kStopped;
    default:
      return s.status;
  }
}

void backendUnavailable(const std::string& doing, const std::string& id, const std::string& what) {
  fail(ErrorKind::kNotSupported, doing + " container \"" + id + "\": " + what +
                                     " needs the VM backend (kata-vmmd), which is not implemented in this build");
}

}  // namespace kata::ctl
