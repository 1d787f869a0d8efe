// config.json <-> Spec. Parsing is strict about types and ranges (as Go's encoding/json is for the
// runtime-spec structs) and keeps every member it does not know; serializing writes the typed
// members back over those unknown members.
#include "runtime/oci/spec.h"

#include <sys/stat.h>

#include <cerrno>
#include <limits>
#include <type_traits>
#include <utility>

#include "common/error.h"
#include "common/fs.h"

namespace kata::oci {
namespace {

using nlohmann::json;

[[noreturn]] void bad(const std::string& path, const std::string& reason) {
  fail(ErrorKind::kInvalidArgument, path + ": " + reason);
}

// Refuses documents nested deeper than kMaxJsonDepth before nlohmann builds them: its parser is
// iterative but copying and dumping a value recurse, so a "[[[[..." of a few MiB would overflow the
// stack later. Only counts brackets outside strings; syntax errors are left to the real parser.
void checkDepth(std::string_view text) {
  int depth = 0;
  bool inString = false;
  bool escaped = false;
  for (char c : text) {
    if (inString) {
      if (escaped) {
        escaped = false;
      } else if (c == '\\') {
        escaped = true;
      } else if (c == '"') {
        inString = false;
      }
      continue;
    }
    switch (c) {
      case '"':
        inString = true;
        break;
      case '[':
      case '{':
        if (++depth > kMaxJsonDepth) {
          fail(ErrorKind::kInvalidArgument,
               "config: JSON nested deeper than " + std::to_string(kMaxJsonDepth) + " levels");
        }
        break;
      case ']':
      case '}':
        --depth;
        break;
      default:
        break;
    }
  }
}

// The same bound for a document handed over already parsed. Iterative, so it cannot itself overflow.
void checkDepth(const json& doc) {
  std::vector<std::pair<const json*, int>> stack{{&doc, 1}};
  while (!stack.empty()) {
    auto [value, depth] = stack.back();
    stack.pop_back();
    if (!value->is_structured()) continue;
    if (depth > kMaxJsonDepth) {
      fail(ErrorKind::kInvalidArgument,
           "config: JSON nested deeper than " + std::to_string(kMaxJsonDepth) + " levels");
    }
    for (const auto& child : *value) stack.emplace_back(&child, depth + 1);
  }
}

// A map key as it appears in an error path: control bytes escaped, length bounded, so a hostile key
// cannot garble the terminal or log line the message ends up in.
std::string keyForPath(std::string_view key) {
  std::string out;
  for (unsigned char c : key.substr(0, 128)) {
    if (c < 0x20 || c == 0x7f) {
      static const char* hex = "0123456789abcdef";
      out += "\\x";
      out += hex[c >> 4];
      out += hex[c & 15];
    } else {
      out += static_cast<char>(c);
    }
  }
  if (key.size() > 128) out += "...";
  return out;
}

// ---- scalar readers: each takes the value and its JSON path for the error message ----

std::string readString(const json& v, const std::string& path) {
  if (!v.is_string()) bad(path, "must be a string");
  return v.get<std::string>();
}

bool readBool(const json& v, const std::string& path) {
  if (!v.is_boolean()) bad(path, "must be a boolean");
  return v.get<bool>();
}

template <typename T>
T readInt(const json& v, const std::string& path) {
  static_assert(std::is_integral_v<T> && !std::is_same_v<T, bool>);
  constexpr auto lo = std::numeric_limits<T>::min();
  constexpr auto hi = std::numeric_limits<T>::max();
  const std::string range = "an integer between " + std::to_string(lo) + " and " + std::to_string(hi);
  if constexpr (std::is_unsigned_v<T>) {
    if (v.is_number_unsigned()) {
      auto u = v.get<uint64_t>();
      if (u > hi) bad(path, "must be a non-negative integer at most " + std::to_string(hi));
      return static_cast<T>(u);
    }
    if (v.is_number_integer()) bad(path, "must be a non-negative integer");  // signed => negative
    if (v.is_number_float()) bad(path, "must be a non-negative integer, not a fraction or exponent");
    bad(path, "must be a non-negative integer");
  } else {
    if (v.is_number_unsigned()) {
      auto u = v.get<uint64_t>();
      if (u > static_cast<uint64_t>(hi)) bad(path, "must be " + range);
      return static_cast<T>(u);
    }
    if (v.is_number_integer()) {
      auto i = v.get<int64_t>();
      if (i < static_cast<int64_t>(lo) || i > static_cast<int64_t>(hi)) bad(path, "must be " + range);
      return static_cast<T>(i);
    }
    if (v.is_number_float()) bad(path, "must be an integer, not a fraction or exponent");
    bad(path, "must be an integer");
  }
}

template <typename T, typename F>
std::vector<T> readArray(const json& v, const std::string& path, F readOne) {
  if (!v.is_array()) bad(path, "must be an array");
  if (v.size() > kMaxArrayLength) {
    bad(path, "has " + std::to_string(v.size()) + " entries, more than the " +
                  std::to_string(kMaxArrayLength) + " allowed");
  }
  std::vector<T> out;
  out.reserve(v.size());
  for (size_t i = 0; i < v.size(); ++i) out.push_back(readOne(v[i], path + "[" + std::to_string(i) + "]"));
  return out;
}

std::vector<std::string> readStrings(const json& v, const std::string& path) {
  return readArray<std::string>(v, path, readString);
}

template <typename T, typename F>
std::map<std::string, T> readMap(const json& v, const std::string& path, F readOne) {
  if (!v.is_object()) bad(path, "must be an object");
  if (v.size() > kMaxArrayLength) {
    bad(path, "has " + std::to_string(v.size()) + " members, more than the " +
                  std::to_string(kMaxArrayLength) + " allowed");
  }
  std::map<std::string, T> out;
  for (const auto& [key, value] : v.items()) out.emplace(key, readOne(value, path + "." + keyForPath(key)));
  return out;
}

std::map<std::string, std::string> readStringMap(const json& v, const std::string& path) {
  return readMap<std::string>(v, path, readString);
}

// One JSON object being read: known members are taken out one by one, whatever stays is `unknown`.
class ObjectReader {
 public:
  ObjectReader(const json& v, std::string path) : path_(std::move(path)) {
    if (!v.is_object()) bad(path_.empty() ? "config" : path_, "must be a JSON object");
    rest_ = v;
  }

