// The OCI runtime-spec config.json model (1.0.x through 1.2).
//
// The model mirrors the runtime-spec Go types (specs-go) that runc and every engine use, so a config
// an engine wrote comes back out of toJson() byte-for-byte equivalent:
//   - members that Go declares as pointers or that the spec calls OPTIONAL are std::optional (absent
//     stays absent, an explicit 0/false/""/[] stays explicit);
//   - members Go declares as plain values with `omitempty` (process.terminal, process.noNewPrivileges,
//     root.readonly, process.args, the hook lists, annotations, hook args/env) are plain values and are
//     written only when non-empty, exactly as Go writes them;
//   - members the spec calls REQUIRED are plain values and parseSpec() insists on them.
// Every struct keeps the JSON members it does not know in `unknown`, so a read-modify-write by this
// runtime keeps fields of newer spec versions and vendor extensions. A JSON null is read as "absent",
// as Go's encoding/json does.
//
// Errors: parseSpec/validateSpec/loadBundleSpec throw kata::Error(kInvalidArgument) whose message is
// "<json path>: <reason>", e.g. "process.user.uid: must be a non-negative integer" or
// "linux.namespaces[1].type: unknown namespace type \"foo\"". Nothing else escapes them.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "runtime/oci/hook.h"

// Spec::linux mirrors the JSON member; the GNU dialects (-std=gnu++20) predefine a macro `linux`.
#if defined(linux)
#error "runtime/oci/spec.h needs ISO C++ (-std=c++20, CMAKE_CXX_EXTENSIONS OFF): gnu++ predefines `linux`"
#endif

