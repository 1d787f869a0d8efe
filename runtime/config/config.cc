#include "runtime/config/config.h"

#include <fcntl.h>

#include <cstdlib>
#include <functional>
#include <map>
#include <set>
#include <sstream>
#include <vector>

#include <toml.hpp>

#include "common/error.h"
#include "common/fs.h"
#include "runtime/config/embedded_config.h"

namespace kata::config {

namespace {

template <typename E>
struct EnumName {
  E value;
  const char* name;
};

constexpr EnumName<Accel> kAccels[] = {{Accel::kAuto, "auto"}, {Accel::kKvm, "kvm"}, {Accel::kTcg, "tcg"}};
constexpr EnumName<SharedFs> kSharedFs[] = {{SharedFs::kVirtio9p, "virtio-9p"}, {SharedFs::kVirtioFs, "virtio-fs"}};
constexpr EnumName<AgentTransport> kTransports[] = {{AgentTransport::kAuto, "auto"},
                                                    {AgentTransport::kVirtioSerial, "virtio-serial"},
                                                    {AgentTransport::kVsock, "vsock"}};
constexpr EnumName<NetworkModel> kNetworkModels[] = {{NetworkModel::kTcFilter, "tcfilter"},
                                                     {NetworkModel::kMacvtap, "macvtap"}};
constexpr EnumName<StateStoreKind> kStores[] = {{StateStoreKind::kFilesystem, "filesystem"},
                                                {StateStoreKind::kLevelDb, "leveldb"}};
constexpr const char* kLogLevels[] = {"trace", "debug", "info", "warn", "error"};

template <typename E, size_t N>
std::string nameOf(const EnumName<E> (&table)[N], E v) {
  for (const auto& e : table)
    if (e.value == v) return e.name;
  return "unknown";
}

template <typename E, size_t N>
std::string choices(const EnumName<E> (&table)[N]) {
  std::string out;
  for (size_t i = 0; i < N; ++i) out += (i ? ", \"" : "\"") + std::string(table[i].name) + "\"";
  return out;
}

// One [table] of the file: typed getters that record which keys were understood, so that every
// other key can be reported as unknown.
class Section {
 public:
  Section(const toml::value& table, std::string name, const std::string& source)
      : table_(table), name_(std::move(name)), source_(source) {}

  [[noreturn]] void error(const toml::value* at, const std::string& key, const std::string& why) const {
    std::string where = source_;
    if (at != nullptr && at->location().line() > 0) where += ":" + std::to_string(at->location().line());
    fail(ErrorKind::kInvalidArgument, where + ": " + name_ + "." + key + ": " + why);
  }

  const toml::value* find(const std::string& key) {
    known_.insert(key);
    const auto& t = table_.as_table();
    auto it = t.find(key);
    return it == t.end() ? nullptr : &it->second;
  }

  void string(const std::string& key, std::string& out, size_t maxLen = 4096) {
    const toml::value* v = find(key);
    if (!v) return;
    if (!v->is_string()) error(v, key, "must be a string");
    const std::string& s = v->as_string().str;
    if (s.size() > maxLen) error(v, key, "longer than " + std::to_string(maxLen) + " bytes");
    for (char c : s)
      if (c == '\0' || c == '\n' || c == '\r') error(v, key, "may not contain NUL or line breaks");
    out = s;
  }

  void path(const std::string& key, std::string& out, bool allowEmpty = false) {
    const toml::value* v = find(key);
    if (!v) return;
    std::string s;
    string(key, s);
    if (s.empty() && allowEmpty) {
      out = s;
      return;
    }
    if (s.empty() || s.front() != '/') error(v, key, "must be an absolute path, got \"" + s + "\"");
    out = s;
  }

  void integer(const std::string& key, int& out, long long min, long long max) {
    const toml::value* v = find(key);
    if (!v) return;
    if (!v->is_integer()) error(v, key, "must be an integer");
    long long n = v->as_integer();
    if (n < min || n > max)
      error(v, key, "must be between " + std::to_string(min) + " and " + std::to_string(max) + ", got " + std::to_string(n));
    out = static_cast<int>(n);
  }

  template <typename E, size_t N>
  void choice(const std::string& key, E& out, const EnumName<E> (&table)[N]) {
    const toml::value* v = find(key);
    if (!v) return;
    std::string s;
    string(key, s);
    for (const auto& e : table)
      if (s == e.name) {
        out = e.value;
        return;
      }
    error(v, key, "must be one of " + choices(table) + ", got \"" + s + "\"");
  }

  void rejectUnknown() const {
    // Report in file order (the table is unordered): the lowest line first.
    const toml::value* worst = nullptr;
    std::string worstKey;
    for (const auto& [key, value] : table_.as_table()) {
      if (known_.count(key)) continue;
      if (!worst || value.location().line() < worst->location().line()) {
        worst = &value;
        worstKey = key;
      }
    }
    if (worst) error(worst, worstKey, "unknown option (see docs/configuration.md for the valid ones)");
  }

