// cgroup v2 for one container in the guest, after runc's libcontainer/cgroups/fs2: the same file
// names, the same conversions from the v1-shaped OCI values, the same "0 means leave alone".
#include "agent/container/cgroup.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <set>
#include <sstream>
#include <thread>

#include "common/error.h"
#include "common/fs.h"

namespace kata::agent {
namespace {

constexpr size_t kMaxCgroupFile = 1 << 20;
// The controllers a container's limits use, enabled on the way down when the kernel offers them.
const char* const kWantedControllers[] = {"cpu", "cpuset", "io", "memory", "pids", "hugetlb", "rdma"};

std::vector<std::string> splitPath(const std::string& relativePath) {
  std::vector<std::string> parts;
  std::string part;
  std::istringstream in(relativePath);
  while (std::getline(in, part, '/')) {
    if (part.empty()) continue;
    if (part == "." || part == ".." || part.find('\0') != std::string::npos)
      fail(ErrorKind::kInvalidArgument, "cgroup path \"" + relativePath + "\": \".\" and \"..\" are not allowed");
    parts.push_back(part);
  }
  if (parts.empty()) fail(ErrorKind::kInvalidArgument, "cgroup path \"" + relativePath + "\" names no cgroup");
  return parts;
}

std::set<std::string> words(const std::string& text) {
  std::set<std::string> out;
  std::istringstream in(text);
  std::string w;
  while (in >> w) out.insert(w);
  return out;
}

// "0" means "leave alone" for most OCI numbers (runc's numToStr); -1 (and any negative) means "max".
std::optional<std::string> numToStr(int64_t value) {
  if (value == 0) return std::nullopt;
  if (value < 0) return std::string("max");
  return std::to_string(value);
}

uint64_t parseU64(const std::string& text) {
  std::string t = text;
  while (!t.empty() && (t.back() == '\n' || t.back() == ' ')) t.pop_back();
  if (t == "max") return kCgroupUnlimited;
  uint64_t v = 0;
  auto [p, ec] = std::from_chars(t.data(), t.data() + t.size(), v);
  if (ec != std::errc() || p != t.data() + t.size()) return 0;
  return v;
}

// Value of `key` in a flat-keyed file ("key value" lines: cpu.stat, memory.events, cgroup.events).
std::optional<uint64_t> keyedValue(const std::string& text, const std::string& key) {
  std::istringstream in(text);
  std::string k, v;
  while (in >> k >> v) {
    if (k == key) return parseU64(v);
  }
  return std::nullopt;
}

bool validUnifiedKey(const std::string& key) {
  if (key.empty() || key.size() > 255 || key[0] == '.' || key.find('.') == std::string::npos) return false;
  if (key.find("..") != std::string::npos) return false;
  for (char c : key) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-')) return false;
  }
  // Moving processes or changing the tree is the agent's job, not a resource setting.
  static const std::set<std::string> kRefused = {"cgroup.procs", "cgroup.threads", "cgroup.kill",
                                                 "cgroup.subtree_control", "cgroup.type", "cgroup.freeze"};
  return kRefused.count(key) == 0;
}

bool validPageSize(const std::string& size) {
  if (size.size() < 3 || size.size() > 16) return false;
  size_t i = 0;
  while (i < size.size() && std::isdigit(static_cast<unsigned char>(size[i]))) ++i;
  if (i == 0) return false;
  std::string unit = size.substr(i);
  return unit == "KB" || unit == "MB" || unit == "GB";
}

}  // namespace

uint64_t cpuSharesToWeight(uint64_t shares) {
  if (shares == 0) return 0;
  if (shares < 2) shares = 2;
  if (shares > 262144) shares = 262144;
  return 1 + ((shares - 2) * 9999) / 262142;
}

uint64_t blkioWeightToIoWeight(uint64_t weight) {
  if (weight == 0) return 0;
  if (weight < 10) weight = 10;
  if (weight > 1000) weight = 1000;
  return 1 + ((weight - 10) * 9999) / 990;
}

int64_t memorySwapToSwapMax(int64_t swap, int64_t limit) {
  // Memory unlimited and swap unset: "set both to unlimited", as cgroup v1 behaved.
  if (limit == -1 && swap == 0) return -1;
  if (swap == -1 || swap == 0) return swap;
  if (limit == 0 || limit == -1)
    fail(ErrorKind::kInvalidArgument, "linux.resources.memory.swap: unable to set swap limit without memory limit");
  if (limit < 0) fail(ErrorKind::kInvalidArgument, "linux.resources.memory.limit: invalid memory value " + std::to_string(limit));
  if (swap < limit)
    fail(ErrorKind::kInvalidArgument, "linux.resources.memory.swap: memory+swap limit should be >= memory limit");
  return swap - limit;
}