namespace kata::oci {

// Hard bounds on hostile input. A config.json larger than this is refused before parsing; JSON nested
// deeper than kMaxJsonDepth is refused (it would only exist to exhaust the stack of whoever copies or
// prints it); no typed array may hold more than kMaxArrayLength entries.
inline constexpr size_t kMaxConfigBytes = 4 * 1024 * 1024;
inline constexpr int kMaxJsonDepth = 64;
inline constexpr size_t kMaxArrayLength = 65536;

// The spec version runc 1.1 writes and that defaultSpec() produces.
inline constexpr const char* kDefaultOciVersion = "1.0.2-dev";

struct Root {
  std::string path;       // REQUIRED; relative to the bundle or absolute
  bool readonly = false;  // written only when true (Go omitempty)
  nlohmann::json unknown = nlohmann::json::object();
};

struct ConsoleSize {
  uint64_t height = 0;
  uint64_t width = 0;
  nlohmann::json unknown = nlohmann::json::object();
};

struct User {
  uint32_t uid = 0;
  uint32_t gid = 0;
  std::optional<uint32_t> umask;
  std::optional<std::vector<uint32_t>> additionalGids;
  std::optional<std::string> username;  // Windows only
  nlohmann::json unknown = nlohmann::json::object();
};

struct Capabilities {
  std::optional<std::vector<std::string>> bounding;
  std::optional<std::vector<std::string>> effective;
  std::optional<std::vector<std::string>> inheritable;
  std::optional<std::vector<std::string>> permitted;
  std::optional<std::vector<std::string>> ambient;
  nlohmann::json unknown = nlohmann::json::object();
};

struct Rlimit {
  std::string type;  // RLIMIT_*
  uint64_t hard = 0;
  uint64_t soft = 0;
  nlohmann::json unknown = nlohmann::json::object();
};

struct IoPriority {
  std::string ioClass;  // JSON "class": IOPRIO_CLASS_RT | IOPRIO_CLASS_BE | IOPRIO_CLASS_IDLE
  std::optional<int32_t> priority;
  nlohmann::json unknown = nlohmann::json::object();
};

struct Scheduler {
  std::string policy;  // SCHED_*
  std::optional<int32_t> nice;
  std::optional<int32_t> priority;
  std::optional<std::vector<std::string>> flags;
  std::optional<uint64_t> runtime;
  std::optional<uint64_t> deadline;
  std::optional<uint64_t> period;
  nlohmann::json unknown = nlohmann::json::object();
};

struct Process {
  bool terminal = false;  // written only when true (Go omitempty)
  std::optional<ConsoleSize> consoleSize;
  User user;
  std::vector<std::string> args;  // written only when non-empty; validateSpec requires >= 1
  std::optional<std::string> commandLine;  // Windows only
  std::optional<std::vector<std::string>> env;
  std::string cwd;  // REQUIRED, absolute
  std::optional<Capabilities> capabilities;
  std::optional<std::vector<Rlimit>> rlimits;
  bool noNewPrivileges = false;  // written only when true (Go omitempty)
  std::optional<std::string> apparmorProfile;
  std::optional<int32_t> oomScoreAdj;
  std::optional<std::string> selinuxLabel;
  std::optional<IoPriority> ioPriority;
  std::optional<Scheduler> scheduler;
  nlohmann::json unknown = nlohmann::json::object();
};

struct IdMapping {
  uint32_t containerID = 0;
  uint32_t hostID = 0;
  uint32_t size = 0;
  nlohmann::json unknown = nlohmann::json::object();
};

struct Mount {
  std::string destination;  // REQUIRED, absolute
  std::optional<std::string> source;
  std::optional<std::string> type;
  std::optional<std::vector<std::string>> options;
  std::optional<std::vector<IdMapping>> uidMappings;
  std::optional<std::vector<IdMapping>> gidMappings;
  nlohmann::json unknown = nlohmann::json::object();
};

struct Hooks {
  std::vector<Hook> prestart;  // deprecated in 1.2 but still run by runc
  std::vector<Hook> createRuntime;
  std::vector<Hook> createContainer;
  std::vector<Hook> startContainer;
  std::vector<Hook> poststart;
  std::vector<Hook> poststop;
  nlohmann::json unknown = nlohmann::json::object();
};

struct Namespace {
  std::string type;  // pid | network | mount | ipc | uts | user | cgroup | time
  std::optional<std::string> path;
  nlohmann::json unknown = nlohmann::json::object();
};

struct Device {
  std::string type;  // c | b | u | p
  std::string path;  // absolute, in the container
  std::optional<int64_t> major;
  std::optional<int64_t> minor;
  std::optional<uint32_t> fileMode;
  std::optional<uint32_t> uid;
  std::optional<uint32_t> gid;
  nlohmann::json unknown = nlohmann::json::object();
};

struct DeviceCgroup {
  bool allow = false;  // REQUIRED
  std::optional<std::string> type;  // a | c | b
  std::optional<int64_t> major;
  std::optional<int64_t> minor;
  std::optional<std::string> access;  // subset of "rwm"
  nlohmann::json unknown = nlohmann::json::object();
};

struct Memory {
  std::optional<int64_t> limit;
  std::optional<int64_t> reservation;
  std::optional<int64_t> swap;
  std::optional<int64_t> kernel;
  std::optional<int64_t> kernelTCP;
  std::optional<uint64_t> swappiness;
  std::optional<bool> disableOOMKiller;
  std::optional<bool> useHierarchy;
  std::optional<bool> checkBeforeUpdate;
  nlohmann::json unknown = nlohmann::json::object();
};

struct Cpu {
  std::optional<uint64_t> shares;
  std::optional<int64_t> quota;
  std::optional<uint64_t> burst;
  std::optional<uint64_t> period;
  std::optional<int64_t> realtimeRuntime;
  std::optional<uint64_t> realtimePeriod;
  std::optional<std::string> cpus;
  std::optional<std::string> mems;
  std::optional<int64_t> idle;
  nlohmann::json unknown = nlohmann::json::object();
};

struct Pids {
  std::optional<int64_t> limit;
  nlohmann::json unknown = nlohmann::json::object();
};

struct WeightDevice {
  int64_t major = 0;
  int64_t minor = 0;
  std::optional<uint16_t> weight;
  std::optional<uint16_t> leafWeight;
  nlohmann::json unknown = nlohmann::json::object();
};

struct ThrottleDevice {
  int64_t major = 0;
  int64_t minor = 0;
  uint64_t rate = 0;
  nlohmann::json unknown = nlohmann::json::object();
};

struct BlockIo {
  std::optional<uint16_t> weight;
  std::optional<uint16_t> leafWeight;
  std::optional<std::vector<WeightDevice>> weightDevice;
  std::optional<std::vector<ThrottleDevice>> throttleReadBpsDevice;
  std::optional<std::vector<ThrottleDevice>> throttleWriteBpsDevice;
  std::optional<std::vector<ThrottleDevice>> throttleReadIOPSDevice;
  std::optional<std::vector<ThrottleDevice>> throttleWriteIOPSDevice;
  nlohmann::json unknown = nlohmann::json::object();
};

struct HugepageLimit {
  std::string pageSize;  // e.g. "2MB"
  uint64_t limit = 0;
  nlohmann::json unknown = nlohmann::json::object();
};

struct InterfacePriority {
  std::string name;
  uint32_t priority = 0;
  nlohmann::json unknown = nlohmann::json::object();
};

struct Network {
  std::optional<uint32_t> classID;
  std::optional<std::vector<InterfacePriority>> priorities;
  nlohmann::json unknown = nlohmann::json::object();
};

struct Rdma {
  std::optional<uint32_t> hcaHandles;
  std::optional<uint32_t> hcaObjects;
  nlohmann::json unknown = nlohmann::json::object();
};

struct Resources {
  std::optional<std::vector<DeviceCgroup>> devices;
  std::optional<Memory> memory;
  std::optional<Cpu> cpu;
  std::optional<Pids> pids;
  std::optional<BlockIo> blockIO;
  std::optional<std::vector<HugepageLimit>> hugepageLimits;
  std::optional<Network> network;
  std::optional<std::map<std::string, Rdma>> rdma;
  std::optional<std::map<std::string, std::string>> unified;
  nlohmann::json unknown = nlohmann::json::object();
};

struct SeccompArg {
  uint32_t index = 0;
  uint64_t value = 0;
  std::optional<uint64_t> valueTwo;
  std::string op;  // SCMP_CMP_*
  nlohmann::json unknown = nlohmann::json::object();
};

struct Syscall {
  std::vector<std::string> names;
  std::string action;  // SCMP_ACT_*
  std::optional<uint32_t> errnoRet;
  std::optional<std::vector<SeccompArg>> args;
  nlohmann::json unknown = nlohmann::json::object();
};

struct Seccomp {
  std::string defaultAction;  // SCMP_ACT_*
  std::optional<uint32_t> defaultErrnoRet;
  std::optional<std::vector<std::string>> architectures;
  std::optional<std::vector<std::string>> flags;
  std::optional<std::string> listenerPath;
  std::optional<std::string> listenerMetadata;
  std::optional<std::vector<Syscall>> syscalls;
  nlohmann::json unknown = nlohmann::json::object();
};

struct Personality {
  std::string domain;  // LINUX | LINUX32
  std::optional<std::vector<std::string>> flags;
  nlohmann::json unknown = nlohmann::json::object();
};

struct TimeOffset {
  int64_t secs = 0;
  uint32_t nanosecs = 0;
  nlohmann::json unknown = nlohmann::json::object();
};

struct IntelRdt {
  std::optional<std::string> closID;
  std::optional<std::string> l3CacheSchema;
  std::optional<std::string> memBwSchema;
  std::optional<bool> enableCMT;
  std::optional<bool> enableMBM;
  nlohmann::json unknown = nlohmann::json::object();
};

struct Linux {
  std::optional<std::vector<IdMapping>> uidMappings;
  std::optional<std::vector<IdMapping>> gidMappings;
  std::optional<std::map<std::string, std::string>> sysctl;
  std::optional<Resources> resources;
  std::optional<std::string> cgroupsPath;
  std::optional<std::vector<Namespace>> namespaces;
  std::optional<std::vector<Device>> devices;
  std::optional<Seccomp> seccomp;
  std::optional<std::string> rootfsPropagation;
  std::optional<std::vector<std::string>> maskedPaths;
  std::optional<std::vector<std::string>> readonlyPaths;
  std::optional<std::string> mountLabel;
  std::optional<IntelRdt> intelRdt;
  std::optional<Personality> personality;
  std::optional<std::map<std::string, TimeOffset>> timeOffsets;  // keys: boottime, monotonic
  nlohmann::json unknown = nlohmann::json::object();
};

struct Spec {
  std::string ociVersion;  // REQUIRED
  std::optional<Process> process;
  std::optional<Root> root;
  std::optional<std::string> hostname;
  std::optional<std::string> domainname;
  std::optional<std::vector<Mount>> mounts;
  std::optional<Hooks> hooks;
  std::map<std::string, std::string> annotations;  // written only when non-empty
  std::optional<Linux> linux;
  nlohmann::json unknown = nlohmann::json::object();