 private:
  const toml::value& table_;
  std::string name_;
  const std::string& source_;
  std::set<std::string> known_;
};

void checkSocketPath(Section& s, const std::string& key, const std::string& path) {
  // sockaddr_un.sun_path holds 108 bytes including the terminating NUL.
  if (path.size() >= 108) s.error(s.find(key), key, "longer than 107 bytes, too long for a unix socket");
}

}  // namespace

std::string accelName(Accel v) { return nameOf(kAccels, v); }
std::string sharedFsName(SharedFs v) { return nameOf(kSharedFs, v); }
std::string agentTransportName(AgentTransport v) { return nameOf(kTransports, v); }
std::string stateStoreName(StateStoreKind v) { return nameOf(kStores, v); }
std::string networkModelName(NetworkModel v) { return nameOf(kNetworkModels, v); }

std::string_view embeddedDefaultConfig() { return generated::kEmbeddedConfig; }

RuntimeConfig parseConfig(std::string_view text, const std::string& sourceName) {
  if (text.size() > kMaxConfigSize)
    fail(ErrorKind::kInvalidArgument, sourceName + ": larger than " + std::to_string(kMaxConfigSize) + " bytes");
  toml::value root;
  try {
    std::istringstream is{std::string(text)};
    root = toml::parse(is, sourceName);
  } catch (const std::exception& e) {
    fail(ErrorKind::kInvalidArgument, sourceName + ": not valid TOML: " + e.what());
  }
  RuntimeConfig cfg;
  cfg.source = sourceName;
  using Parser = std::function<void(Section&)>;
  const std::map<std::string, Parser> sections = {
      {"hypervisor",
       [&](Section& s) {
         auto& h = cfg.hypervisor;
         s.path("path", h.path);
         s.choice("accel", h.accel, kAccels);
         s.string("machine_type", h.machineType, 64);
         if (h.machineType.empty()) s.error(s.find("machine_type"), "machine_type", "must not be empty");
         for (char c : h.machineType)
           if (!isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '-' && c != '_')
             s.error(s.find("machine_type"), "machine_type", "may contain only letters, digits, '.', '-' and '_'");
         s.integer("default_vcpus", h.defaultVcpus, 1, 255);
         s.integer("default_memory_mib", h.defaultMemoryMib, 64, 1024 * 1024);
         s.path("guest_image", h.guestImage, true);
         s.string("kernel_params", h.kernelParams);
         s.choice("shared_fs", h.sharedFs, kSharedFs);
         s.path("virtiofsd", h.virtiofsd);
       }},
      {"agent",
       [&](Section& s) {
         s.choice("transport", cfg.agent.transport, kTransports);
         s.integer("dial_timeout_ms", cfg.agent.dialTimeoutMs, 1, 3600 * 1000);
       }},
      {"network",
       [&](Section& s) {
         s.choice("model", cfg.network.model, kNetworkModels);
         s.integer("queues", cfg.network.queues, 1, 16);
       }},
      {"runtime",
       [&](Section& s) {
         auto& r = cfg.runtime;
         s.path("vmmd_socket", r.vmmdSocket);
         checkSocketPath(s, "vmmd_socket", r.vmmdSocket);
         s.choice("state_store", r.stateStore, kStores);
         s.string("log_level", r.logLevel, 16);
         bool ok = false;
         for (const char* l : kLogLevels) ok = ok || r.logLevel == l;
         if (!ok)
           s.error(s.find("log_level"), "log_level",
                   "must be one of \"trace\", \"debug\", \"info\", \"warn\", \"error\", got \"" + r.logLevel + "\"");
       }},
  };
  for (const auto& [name, value] : root.as_table()) {
    auto it = sections.find(name);
    std::string where = sourceName;
    if (value.location().line() > 0) where += ":" + std::to_string(value.location().line());
    if (it == sections.end())
      fail(ErrorKind::kInvalidArgument,
           where + ": " + name + ": unknown " + (value.is_table() ? "table" : "option") +
               " (valid tables: [hypervisor], [agent], [network], [runtime])");
    if (!value.is_table()) fail(ErrorKind::kInvalidArgument, where + ": " + name + ": must be a table ([" + name + "])");
  }
  for (const auto& [name, parse] : sections) {
    const auto& t = root.as_table();
    auto it = t.find(name);
    if (it == t.end()) continue;
    Section s(it->second, name, sourceName);
    parse(s);
    s.rejectUnknown();
  }
  return cfg;
}

RuntimeConfig loadConfigFile(const std::string& path) {
  std::string text;
  try {
    text = readFile(path, kMaxConfigSize);
  } catch (const Error& e) {
    if (e.kind() == ErrorKind::kSystem && e.sysErrno() == ENOENT)
      throw Error(ErrorKind::kNotFound, "configuration file " + path + " does not exist", ENOENT);
    throw Error(e.kind(), "cannot read configuration file " + path + ": " + e.what(), e.sysErrno());
  }
  return parseConfig(text, path);
}

ConfigSources ConfigSources::fromEnvironment(std::optional<std::string> flagPath) {
  ConfigSources s;
  s.flagPath = std::move(flagPath);
  if (const char* env = std::getenv(kConfigEnvVar); env != nullptr && *env != '\0') s.envPath = env;
  return s;
}

RuntimeConfig loadConfig(const ConfigSources& sources) {
  if (sources.flagPath) return loadConfigFile(*sources.flagPath);
  if (sources.envPath && !sources.envPath->empty()) {
    try {
      return loadConfigFile(*sources.envPath);
    } catch (const Error& e) {
      throw Error(e.kind(), std::string(e.what()) + " (named by $" + kConfigEnvVar + ")", e.sysErrno());
    }
  }
  if (!sources.systemPath.empty() && pathExists(sources.systemPath)) return loadConfigFile(sources.systemPath);
  RuntimeConfig cfg = parseConfig(embeddedDefaultConfig(), RuntimeConfig::kEmbeddedSource);
  return cfg;
}

}  // namespace kata::config