ContainerCgroup ContainerCgroup::create(const std::string& root, const std::string& relativePath,
                                        const std::optional<oci::Resources>& resources) {
  std::vector<std::string> parts = splitPath(relativePath);
  UniqueFd dir(KATA_SYSCALL(::open(root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC), "cgroup root " + root));
  std::string path = root;
  for (const std::string& part : parts) {
    // Enable what the child needs in this level's subtree_control (what the kernel offers here).
    std::optional<std::string> offered = readFileIfExists(dir.get(), "cgroup.controllers", kMaxCgroupFile);
    if (offered) {
      std::set<std::string> have = words(*offered);
      std::optional<std::string> enabledText = readFileIfExists(dir.get(), "cgroup.subtree_control", kMaxCgroupFile);
      std::set<std::string> enabled = enabledText ? words(*enabledText) : std::set<std::string>{};
      for (const char* c : kWantedControllers) {
        if (!have.count(c) || enabled.count(c)) continue;
        UniqueFd f(KATA_SYSCALL(::openat(dir.get(), "cgroup.subtree_control", O_WRONLY | O_CLOEXEC | O_TRUNC),
                                path + "/cgroup.subtree_control"));
        std::string value = std::string("+") + c;
        KATA_SYSCALL(::write(f.get(), value.data(), value.size()),
                     "enable controller " + std::string(c) + " in " + path + "/cgroup.subtree_control");
      }
    }
    if (::mkdirat(dir.get(), part.c_str(), 0755) != 0 && errno != EEXIST)
      throwSysError(errno, "mkdir cgroup " + path + "/" + part);
    // O_NOFOLLOW: a symlink planted in a fake or hostile tree must not redirect us.
    dir = UniqueFd(KATA_SYSCALL(::openat(dir.get(), part.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC),
                                "open cgroup " + path + "/" + part));
    path += "/" + part;
  }
  ContainerCgroup cg(path, std::move(dir));
  if (resources) cg.update(*resources);
  return cg;
}

void ContainerCgroup::write(const std::string& file, const std::string& value, const char* setting) {
  int fd = ::openat(dir_.get(), file.c_str(), O_WRONLY | O_CLOEXEC | O_TRUNC | O_NOFOLLOW);
  if (fd < 0) {
    int err = errno;
    std::string what = std::string(setting) + ": cgroup " + path_ + ": open " + file;
    if (err == ENOENT) {
      std::string controller = file.substr(0, file.find('.'));
      throw Error(ErrorKind::kNotSupported,
                  what + ": no such file (is the " + controller + " controller available in the guest kernel?)", err);
    }
    throwSysError(err, what);
  }
  UniqueFd f(fd);
  if (::write(f.get(), value.data(), value.size()) != static_cast<ssize_t>(value.size()))
    throwSysError(errno, std::string(setting) + ": cgroup " + path_ + ": write \"" + value + "\" to " + file);
}

std::optional<std::string> ContainerCgroup::read(const std::string& file) const {
  return readFileIfExists(dir_.get(), file, kMaxCgroupFile);
}

