#include "kata-ctl/containers.h"

#include <signal.h>

#include <cerrno>
#include <fstream>
#include <sstream>

#include "common/error.h"
#include "kata-ctl/context.h"
#include "runtime/hooks/hooks.h"

namespace kata::ctl {

// comm (field 2) may hold spaces and parentheses, so the fields are counted from the last ')'.
std::optional<unsigned long long> processStartTime(int pid) {
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
    auto now = processStartTime(pid);
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

std::vector<oci::Hook> savedHooks(const state::ContainerState& s, const std::string& phase) {
  std::vector<oci::Hook> hooks;
  auto saved = s.extra.find("hooks");
  if (saved == s.extra.end() || !saved->is_object()) return hooks;
  auto list = saved->find(phase);
  if (list == saved->end() || !list->is_array()) return hooks;
  for (const auto& h : *list) {
    if (!h.is_object() || !h.contains("path") || !h["path"].is_string()) {
      fail(ErrorKind::kInvalidArgument, "container " + s.id + ": saved " + phase + " hook has no path");
    }
    oci::Hook hook;
    hook.path = h["path"].get<std::string>();
    if (h.contains("args")) hook.args = h["args"].get<std::vector<std::string>>();
    if (h.contains("env")) hook.env = h["env"].get<std::vector<std::string>>();
    if (h.contains("timeout")) hook.timeout = h["timeout"].get<int>();
    hooks.push_back(std::move(hook));
  }
  return hooks;
}

void runContainerHooks(const state::ContainerState& s, const std::string& phase, const std::vector<oci::Hook>& hooks) {
  if (hooks.empty()) return;
  hooks::HookOptions options;
  options.workingDir = s.bundle;
  hooks::runHooks(phase, hooks, state::ociStateJson(s), options);
}

}  // namespace kata::ctl
