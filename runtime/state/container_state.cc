#include "runtime/state/container_state.h"

#include <pwd.h>
#include <unistd.h>

#include <climits>
#include <vector>

#include "common/error.h"
#include "common/time.h"
#include "runtime/state/go_format.h"

namespace kata::state {

namespace {

constexpr int kStateFormatVersion = 1;
constexpr size_t kMaxStringField = 4096;
constexpr size_t kMaxAnnotations = 4096;
constexpr size_t kMaxJsonDepth = 64;

[[noreturn]] void badField(const std::string& field, const std::string& why) {
  fail(ErrorKind::kInvalidArgument, field + ": " + why);
}

std::string getString(const nlohmann::json& j, const char* field, bool required = true) {
  auto it = j.find(field);
  if (it == j.end()) {
    if (required) badField(field, "missing");
    return {};
  }
  if (!it->is_string()) badField(field, "must be a string");
  const auto& s = it->get_ref<const std::string&>();
  if (s.size() > kMaxStringField) badField(field, "longer than " + std::to_string(kMaxStringField) + " bytes");
  return s;
}

// nlohmann's parser recurses per nesting level; refuse deep documents before parsing them.
void checkDepth(std::string_view text) {
  size_t depth = 0;
  bool inString = false;
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (inString) {
      if (c == '\\') ++i;
      else if (c == '"') inString = false;
    } else if (c == '"') {
      inString = true;
    } else if (c == '{' || c == '[') {
      if (++depth > kMaxJsonDepth) fail(ErrorKind::kInvalidArgument, "nested deeper than " + std::to_string(kMaxJsonDepth) + " levels");
    } else if ((c == '}' || c == ']') && depth > 0) {
      --depth;
    }
  }
}

}  // namespace

std::string statusName(ContainerStatus status) {
  switch (status) {
    case ContainerStatus::kCreating: return "creating";
    case ContainerStatus::kCreated: return "created";
    case ContainerStatus::kRunning: return "running";
    case ContainerStatus::kPaused: return "paused";
    case ContainerStatus::kStopped: return "stopped";
  }
  return "unknown";
}

std::optional<ContainerStatus> parseStatus(std::string_view name) {
  for (auto s : {ContainerStatus::kCreating, ContainerStatus::kCreated, ContainerStatus::kRunning,
                 ContainerStatus::kPaused, ContainerStatus::kStopped})
    if (statusName(s) == name) return s;
  return std::nullopt;
}

void validateContainerId(const std::string& id) {
  if (id.empty()) fail(ErrorKind::kInvalidArgument, "container id cannot be empty");
  for (char c : id) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
              c == '+' || c == ',' || c == '-' || c == '.';
    if (!ok) fail(ErrorKind::kInvalidArgument, "invalid container ID format");
  }
  if (id == "." || id == "..") fail(ErrorKind::kInvalidArgument, "invalid container ID format");
  if (id.size() > kMaxContainerIdLength)
    fail(ErrorKind::kInvalidArgument,
         "invalid container ID format: longer than " + std::to_string(kMaxContainerIdLength) + " characters");
}

nlohmann::json ContainerState::toJson() const {
  nlohmann::json j = nlohmann::json::object();
  j["version"] = kStateFormatVersion;
  j["ociVersion"] = ociVersion;
  j["id"] = id;
  j["pid"] = pid;
  j["status"] = statusName(status);
  j["bundle"] = bundle;
  j["rootfs"] = rootfs;
  j["created"] = rfc3339Nano(created);
  j["owner"] = owner;
  j["annotations"] = annotations;
  j["sandboxId"] = sandboxId;
  j["extra"] = extra;
  return j;
}