void ContainerCgroup::update(const oci::Resources& r) {
  if (r.memory) {
    const oci::Memory& m = *r.memory;
    int64_t limit = m.limit.value_or(0);
    int64_t swap = memorySwapToSwapMax(m.swap.value_or(0), limit);
    std::optional<std::string> swapStr = numToStr(swap);
    // memory and memory+swap set to the same value: no swap at all.
    if (!swapStr && swap == 0 && m.swap.value_or(0) > 0) swapStr = "0";
    if (swapStr) {
      try {
        write("memory.swap.max", *swapStr, "linux.resources.memory.swap");
      } catch (const Error& e) {
        // Without swap accounting there is nothing to disable or leave unlimited (runc does the same).
        if (!(e.sysErrno() == ENOENT && (*swapStr == "max" || *swapStr == "0"))) throw;
      }
    }
    if (auto v = numToStr(limit)) write("memory.max", *v, "linux.resources.memory.limit");
    if (auto v = numToStr(m.reservation.value_or(0))) write("memory.low", *v, "linux.resources.memory.reservation");
  }
  if (r.cpu) {
    const oci::Cpu& c = *r.cpu;
    if (c.realtimeRuntime.value_or(0) != 0 || c.realtimePeriod.value_or(0) != 0)
      fail(ErrorKind::kNotSupported, "linux.resources.cpu.realtimeRuntime/realtimePeriod: not supported by cgroup v2");
    if (uint64_t w = cpuSharesToWeight(c.shares.value_or(0)); w != 0)
      write("cpu.weight", std::to_string(w), "linux.resources.cpu.shares");
    if (c.idle) write("cpu.idle", std::to_string(*c.idle), "linux.resources.cpu.idle");
    int64_t quota = c.quota.value_or(0);
    uint64_t period = c.period.value_or(0);
    if (quota != 0 || period != 0) {
      std::string value = quota > 0 ? std::to_string(quota) : "max";
      if (period != 0) value += " " + std::to_string(period);
      write("cpu.max", value, "linux.resources.cpu.quota/period");
    }
    if (c.burst) write("cpu.max.burst", std::to_string(*c.burst), "linux.resources.cpu.burst");
    if (c.cpus && !c.cpus->empty()) write("cpuset.cpus", *c.cpus, "linux.resources.cpu.cpus");
    if (c.mems && !c.mems->empty()) write("cpuset.mems", *c.mems, "linux.resources.cpu.mems");
  }
  if (r.pids) {
    if (auto v = numToStr(r.pids->limit.value_or(0))) write("pids.max", *v, "linux.resources.pids.limit");
  }
  if (r.blockIO) {
    const oci::BlockIo& b = *r.blockIO;
    // BFQ takes the v1 weight as is; the generic io.weight needs runc's conversion.
    bool bfq = read("io.bfq.weight").has_value();
    if (b.weight && *b.weight != 0) {
      if (bfq) write("io.bfq.weight", std::to_string(*b.weight), "linux.resources.blockIO.weight");
      else write("io.weight", std::to_string(blkioWeightToIoWeight(*b.weight)), "linux.resources.blockIO.weight");
    }
    if (b.weightDevice) {
      for (const oci::WeightDevice& d : *b.weightDevice) {
        if (!d.weight) continue;
        std::string dev = std::to_string(d.major) + ":" + std::to_string(d.minor) + " ";
        if (bfq) write("io.bfq.weight", dev + std::to_string(*d.weight), "linux.resources.blockIO.weightDevice");
        else write("io.weight", dev + std::to_string(blkioWeightToIoWeight(*d.weight)), "linux.resources.blockIO.weightDevice");
      }
    }
    auto throttle = [&](const std::optional<std::vector<oci::ThrottleDevice>>& list, const char* key, const char* setting) {
      if (!list) return;
      for (const oci::ThrottleDevice& d : *list) {
        write("io.max", std::to_string(d.major) + ":" + std::to_string(d.minor) + " " + key + "=" +
                            (d.rate == 0 ? std::string("max") : std::to_string(d.rate)), setting);
      }
    };
    throttle(b.throttleReadBpsDevice, "rbps", "linux.resources.blockIO.throttleReadBpsDevice");
    throttle(b.throttleWriteBpsDevice, "wbps", "linux.resources.blockIO.throttleWriteBpsDevice");
    throttle(b.throttleReadIOPSDevice, "riops", "linux.resources.blockIO.throttleReadIOPSDevice");
    throttle(b.throttleWriteIOPSDevice, "wiops", "linux.resources.blockIO.throttleWriteIOPSDevice");
  }
  if (r.hugepageLimits) {
    for (const oci::HugepageLimit& h : *r.hugepageLimits) {
      if (!validPageSize(h.pageSize))
        fail(ErrorKind::kInvalidArgument, "linux.resources.hugepageLimits: invalid page size \"" + h.pageSize + "\"");
      write("hugetlb." + h.pageSize + ".max", std::to_string(h.limit), "linux.resources.hugepageLimits");
    }
  }
  if (r.rdma) {
    for (const auto& [device, limits] : *r.rdma) {
      if (device.empty() || device.find_first_of(" \n/") != std::string::npos)
        fail(ErrorKind::kInvalidArgument, "linux.resources.rdma: invalid device name \"" + device + "\"");
      std::string value = device;
      if (limits.hcaHandles) value += " hca_handle=" + std::to_string(*limits.hcaHandles);
      if (limits.hcaObjects) value += " hca_object=" + std::to_string(*limits.hcaObjects);
      write("rdma.max", value, "linux.resources.rdma");
    }
  }
  if (r.unified) {
    // Validate all first so a bad key changes nothing.
    for (const auto& [key, value] : *r.unified) {
      if (!validUnifiedKey(key))
        fail(ErrorKind::kInvalidArgument, "linux.resources.unified: invalid cgroup file name \"" + key + "\"");
    }
    for (const auto& [key, value] : *r.unified) write(key, value, ("linux.resources.unified[" + key + "]").c_str());
  }
}

