// kata-ctl's configuration file (TOML). Every option is documented in docs/configuration.md; the
// embedded default is runtime/config/configuration.toml, compiled in at build time.
//
// Load order (the first that applies wins, nothing is merged between files):
//   1. the --config flag           (an error if the file does not exist)
//   2. $KATA_CTL_CONFIG            (an error if the file does not exist)
//   3. /etc/kata-ctl/configuration.toml, when it exists
//   4. the embedded default
// A file need not set every option: what it leaves out keeps the default. Unknown tables or keys,
// wrong types and bad values are errors naming the file, line, key and reason.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace kata::config {

enum class Accel { kAuto, kKvm, kTcg };
enum class SharedFs { kVirtio9p, kVirtioFs };
enum class AgentTransport { kAuto, kVirtioSerial, kVsock };
enum class StateStoreKind { kFilesystem, kLevelDb };
enum class NetworkModel { kTcFilter, kMacvtap };

std::string accelName(Accel);
std::string sharedFsName(SharedFs);
std::string agentTransportName(AgentTransport);
std::string stateStoreName(StateStoreKind);
std::string networkModelName(NetworkModel);

struct HypervisorConfig {
  std::string path = "/usr/bin/qemu-system-x86_64";
  Accel accel = Accel::kAuto;
  std::string machineType = "q35";
  int defaultVcpus = 1;
  int defaultMemoryMib = 1024;
  // The guest image directory (manifest.json, kernel, initramfs: guest/build-image.sh). Empty: the
  // image next to the binary (<dir of kata-ctl>/../guest, i.e. build/guest for build/bin), else
  // /usr/share/kata-ctl/guest.
  std::string guestImage;
  std::string kernelParams;
  SharedFs sharedFs = SharedFs::kVirtio9p;
  std::string virtiofsd = "/usr/libexec/virtiofsd";
  bool operator==(const HypervisorConfig&) const = default;
};

struct AgentConfig {
  AgentTransport transport = AgentTransport::kAuto;
  int dialTimeoutMs = 60000;
  bool operator==(const AgentConfig&) const = default;
};

struct NetworkSection {
  NetworkModel model = NetworkModel::kTcFilter;
  int queues = 1;
  bool operator==(const NetworkSection&) const = default;
};

struct RuntimeSection {
  std::string vmmdSocket = "/run/kata-vmmd/vmmd.sock";
  StateStoreKind stateStore = StateStoreKind::kFilesystem;
  std::string logLevel = "info";
  bool operator==(const RuntimeSection&) const = default;
};

struct RuntimeConfig {
  HypervisorConfig hypervisor;
  AgentConfig agent;
  NetworkSection network;
  RuntimeSection runtime;
  // Where the values came from: a file path, or "<embedded default>".
  std::string source = kEmbeddedSource;

  static constexpr const char* kEmbeddedSource = "<embedded default>";
  bool operator==(const RuntimeConfig& o) const {
    return hypervisor == o.hypervisor && agent == o.agent && network == o.network && runtime == o.runtime;
  }
};

inline constexpr const char* kConfigEnvVar = "KATA_CTL_CONFIG";
inline constexpr const char* kSystemConfigPath = "/etc/kata-ctl/configuration.toml";
inline constexpr size_t kMaxConfigSize = 1024 * 1024;

// The text of runtime/config/configuration.toml as compiled in.
std::string_view embeddedDefaultConfig();

// Parses TOML text; sourceName labels errors. Throws kInvalidArgument
// "<source>:<line>: <table.key>: <reason>" (line omitted when unknown).
RuntimeConfig parseConfig(std::string_view text, const std::string& sourceName);
// Reads (bounded) and parses one file.
RuntimeConfig loadConfigFile(const std::string& path);

struct ConfigSources {
  std::optional<std::string> flagPath;  // --config
  std::optional<std::string> envPath;   // $KATA_CTL_CONFIG (empty counts as unset)
  std::string systemPath = kSystemConfigPath;
  // flagPath as given, envPath from the environment.
  static ConfigSources fromEnvironment(std::optional<std::string> flagPath);
};

// Applies the load order above.
RuntimeConfig loadConfig(const ConfigSources& sources);

}  // namespace kata::config