  // Reads an optional member: absent or null leaves `out` untouched.
  template <typename T, typename F>
  void opt(const char* key, std::optional<T>& out, F readOne) {
    auto it = rest_.find(key);
    if (it == rest_.end()) return;
    if (!it->is_null()) out = readOne(*it, memberPath(key));
    rest_.erase(it);
  }
  // An optional member held in a plain value (Go omitempty): absent or null keeps the default.
  template <typename T, typename F>
  void plain(const char* key, T& out, F readOne) {
    auto it = rest_.find(key);
    if (it == rest_.end()) return;
    if (!it->is_null()) out = readOne(*it, memberPath(key));
    rest_.erase(it);
  }
  // A REQUIRED member.
  template <typename T, typename F>
  void req(const char* key, T& out, F readOne) {
    auto it = rest_.find(key);
    if (it == rest_.end() || it->is_null()) bad(memberPath(key), "is required");
    out = readOne(*it, memberPath(key));
    rest_.erase(it);
  }

  json unknown() && { return std::move(rest_); }
  std::string memberPath(const char* key) const { return path_.empty() ? key : path_ + "." + key; }

 private:
  std::string path_;
  json rest_;
};

template <typename T>
auto intReader() {
  return [](const json& v, const std::string& path) { return readInt<T>(v, path); };
}

template <typename T, typename F>
auto arrayReader(F readOne) {
  return [readOne](const json& v, const std::string& path) { return readArray<T>(v, path, readOne); };
}

// ---- struct readers ----

Hook readHook(const json& v, const std::string& path) {
  Hook h;
  ObjectReader r(v, path);
  r.req("path", h.path, readString);
  r.plain("args", h.args, readStrings);
  r.plain("env", h.env, readStrings);
  r.opt("timeout", h.timeout, intReader<int>());
  h.unknown = std::move(r).unknown();
  return h;
}

Hooks readHooks(const json& v, const std::string& path) {
  Hooks h;
  ObjectReader r(v, path);
  auto list = arrayReader<Hook>(readHook);
  r.plain("prestart", h.prestart, list);
  r.plain("createRuntime", h.createRuntime, list);
  r.plain("createContainer", h.createContainer, list);
  r.plain("startContainer", h.startContainer, list);
  r.plain("poststart", h.poststart, list);
  r.plain("poststop", h.poststop, list);
  h.unknown = std::move(r).unknown();
  return h;
}

Root readRoot(const json& v, const std::string& path) {
  Root root;
  ObjectReader r(v, path);
  r.req("path", root.path, readString);
  r.plain("readonly", root.readonly, readBool);
  root.unknown = std::move(r).unknown();
  return root;
}

ConsoleSize readConsoleSize(const json& v, const std::string& path) {
  ConsoleSize c;
  ObjectReader r(v, path);
  r.req("height", c.height, intReader<uint64_t>());
  r.req("width", c.width, intReader<uint64_t>());
  c.unknown = std::move(r).unknown();
  return c;
}

User readUser(const json& v, const std::string& path) {
  User u;
  ObjectReader r(v, path);
  r.req("uid", u.uid, intReader<uint32_t>());
  r.req("gid", u.gid, intReader<uint32_t>());
  r.opt("umask", u.umask, intReader<uint32_t>());
  r.opt("additionalGids", u.additionalGids, arrayReader<uint32_t>(intReader<uint32_t>()));
  r.opt("username", u.username, readString);
  u.unknown = std::move(r).unknown();
  return u;
}

Capabilities readCapabilities(const json& v, const std::string& path) {
  Capabilities c;
  ObjectReader r(v, path);
  r.opt("bounding", c.bounding, readStrings);
  r.opt("effective", c.effective, readStrings);
  r.opt("inheritable", c.inheritable, readStrings);
  r.opt("permitted", c.permitted, readStrings);
  r.opt("ambient", c.ambient, readStrings);
  c.unknown = std::move(r).unknown();
  return c;
}

Rlimit readRlimit(const json& v, const std::string& path) {
  Rlimit l;
  ObjectReader r(v, path);
  r.req("type", l.type, readString);
  r.req("hard", l.hard, intReader<uint64_t>());
  r.req("soft", l.soft, intReader<uint64_t>());
  l.unknown = std::move(r).unknown();
  return l;
}

IoPriority readIoPriority(const json& v, const std::string& path) {
  IoPriority p;
  ObjectReader r(v, path);
  r.req("class", p.ioClass, readString);
  r.opt("priority", p.priority, intReader<int32_t>());
  p.unknown = std::move(r).unknown();
  return p;
}

Scheduler readScheduler(const json& v, const std::string& path) {
  Scheduler s;
  ObjectReader r(v, path);
  r.req("policy", s.policy, readString);
  r.opt("nice", s.nice, intReader<int32_t>());
  r.opt("priority", s.priority, intReader<int32_t>());
  r.opt("flags", s.flags, readStrings);
  r.opt("runtime", s.runtime, intReader<uint64_t>());
  r.opt("deadline", s.deadline, intReader<uint64_t>());
  r.opt("period", s.period, intReader<uint64_t>());
  s.unknown = std::move(r).unknown();
  return s;
}

Process readProcess(const json& v, const std::string& path) {
  Process p;
  ObjectReader r(v, path);
  r.plain("terminal", p.terminal, readBool);
  r.opt("consoleSize", p.consoleSize, readConsoleSize);
  r.req("user", p.user, readUser);
  r.plain("args", p.args, readStrings);
  r.opt("commandLine", p.commandLine, readString);
  r.opt("env", p.env, readStrings);
  r.req("cwd", p.cwd, readString);
  r.opt("capabilities", p.capabilities, readCapabilities);
  r.opt("rlimits", p.rlimits, arrayReader<Rlimit>(readRlimit));
  r.plain("noNewPrivileges", p.noNewPrivileges, readBool);
  r.opt("apparmorProfile", p.apparmorProfile, readString);
  r.opt("oomScoreAdj", p.oomScoreAdj, intReader<int32_t>());
  r.opt("selinuxLabel", p.selinuxLabel, readString);
  r.opt("ioPriority", p.ioPriority, readIoPriority);
  r.opt("scheduler", p.scheduler, readScheduler);
  p.unknown = std::move(r).unknown();
  return p;
}

IdMapping readIdMapping(const json& v, const std::string& path) {
  IdMapping m;
  ObjectReader r(v, path);
  r.req("containerID", m.containerID, intReader<uint32_t>());
  r.req("hostID", m.hostID, intReader<uint32_t>());
  r.req("size", m.size, intReader<uint32_t>());
  m.unknown = std::move(r).unknown();
  return m;
}

Mount readMount(const json& v, const std::string& path) {
  Mount m;
  ObjectReader r(v, path);
  r.req("destination", m.destination, readString);
  r.opt("source", m.source, readString);
  r.opt("type", m.type, readString);
  r.opt("options", m.options, readStrings);
  r.opt("uidMappings", m.uidMappings, arrayReader<IdMapping>(readIdMapping));
  r.opt("gidMappings", m.gidMappings, arrayReader<IdMapping>(readIdMapping));
  m.unknown = std::move(r).unknown();
  return m;
}

Namespace readNamespace(const json& v, const std::string& path) {
  Namespace n;
  ObjectReader r(v, path);
  r.req("type", n.type, readString);
  r.opt("path", n.path, readString);
  n.unknown = std::move(r).unknown();
  return n;
}

Device readDevice(const json& v, const std::string& path) {
  Device d;
  ObjectReader r(v, path);
  r.req("type", d.type, readString);
  r.req("path", d.path, readString);
  r.opt("major", d.major, intReader<int64_t>());
  r.opt("minor", d.minor, intReader<int64_t>());
  r.opt("fileMode", d.fileMode, intReader<uint32_t>());
  r.opt("uid", d.uid, intReader<uint32_t>());
  r.opt("gid", d.gid, intReader<uint32_t>());
  d.unknown = std::move(r).unknown();
  return d;
}

DeviceCgroup readDeviceCgroup(const json& v, const std::string& path) {
  DeviceCgroup d;
  ObjectReader r(v, path);
  r.req("allow", d.allow, readBool);
  r.opt("type", d.type, readString);
  r.opt("major", d.major, intReader<int64_t>());
  r.opt("minor", d.minor, intReader<int64_t>());
  r.opt("access", d.access, readString);
  d.unknown = std::move(r).unknown();
  return d;
}

Memory readMemory(const json& v, const std::string& path) {
  Memory m;
  ObjectReader r(v, path);
  r.opt("limit", m.limit, intReader<int64_t>());
  r.opt("reservation", m.reservation, intReader<int64_t>());
  r.opt("swap", m.swap, intReader<int64_t>());
  r.opt("kernel", m.kernel, intReader<int64_t>());
  r.opt("kernelTCP", m.kernelTCP, intReader<int64_t>());
  r.opt("swappiness", m.swappiness, intReader<uint64_t>());
  r.opt("disableOOMKiller", m.disableOOMKiller, readBool);
  r.opt("useHierarchy", m.useHierarchy, readBool);
  r.opt("checkBeforeUpdate", m.checkBeforeUpdate, readBool);
  m.unknown = std::move(r).unknown();
  return m;
}

Cpu readCpu(const json& v, const std::string& path) {
  Cpu c;
  ObjectReader r(v, path);
  r.opt("shares", c.shares, intReader<uint64_t>());
  r.opt("quota", c.quota, intReader<int64_t>());
  r.opt("burst", c.burst, intReader<uint64_t>());
  r.opt("period", c.period, intReader<uint64_t>());
  r.opt("realtimeRuntime", c.realtimeRuntime, intReader<int64_t>());
  r.opt("realtimePeriod", c.realtimePeriod, intReader<uint64_t>());
  r.opt("cpus", c.cpus, readString);
  r.opt("mems", c.mems, readString);
  r.opt("idle", c.idle, intReader<int64_t>());
  c.unknown = std::move(r).unknown();
  return c;
}

Pids readPids(const json& v, const std::string& path) {
  Pids p;
  ObjectReader r(v, path);
  r.opt("limit", p.limit, intReader<int64_t>());
  p.unknown = std::move(r).unknown();
  return p;
}

WeightDevice readWeightDevice(const json& v, const std::string& path) {
  WeightDevice d;
  ObjectReader r(v, path);
  r.req("major", d.major, intReader<int64_t>());
  r.req("minor", d.minor, intReader<int64_t>());
  r.opt("weight", d.weight, intReader<uint16_t>());
  r.opt("leafWeight", d.leafWeight, intReader<uint16_t>());
  d.unknown = std::move(r).unknown();
  return d;
}

ThrottleDevice readThrottleDevice(const json& v, const std::string& path) {
  ThrottleDevice d;
  ObjectReader r(v, path);
  r.req("major", d.major, intReader<int64_t>());
  r.req("minor", d.minor, intReader<int64_t>());
  r.req("rate", d.rate, intReader<uint64_t>());
  d.unknown = std::move(r).unknown();
  return d;
}

BlockIo readBlockIo(const json& v, const std::string& path) {
  BlockIo b;
  ObjectReader r(v, path);
  auto throttle = arrayReader<ThrottleDevice>(readThrottleDevice);
  r.opt("weight", b.weight, intReader<uint16_t>());
  r.opt("leafWeight", b.leafWeight, intReader<uint16_t>());
  r.opt("weightDevice", b.weightDevice, arrayReader<WeightDevice>(readWeightDevice));
  r.opt("throttleReadBpsDevice", b.throttleReadBpsDevice, throttle);
  r.opt("throttleWriteBpsDevice", b.throttleWriteBpsDevice, throttle);
  r.opt("throttleReadIOPSDevice", b.throttleReadIOPSDevice, throttle);
  r.opt("throttleWriteIOPSDevice", b.throttleWriteIOPSDevice, throttle);
  b.unknown = std::move(r).unknown();
  return b;
}

HugepageLimit readHugepageLimit(const json& v, const std::string& path) {
  HugepageLimit h;
  ObjectReader r(v, path);
  r.req("pageSize", h.pageSize, readString);
  r.req("limit", h.limit, intReader<uint64_t>());
  h.unknown = std::move(r).unknown();
  return h;
}

InterfacePriority readInterfacePriority(const json& v, const std::string& path) {
  InterfacePriority p;
  ObjectReader r(v, path);
  r.req("name", p.name, readString);
  r.req("priority", p.priority, intReader<uint32_t>());
  p.unknown = std::move(r).unknown();
  return p;
}

Network readNetwork(const json& v, const std::string& path) {
  Network n;
  ObjectReader r(v, path);
  r.opt("classID", n.classID, intReader<uint32_t>());
  r.opt("priorities", n.priorities, arrayReader<InterfacePriority>(readInterfacePriority));
  n.unknown = std::move(r).unknown();
  return n;
}

Rdma readRdma(const json& v, const std::string& path) {
  Rdma d;
  ObjectReader r(v, path);
  r.opt("hcaHandles", d.hcaHandles, intReader<uint32_t>());
  r.opt("hcaObjects", d.hcaObjects, intReader<uint32_t>());
  d.unknown = std::move(r).unknown();
  return d;
}

Resources readResources(const json& v, const std::string& path) {
  Resources res;
  ObjectReader r(v, path);
  r.opt("devices", res.devices, arrayReader<DeviceCgroup>(readDeviceCgroup));
  r.opt("memory", res.memory, readMemory);
  r.opt("cpu", res.cpu, readCpu);
  r.opt("pids", res.pids, readPids);
  r.opt("blockIO", res.blockIO, readBlockIo);
  r.opt("hugepageLimits", res.hugepageLimits, arrayReader<HugepageLimit>(readHugepageLimit));
  r.opt("network", res.network, readNetwork);
  r.opt("rdma", res.rdma, [](const json& m, const std::string& p) { return readMap<Rdma>(m, p, readRdma); });
  r.opt("unified", res.unified, readStringMap);
  res.unknown = std::move(r).unknown();
  return res;
}

SeccompArg readSeccompArg(const json& v, const std::string& path) {
  SeccompArg a;
  ObjectReader r(v, path);
  r.req("index", a.index, intReader<uint32_t>());
  r.req("value", a.value, intReader<uint64_t>());
  r.opt("valueTwo", a.valueTwo, intReader<uint64_t>());
  r.req("op", a.op, readString);
  a.unknown = std::move(r).unknown();
  return a;
}

Syscall readSyscall(const json& v, const std::string& path) {
  Syscall s;
  ObjectReader r(v, path);
  r.req("names", s.names, readStrings);
  r.req("action", s.action, readString);
  r.opt("errnoRet", s.errnoRet, intReader<uint32_t>());
  r.opt("args", s.args, arrayReader<SeccompArg>(readSeccompArg));
  s.unknown = std::move(r).unknown();
  return s;
}

Seccomp readSeccomp(const json& v, const std::string& path) {
  Seccomp s;
  ObjectReader r(v, path);
  r.req("defaultAction", s.defaultAction, readString);
  r.opt("defaultErrnoRet", s.defaultErrnoRet, intReader<uint32_t>());
  r.opt("architectures", s.architectures, readStrings);
  r.opt("flags", s.flags, readStrings);
  r.opt("listenerPath", s.listenerPath, readString);
  r.opt("listenerMetadata", s.listenerMetadata, readString);
  r.opt("syscalls", s.syscalls, arrayReader<Syscall>(readSyscall));
  s.unknown = std::move(r).unknown();
  return s;
}

Personality readPersonality(const json& v, const std::string& path) {
  Personality p;
  ObjectReader r(v, path);
  r.req("domain", p.domain, readString);
  r.opt("flags", p.flags, readStrings);
  p.unknown = std::move(r).unknown();
  return p;
}

TimeOffset readTimeOffset(const json& v, const std::string& path) {
  TimeOffset t;
  ObjectReader r(v, path);
  r.plain("secs", t.secs, intReader<int64_t>());
  r.plain("nanosecs", t.nanosecs, intReader<uint32_t>());
  t.unknown = std::move(r).unknown();
  return t;
}

IntelRdt readIntelRdt(const json& v, const std::string& path) {
  IntelRdt i;
  ObjectReader r(v, path);
  r.opt("closID", i.closID, readString);
  r.opt("l3CacheSchema", i.l3CacheSchema, readString);
  r.opt("memBwSchema", i.memBwSchema, readString);
  r.opt("enableCMT", i.enableCMT, readBool);
  r.opt("enableMBM", i.enableMBM, readBool);
  i.unknown = std::move(r).unknown();
  return i;
}

Linux readLinux(const json& v, const std::string& path) {
  Linux l;
  ObjectReader r(v, path);
  auto idmaps = arrayReader<IdMapping>(readIdMapping);
  r.opt("uidMappings", l.uidMappings, idmaps);
  r.opt("gidMappings", l.gidMappings, idmaps);
  r.opt("sysctl", l.sysctl, readStringMap);
  r.opt("resources", l.resources, readResources);
  r.opt("cgroupsPath", l.cgroupsPath, readString);
  r.opt("namespaces", l.namespaces, arrayReader<Namespace>(readNamespace));
  r.opt("devices", l.devices, arrayReader<Device>(readDevice));
  r.opt("seccomp", l.seccomp, readSeccomp);
  r.opt("rootfsPropagation", l.rootfsPropagation, readString);
  r.opt("maskedPaths", l.maskedPaths, readStrings);
  r.opt("readonlyPaths", l.readonlyPaths, readStrings);
  r.opt("mountLabel", l.mountLabel, readString);
  r.opt("intelRdt", l.intelRdt, readIntelRdt);
  r.opt("personality", l.personality, readPersonality);
  r.opt("timeOffsets", l.timeOffsets,
        [](const json& m, const std::string& p) { return readMap<TimeOffset>(m, p, readTimeOffset); });
  l.unknown = std::move(r).unknown();
  return l;
}

Spec readSpec(const json& v) {
  Spec s;
  ObjectReader r(v, "");
  r.req("ociVersion", s.ociVersion, readString);
  r.opt("process", s.process, readProcess);
  r.opt("root", s.root, readRoot);
  r.opt("hostname", s.hostname, readString);
  r.opt("domainname", s.domainname, readString);
  r.opt("mounts", s.mounts, arrayReader<Mount>(readMount));
  r.opt("hooks", s.hooks, readHooks);
  r.plain("annotations", s.annotations, readStringMap);
  r.opt("linux", s.linux, readLinux);
  s.unknown = std::move(r).unknown();
  return s;
}

// ---- writers: start from `unknown`, then set the typed members over it ----

class ObjectWriter {
 public:
  explicit ObjectWriter(const json& unknown) : out_(unknown.is_object() ? unknown : json::object()) {}

