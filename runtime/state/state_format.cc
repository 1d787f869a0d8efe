#include "runtime/state/state_format.h"

#include "common/time.h"
#include "runtime/state/go_format.h"

namespace kata::state {

namespace {

int listedPid(const ContainerState& s) { return s.status == ContainerStatus::kStopped ? 0 : s.pid; }

}  // namespace

std::string listTable(const std::vector<ContainerState>& states) {
  std::string text = "ID\tPID\tSTATUS\tBUNDLE\tCREATED\tOWNER\n";
  for (const auto& s : states) {
    text += s.id + "\t" + std::to_string(listedPid(s)) + "\t" + statusName(s.status) + "\t" + s.bundle + "\t" +
            rfc3339Nano(s.created) + "\t" + s.owner + "\n";
  }
  return goTabwriter(text, 12, 3, ' ');
}

std::string listJson(const std::vector<ContainerState>& states) {
  if (states.empty()) return "null\n";
  nlohmann::ordered_json arr = nlohmann::ordered_json::array();
  for (const auto& s : states) {
    nlohmann::ordered_json j = nlohmann::ordered_json::object();
    j["ociVersion"] = s.ociVersion;
    j["id"] = s.id;
    j["pid"] = listedPid(s);
    j["status"] = statusName(s.status);
    j["bundle"] = s.bundle;
    j["rootfs"] = s.rootfs;
    j["created"] = rfc3339Nano(s.created);
    if (!s.annotations.empty()) j["annotations"] = s.annotations;
    j["owner"] = s.owner;
    arr.push_back(std::move(j));
  }
  return goJsonMarshal(arr, 0) + "\n";
}

std::string listQuiet(const std::vector<ContainerState>& states) {
  std::string out;
  for (const auto& s : states) out += s.id + "\n";
  return out;
}

}  // namespace kata::state