  // The namespace entry of the given type, or nullptr.
  const Namespace* findNamespace(std::string_view type) const;
};

// Parses config.json text (at most kMaxConfigBytes). Checks JSON syntax, member types and integer
// ranges, and the presence of REQUIRED members; not the semantic rules of validateSpec().
Spec parseSpec(std::string_view json);
// The same from an already parsed document (still bounded in depth and array sizes).
Spec specFromJson(const nlohmann::json& doc);

// The JSON document of a spec: the typed members merged with every struct's `unknown` members.
nlohmann::json toJson(const Spec& spec);

// Semantic checks beyond types, after runc's (libcontainer/specconv + configs/validate): ociVersion
// (1.x) and root.path present, process present (runc refuses to create without one), args non-empty,
// cwd and mount destinations absolute, namespace types known and unique, rlimit/capability/seccomp
// names known, id mappings consistent, paths that become file names (sysctl, unified) confined, ...
void validateSpec(const Spec& spec);

// Reads <bundleDir>/config.json (bounded), parses and validates it. Errors say "config.json: ...".
Spec loadBundleSpec(const std::string& bundleDir);

// What `runc spec` (rootless=false) or `runc spec --rootless` writes. The rootless variant maps
// container root to the calling user's effective uid/gid, as runc does.
nlohmann::json defaultSpec(bool rootless);
nlohmann::json defaultSpec(bool rootless, uint32_t hostUid, uint32_t hostGid);

}  // namespace kata::oci