  template <typename T, typename F>
  void opt(const char* key, const std::optional<T>& value, F write) {
    if (value) out_[key] = write(*value);
  }
  template <typename T>
  void opt(const char* key, const std::optional<T>& value) {
    if (value) out_[key] = *value;
  }
  template <typename T>
  void set(const char* key, const T& value) {
    out_[key] = value;
  }
  template <typename T, typename F>
  void set(const char* key, const T& value, F write) {
    out_[key] = write(value);
  }
  // Go omitempty for plain members.
  void nonEmpty(const char* key, bool value) {
    if (value) out_[key] = true;
  }
  template <typename C>
  void nonEmpty(const char* key, const C& container) {
    if (!container.empty()) out_[key] = container;
  }
  template <typename C, typename F>
  void nonEmpty(const char* key, const C& container, F write) {
    if (!container.empty()) out_[key] = write(container);
  }

  json done() && { return std::move(out_); }

 private:
  json out_;
};

template <typename F>
auto arrayWriter(F writeOne) {
  return [writeOne](const auto& items) {
    json a = json::array();
    for (const auto& item : items) a.push_back(writeOne(item));
    return a;
  };
}

template <typename F>
auto mapWriter(F writeOne) {
  return [writeOne](const auto& items) {
    json o = json::object();
    for (const auto& [key, item] : items) o[key] = writeOne(item);
    return o;
  };
}

json writeHook(const Hook& h) {
  ObjectWriter w(h.unknown);
  w.set("path", h.path);
  w.nonEmpty("args", h.args);
  w.nonEmpty("env", h.env);
  w.opt("timeout", h.timeout);
  return std::move(w).done();
}

json writeHooks(const Hooks& h) {
  ObjectWriter w(h.unknown);
  auto list = arrayWriter(writeHook);
  w.nonEmpty("prestart", h.prestart, list);
  w.nonEmpty("createRuntime", h.createRuntime, list);
  w.nonEmpty("createContainer", h.createContainer, list);
  w.nonEmpty("startContainer", h.startContainer, list);
  w.nonEmpty("poststart", h.poststart, list);
  w.nonEmpty("poststop", h.poststop, list);
  return std::move(w).done();
}

json writeRoot(const Root& root) {
  ObjectWriter w(root.unknown);
  w.set("path", root.path);
  w.nonEmpty("readonly", root.readonly);
  return std::move(w).done();
}

json writeConsoleSize(const ConsoleSize& c) {
  ObjectWriter w(c.unknown);
  w.set("height", c.height);
  w.set("width", c.width);
  return std::move(w).done();
}

json writeUser(const User& u) {
  ObjectWriter w(u.unknown);
  w.set("uid", u.uid);
  w.set("gid", u.gid);
  w.opt("umask", u.umask);
  w.opt("additionalGids", u.additionalGids);
  w.opt("username", u.username);
  return std::move(w).done();
}

json writeCapabilities(const Capabilities& c) {
  ObjectWriter w(c.unknown);
  w.opt("bounding", c.bounding);
  w.opt("effective", c.effective);
  w.opt("inheritable", c.inheritable);
  w.opt("permitted", c.permitted);
  w.opt("ambient", c.ambient);
  return std::move(w).done();
}

json writeRlimit(const Rlimit& l) {
  ObjectWriter w(l.unknown);
  w.set("type", l.type);
  w.set("hard", l.hard);
  w.set("soft", l.soft);
  return std::move(w).done();
}

json writeIoPriority(const IoPriority& p) {
  ObjectWriter w(p.unknown);
  w.set("class", p.ioClass);
  w.opt("priority", p.priority);
  return std::move(w).done();
}

json writeScheduler(const Scheduler& s) {
  ObjectWriter w(s.unknown);
  w.set("policy", s.policy);
  w.opt("nice", s.nice);
  w.opt("priority", s.priority);
  w.opt("flags", s.flags);
  w.opt("runtime", s.runtime);
  w.opt("deadline", s.deadline);
  w.opt("period", s.period);
  return std::move(w).done();
}

json writeProcess(const Process& p) {
  ObjectWriter w(p.unknown);
  w.nonEmpty("terminal", p.terminal);
  w.opt("consoleSize", p.consoleSize, writeConsoleSize);
  w.set("user", p.user, writeUser);
  w.nonEmpty("args", p.args);
  w.opt("commandLine", p.commandLine);
  w.opt("env", p.env);
  w.set("cwd", p.cwd);
  w.opt("capabilities", p.capabilities, writeCapabilities);
  w.opt("rlimits", p.rlimits, arrayWriter(writeRlimit));
  w.nonEmpty("noNewPrivileges", p.noNewPrivileges);
  w.opt("apparmorProfile", p.apparmorProfile);
  w.opt("oomScoreAdj", p.oomScoreAdj);
  w.opt("selinuxLabel", p.selinuxLabel);
  w.opt("ioPriority", p.ioPriority, writeIoPriority);
  w.opt("scheduler", p.scheduler, writeScheduler);
  return std::move(w).done();
}

json writeIdMapping(const IdMapping& m) {
  ObjectWriter w(m.unknown);
  w.set("containerID", m.containerID);
  w.set("hostID", m.hostID);
  w.set("size", m.size);
  return std::move(w).done();
}

json writeMount(const Mount& m) {
  ObjectWriter w(m.unknown);
  w.set("destination", m.destination);
  w.opt("source", m.source);
  w.opt("type", m.type);
  w.opt("options", m.options);
  w.opt("uidMappings", m.uidMappings, arrayWriter(writeIdMapping));
  w.opt("gidMappings", m.gidMappings, arrayWriter(writeIdMapping));
  return std::move(w).done();
}

json writeNamespace(const Namespace& n) {
  ObjectWriter w(n.unknown);
  w.set("type", n.type);
  w.opt("path", n.path);
  return std::move(w).done();
}

json writeDevice(const Device& d) {
  ObjectWriter w(d.unknown);
  w.set("type", d.type);
  w.set("path", d.path);
  w.opt("major", d.major);
  w.opt("minor", d.minor);
  w.opt("fileMode", d.fileMode);
  w.opt("uid", d.uid);
  w.opt("gid", d.gid);
  return std::move(w).done();
}

json writeDeviceCgroup(const DeviceCgroup& d) {
  ObjectWriter w(d.unknown);
  w.set("allow", d.allow);
  w.opt("type", d.type);
  w.opt("major", d.major);
  w.opt("minor", d.minor);
  w.opt("access", d.access);
  return std::move(w).done();
}

json writeMemory(const Memory& m) {
  ObjectWriter w(m.unknown);
  w.opt("limit", m.limit);
  w.opt("reservation", m.reservation);
  w.opt("swap", m.swap);
  w.opt("kernel", m.kernel);
  w.opt("kernelTCP", m.kernelTCP);
  w.opt("swappiness", m.swappiness);
  w.opt("disableOOMKiller", m.disableOOMKiller);
  w.opt("useHierarchy", m.useHierarchy);
  w.opt("checkBeforeUpdate", m.checkBeforeUpdate);
  return std::move(w).done();
}

json writeCpu(const Cpu& c) {
  ObjectWriter w(c.unknown);
  w.opt("shares", c.shares);
  w.opt("quota", c.quota);
  w.opt("burst", c.burst);
  w.opt("period", c.period);
  w.opt("realtimeRuntime", c.realtimeRuntime);
  w.opt("realtimePeriod", c.realtimePeriod);
  w.opt("cpus", c.cpus);
  w.opt("mems", c.mems);
  w.opt("idle", c.idle);
  return std::move(w).done();
}

json writePids(const Pids& p) {
  ObjectWriter w(p.unknown);
  w.opt("limit", p.limit);
  return std::move(w).done();
}

json writeWeightDevice(const WeightDevice& d) {
  ObjectWriter w(d.unknown);
  w.set("major", d.major);
  w.set("minor", d.minor);
  w.opt("weight", d.weight);
  w.opt("leafWeight", d.leafWeight);
  return std::move(w).done();
}

json writeThrottleDevice(const ThrottleDevice& d) {
  ObjectWriter w(d.unknown);
  w.set("major", d.major);
  w.set("minor", d.minor);
  w.set("rate", d.rate);
  return std::move(w).done();
}

json writeBlockIo(const BlockIo& b) {
  ObjectWriter w(b.unknown);
  auto throttle = arrayWriter(writeThrottleDevice);
  w.opt("weight", b.weight);
  w.opt("leafWeight", b.leafWeight);
  w.opt("weightDevice", b.weightDevice, arrayWriter(writeWeightDevice));
  w.opt("throttleReadBpsDevice", b.throttleReadBpsDevice, throttle);
  w.opt("throttleWriteBpsDevice", b.throttleWriteBpsDevice, throttle);
  w.opt("throttleReadIOPSDevice", b.throttleReadIOPSDevice, throttle);
  w.opt("throttleWriteIOPSDevice", b.throttleWriteIOPSDevice, throttle);
  return std::move(w).done();
}

json writeHugepageLimit(const HugepageLimit& h) {
  ObjectWriter w(h.unknown);
  w.set("pageSize", h.pageSize);
  w.set("limit", h.limit);
  return std::move(w).done();
}

json writeInterfacePriority(const InterfacePriority& p) {
  ObjectWriter w(p.unknown);
  w.set("name", p.name);
  w.set("priority", p.priority);
  return std::move(w).done();
}

json writeNetwork(const Network& n) {
  ObjectWriter w(n.unknown);
  w.opt("classID", n.classID);
  w.opt("priorities", n.priorities, arrayWriter(writeInterfacePriority));
  return std::move(w).done();
}

json writeRdma(const Rdma& d) {
  ObjectWriter w(d.unknown);
  w.opt("hcaHandles", d.hcaHandles);
  w.opt("hcaObjects", d.hcaObjects);
  return std::move(w).done();
}

json writeResources(const Resources& r) {
  ObjectWriter w(r.unknown);
  w.opt("devices", r.devices, arrayWriter(writeDeviceCgroup));
  w.opt("memory", r.memory, writeMemory);
  w.opt("cpu", r.cpu, writeCpu);
  w.opt("pids", r.pids, writePids);
  w.opt("blockIO", r.blockIO, writeBlockIo);
  w.opt("hugepageLimits", r.hugepageLimits, arrayWriter(writeHugepageLimit));
  w.opt("network", r.network, writeNetwork);
  w.opt("rdma", r.rdma, mapWriter(writeRdma));
  w.opt("unified", r.unified);
  return std::move(w).done();
}

json writeSeccompArg(const SeccompArg& a) {
  ObjectWriter w(a.unknown);
  w.set("index", a.index);
  w.set("value", a.value);
  w.opt("valueTwo", a.valueTwo);
  w.set("op", a.op);
  return std::move(w).done();
}

json writeSyscall(const Syscall& s) {
  ObjectWriter w(s.unknown);
  w.set("names", s.names);
  w.set("action", s.action);
  w.opt("errnoRet", s.errnoRet);
  w.opt("args", s.args, arrayWriter(writeSeccompArg));
  return std::move(w).done();
}

json writeSeccomp(const Seccomp& s) {
  ObjectWriter w(s.unknown);
  w.set("defaultAction", s.defaultAction);
  w.opt("defaultErrnoRet", s.defaultErrnoRet);
  w.opt("architectures", s.architectures);
  w.opt("flags", s.flags);
  w.opt("listenerPath", s.listenerPath);
  w.opt("listenerMetadata", s.listenerMetadata);
  w.opt("syscalls", s.syscalls, arrayWriter(writeSyscall));
  return std::move(w).done();
}

json writePersonality(const Personality& p) {
  ObjectWriter w(p.unknown);
  w.set("domain", p.domain);
  w.opt("flags", p.flags);
  return std::move(w).done();
}

json writeTimeOffset(const TimeOffset& t) {
  ObjectWriter w(t.unknown);
  w.set("secs", t.secs);
  w.set("nanosecs", t.nanosecs);
  return std::move(w).done();
}

json writeIntelRdt(const IntelRdt& i) {
  ObjectWriter w(i.unknown);
  w.opt("closID", i.closID);
  w.opt("l3CacheSchema", i.l3CacheSchema);
  w.opt("memBwSchema", i.memBwSchema);
  w.opt("enableCMT", i.enableCMT);
  w.opt("enableMBM", i.enableMBM);
  return std::move(w).done();
}

json writeLinux(const Linux& l) {
  ObjectWriter w(l.unknown);
  auto idmaps = arrayWriter(writeIdMapping);
  w.opt("uidMappings", l.uidMappings, idmaps);
  w.opt("gidMappings", l.gidMappings, idmaps);
  w.opt("sysctl", l.sysctl);
  w.opt("resources", l.resources, writeResources);
  w.opt("cgroupsPath", l.cgroupsPath);
  w.opt("namespaces", l.namespaces, arrayWriter(writeNamespace));
  w.opt("devices", l.devices, arrayWriter(writeDevice));
  w.opt("seccomp", l.seccomp, writeSeccomp);
  w.opt("rootfsPropagation", l.rootfsPropagation);
  w.opt("maskedPaths", l.maskedPaths);
  w.opt("readonlyPaths", l.readonlyPaths);
  w.opt("mountLabel", l.mountLabel);
  w.opt("intelRdt", l.intelRdt, writeIntelRdt);
  w.opt("personality", l.personality, writePersonality);
  w.opt("timeOffsets", l.timeOffsets, mapWriter(writeTimeOffset));
  return std::move(w).done();
}

}  // namespace

const Namespace* Spec::findNamespace(std::string_view type) const {
  if (!linux || !linux->namespaces) return nullptr;
  for (const auto& ns : *linux->namespaces) {
    if (ns.type == type) return &ns;
  }
  return nullptr;
}

Spec specFromJson(const nlohmann::json& doc) {
  checkDepth(doc);
  try {
    return readSpec(doc);
  } catch (const nlohmann::json::exception& e) {
    // The readers check every type before converting, so this is a bug; still never let it escape.
    fail(ErrorKind::kInvalidArgument, std::string("config: malformed document: ") + e.what());
  } catch (const std::bad_alloc&) {
    fail(ErrorKind::kInvalidArgument, "config: document too large to load");
  }
}

Spec parseSpec(std::string_view text) {
  if (text.size() > kMaxConfigBytes) {
    fail(ErrorKind::kInvalidArgument, "config: " + std::to_string(text.size()) +
                                          " bytes is larger than the " + std::to_string(kMaxConfigBytes) +
                                          " bytes allowed");
  }
  checkDepth(text);
  json doc;
  try {
    doc = json::parse(text.begin(), text.end());
  } catch (const json::parse_error& e) {
    // e.what() is "[json.exception.parse_error.101] parse error at line 1, column 2: ..."; keep the
    // part after the id.
    std::string what = e.what();
    auto pos = what.find("] ");
    fail(ErrorKind::kInvalidArgument,
         "config: invalid JSON: " + (pos == std::string::npos ? what : what.substr(pos + 2)));
  } catch (const json::exception& e) {
    fail(ErrorKind::kInvalidArgument, std::string("config: invalid JSON: ") + e.what());
  }
  return specFromJson(doc);
}

nlohmann::json toJson(const Spec& s) {
  ObjectWriter w(s.unknown);
  w.set("ociVersion", s.ociVersion);
  w.opt("process", s.process, writeProcess);
  w.opt("root", s.root, writeRoot);
  w.opt("hostname", s.hostname);
  w.opt("domainname", s.domainname);
  w.opt("mounts", s.mounts, arrayWriter(writeMount));
  w.opt("hooks", s.hooks, writeHooks);
  w.nonEmpty("annotations", s.annotations);
  w.opt("linux", s.linux, writeLinux);
  return std::move(w).done();
}

Spec loadBundleSpec(const std::string& bundleDir) {
  try {
    UniqueFd dir = openDir(bundleDir);
    // Only a regular file: a FIFO or device named config.json would block or never end.
    struct stat st {};
    if (::fstatat(dir.get(), "config.json", &st, 0) != 0) {
      if (errno == ENOENT) {
        fail(ErrorKind::kNotFound, "JSON specification file not found in bundle " + bundleDir);
      }
      throwSysError(errno, "stat " + bundleDir + "/config.json");
    }
    if (!S_ISREG(st.st_mode)) fail(ErrorKind::kInvalidArgument, "not a regular file in bundle " + bundleDir);
    std::string text = readFile(dir.get(), "config.json", kMaxConfigBytes);
    Spec spec = parseSpec(text);
    validateSpec(spec);
    return spec;
  } catch (const Error& e) {
    std::string msg = e.what();
    // "config: ..." from the parser becomes "config.json: ..."; a member path gets the file prefix.
    if (msg.rfind("config: ", 0) == 0) msg = msg.substr(8);
    throw Error(e.kind(), "config.json: " + msg, e.sysErrno());
  }
}

}  // namespace kata::oci