void ContainerCgroup::addProcess(pid_t pid) { write("cgroup.procs", std::to_string(pid), "cgroup.procs"); }

void ContainerCgroup::setFrozen(bool frozen, std::chrono::milliseconds timeout) {
  write("cgroup.freeze", frozen ? "1" : "0", frozen ? "pause" : "resume");
  auto deadline = std::chrono::steady_clock::now() + timeout;
  auto delay = std::chrono::milliseconds(1);
  for (;;) {
    std::optional<std::string> events = read("cgroup.events");
    if (!events) fail(ErrorKind::kNotSupported, "cgroup " + path_ + ": no cgroup.events (kernel without cgroup freezer?)");
    if (keyedValue(*events, "frozen").value_or(frozen ? 0 : 1) == (frozen ? 1u : 0u)) return;
    if (std::chrono::steady_clock::now() >= deadline) {
      fail(ErrorKind::kTimeout, "cgroup " + path_ + ": not " + (frozen ? "frozen" : "thawed") + " after " +
                                    std::to_string(timeout.count()) + " ms (cgroup.events: " + *events + ")");
    }
    std::this_thread::sleep_for(delay);
    delay = std::min(delay * 2, std::chrono::milliseconds(50));
  }
}

void ContainerCgroup::freeze(std::chrono::milliseconds timeout) { setFrozen(true, timeout); }
void ContainerCgroup::thaw(std::chrono::milliseconds timeout) { setFrozen(false, timeout); }

CgroupStats ContainerCgroup::stats() const {
  CgroupStats s;
  if (auto cpu = read("cpu.stat")) {
    s.cpuUsageUsec = keyedValue(*cpu, "usage_usec").value_or(0);
    s.cpuUserUsec = keyedValue(*cpu, "user_usec").value_or(0);
    s.cpuSystemUsec = keyedValue(*cpu, "system_usec").value_or(0);
  }
  if (auto v = read("memory.current")) s.memoryUsageBytes = parseU64(*v);
  if (auto v = read("memory.max")) s.memoryLimitBytes = parseU64(*v);
  if (auto v = read("memory.peak")) s.memoryMaxUsageBytes = parseU64(*v);
  if (auto v = read("pids.current")) s.pidsCurrent = parseU64(*v);
  if (auto v = read("pids.max")) s.pidsLimit = parseU64(*v);
  if (auto io = read("io.stat")) {
    // "8:0 rbytes=1 wbytes=2 rios=3 ..." per device; summed.
    std::istringstream in(*io);
    std::string word;
    while (in >> word) {
      size_t eq = word.find('=');
      if (eq == std::string::npos) continue;
      std::string key = word.substr(0, eq);
      if (key == "rbytes") s.ioReadBytes += parseU64(word.substr(eq + 1));
      if (key == "wbytes") s.ioWriteBytes += parseU64(word.substr(eq + 1));
    }
  }
  s.oomKills = oomKillCount();
  return s;
}

std::vector<pid_t> ContainerCgroup::processes() const {
  std::vector<pid_t> pids;
  std::istringstream in(read("cgroup.procs").value_or(""));
  long pid = 0;
  while (in >> pid) pids.push_back(static_cast<pid_t>(pid));
  return pids;
}

uint64_t ContainerCgroup::oomKillCount() const {
  std::optional<std::string> events = read("memory.events");
  return events ? keyedValue(*events, "oom_kill").value_or(0) : 0;
}

int ContainerCgroup::eventsFd() const {
  if (!events_) {
    events_ = UniqueFd(KATA_SYSCALL(::openat(dir_.get(), "memory.events", O_RDONLY | O_CLOEXEC | O_NOFOLLOW),
                                    "cgroup " + path_ + ": open memory.events"));
  }
  return events_.get();
}

void ContainerCgroup::remove() {
  std::vector<pid_t> left = processes();
  if (!left.empty())
    fail(ErrorKind::kFailedPrecondition, "cgroup " + path_ + ": " + std::to_string(left.size()) +
                                             " processes remain (first: " + std::to_string(left[0]) + "); kill them first");
  events_.reset();
  if (::rmdir(path_.c_str()) != 0 && errno != ENOENT) throwSysError(errno, "rmdir cgroup " + path_);
}

const std::string& ContainerCgroup::path() const { return path_; }

}  // namespace kata::agent