ContainerState ContainerState::fromJson(const nlohmann::json& j) {
  if (!j.is_object()) badField("state", "must be a JSON object");
  auto version = j.find("version");
  if (version == j.end() || !version->is_number_integer()) badField("version", "missing or not an integer");
  if (version->get<long long>() != kStateFormatVersion)
    badField("version", "format version " + version->dump() + " is not supported by this kata-ctl (expected " +
                            std::to_string(kStateFormatVersion) + ")");
  ContainerState s;
  s.ociVersion = getString(j, "ociVersion");
  s.id = getString(j, "id");
  try {
    validateContainerId(s.id);
  } catch (const Error& e) {
    badField("id", e.what());
  }
  auto pid = j.find("pid");
  if (pid == j.end() || !pid->is_number_integer()) badField("pid", "missing or not an integer");
  long long pidValue = pid->get<long long>();
  if (pidValue < 0 || pidValue > INT_MAX) badField("pid", "out of range: " + pid->dump());
  s.pid = static_cast<int>(pidValue);
  std::string status = getString(j, "status");
  auto parsed = parseStatus(status);
  if (!parsed) badField("status", "unknown status \"" + status + "\"");
  s.status = *parsed;
  s.bundle = getString(j, "bundle");
  s.rootfs = getString(j, "rootfs");
  try {
    s.created = parseRfc3339(getString(j, "created"));
  } catch (const Error& e) {
    badField("created", e.what());
  }
  s.owner = getString(j, "owner", false);
  s.sandboxId = getString(j, "sandboxId", false);
  if (auto a = j.find("annotations"); a != j.end()) {
    if (!a->is_object()) badField("annotations", "must be an object of strings");
    if (a->size() > kMaxAnnotations) badField("annotations", "more than " + std::to_string(kMaxAnnotations) + " entries");
    for (const auto& [key, value] : a->items()) {
      if (!value.is_string()) badField("annotations." + key, "must be a string");
      s.annotations.emplace(key, value.get<std::string>());
    }
  }
  if (auto e = j.find("extra"); e != j.end()) {
    if (!e->is_object()) badField("extra", "must be an object");
    s.extra = *e;
  }
  return s;
}

std::string serializeState(const ContainerState& state) {
  if (!state.extra.is_object()) fail(ErrorKind::kInternal, "container " + state.id + ": state.extra must be a JSON object");
  try {
    return state.toJson().dump();
  } catch (const nlohmann::json::exception& e) {
    fail(ErrorKind::kInvalidArgument, "container " + state.id + ": cannot store its state: " + e.what());
  }
}

ContainerState parseState(std::string_view text, const std::string& id) {
  try {
    checkDepth(text);
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(text);
    } catch (const nlohmann::json::exception& e) {
      fail(ErrorKind::kInvalidArgument, std::string("invalid JSON: ") + e.what());
    }
    ContainerState s = ContainerState::fromJson(j);
    if (s.id != id) fail(ErrorKind::kInvalidArgument, "it names container \"" + s.id + "\"");
    return s;
  } catch (const Error& e) {
    if (e.kind() != ErrorKind::kInvalidArgument) throw;
    fail(ErrorKind::kInvalidArgument, "container " + id + ": state is corrupt (" + e.what() +
                                          "); remove it with `kata-ctl delete --force " + id + "`");
  }
}

std::string ownerName(uid_t uid) {
  long size = ::sysconf(_SC_GETPW_R_SIZE_MAX);
  std::vector<char> buf(size > 0 ? static_cast<size_t>(size) : 16384);
  struct passwd pw {};
  struct passwd* result = nullptr;
  for (;;) {
    int rc = ::getpwuid_r(uid, &pw, buf.data(), buf.size(), &result);
    if (rc == ERANGE && buf.size() < (1u << 20)) {
      buf.resize(buf.size() * 2);
      continue;
    }
    if (rc == 0 && result != nullptr) return result->pw_name;
    return "#" + std::to_string(uid);  // as runc: user.LookupUid failed
  }
}

std::string runcStateJson(const ContainerState& state) {
  nlohmann::ordered_json j = nlohmann::ordered_json::object();
  j["ociVersion"] = state.ociVersion;
  j["id"] = state.id;
  j["pid"] = state.status == ContainerStatus::kStopped ? 0 : state.pid;
  j["status"] = statusName(state.status);
  j["bundle"] = state.bundle;
  j["rootfs"] = state.rootfs;
  j["created"] = rfc3339Nano(state.created);
  if (!state.annotations.empty()) j["annotations"] = state.annotations;
  j["owner"] = "";  // runc's state command never fills it in
  return goJsonMarshal(j, 2);
}

namespace {

nlohmann::ordered_json ociStateOrdered(const ContainerState& state) {
  nlohmann::ordered_json j = nlohmann::ordered_json::object();
  j["ociVersion"] = state.ociVersion;
  j["id"] = state.id;
  j["status"] = statusName(state.status);
  if (state.pid != 0) j["pid"] = state.pid;
  j["bundle"] = state.bundle;
  if (!state.annotations.empty()) j["annotations"] = state.annotations;
  return j;
}

}  // namespace

nlohmann::json ociState(const ContainerState& state) {
  nlohmann::json j = nlohmann::json::object();
  j["ociVersion"] = state.ociVersion;
  j["id"] = state.id;
  j["status"] = statusName(state.status);
  if (state.pid != 0) j["pid"] = state.pid;
  j["bundle"] = state.bundle;
  if (!state.annotations.empty()) j["annotations"] = state.annotations;
  return j;
}

std::string ociStateJson(const ContainerState& state) { return goJsonMarshal(ociStateOrdered(state), 0); }

}  // namespace kata::state
