#include "kata-vmmd/registry.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "common/error.h"
#include "common/fs.h"
#include "kata-vmmd/validation.h"
#include "netdev/carrier.h"
#include "netdev/model.h"
#include "netdev/tap.h"

namespace kata::vmmd {
namespace {

constexpr size_t kMaxRecordBytes = 256 * 1024;
constexpr size_t kMaxRecords = 65536;

template <typename T>
T field(const nlohmann::json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end()) fail(ErrorKind::kInvalidArgument, std::string("sandbox record lacks \"") + key + "\"");
  try {
    return it->get<T>();
  } catch (const nlohmann::json::exception&) {
    fail(ErrorKind::kInvalidArgument, std::string("sandbox record field \"") + key + "\" has the wrong type");
  }
}

void validateNicRecord(const NicRecord& c, const std::string& id) {
  std::string where = "NIC of sandbox record " + id;
  netdev::validateIfName(c.podName, where);
  netdev::validateIfName(c.device, where);
  (void)netdev::normalizeMac(c.mac, where);
  (void)netdev::parseModel(c.model);
  if (c.podIndex <= 0 || c.deviceIndex <= 0 || c.queues == 0 || c.queues > netdev::kMaxQueues || c.deviceId.empty() ||
      c.deviceId.size() > 32 || c.deviceId.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-") != std::string::npos)
    fail(ErrorKind::kInvalidArgument, where + " is malformed");
}

}  // namespace

std::string recordToJson(const SandboxRecord& r) {
  nlohmann::json j = {
      {"id", r.id},
      {"ownerUid", r.ownerUid},
      {"ownerGid", r.ownerGid},
      {"pid", r.pid},
      {"startTime", r.startTime},
      {"qmpSocket", r.qmpSocket},
      {"agentSocket", r.agentSocket},
      {"consoleLog", r.consoleLog},
      {"runDir", r.runDir},
      {"shareDir", r.shareDir},
      {"shares", r.shares},
      {"hotplugged", r.hotplugged},
      {"vcpus", r.vcpus},
      {"memoryMiB", r.memoryMiB},
      {"hotplugSlots", r.hotplugSlots},
      {"sharedFs", r.sharedFs},
      {"virtiofsdPid", r.virtiofsdPid},
      {"virtiofsdStartTime", r.virtiofsdStartTime},
      {"stopped", r.stopped},
      {"stopReason", r.stopReason},
      {"createdAt", r.createdAt},
  };
  if (r.network) {
    nlohmann::json nics = nlohmann::json::array();
    for (const auto& n : r.network->nics)
      nics.push_back({{"deviceId", n.deviceId}, {"model", n.model}, {"podName", n.podName}, {"podIndex", n.podIndex},
                      {"device", n.device}, {"deviceIndex", n.deviceIndex}, {"mac", n.mac}, {"queues", n.queues},
                      {"hotplugged", n.hotplugged}});
    j["network"] = {{"netnsPin", r.network->netnsPin}, {"nsDev", r.network->nsDev}, {"nsIno", r.network->nsIno},
                    {"coldPlugSlots", r.network->coldPlugSlots},
                    {"nics", nics}};
  }
  return j.dump(2) + "\n";
}

SandboxRecord recordFromJson(const std::string& text) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    fail(ErrorKind::kInvalidArgument, std::string("sandbox record is not valid JSON: ") + e.what());
  }
  if (!j.is_object()) fail(ErrorKind::kInvalidArgument, "sandbox record is not a JSON object");
  SandboxRecord r;
  r.id = field<std::string>(j, "id");
  security::validateSandboxId(r.id);
  r.ownerUid = field<uid_t>(j, "ownerUid");
  r.ownerGid = field<gid_t>(j, "ownerGid");
  r.pid = field<pid_t>(j, "pid");
  r.startTime = field<uint64_t>(j, "startTime");
  r.qmpSocket = field<std::string>(j, "qmpSocket");
  r.agentSocket = field<std::string>(j, "agentSocket");
  r.consoleLog = field<std::string>(j, "consoleLog");
  r.runDir = field<std::string>(j, "runDir");
  r.shareDir = field<std::string>(j, "shareDir");
  r.shares = field<std::vector<std::string>>(j, "shares");
  r.hotplugged = field<std::vector<std::string>>(j, "hotplugged");
  r.vcpus = field<uint32_t>(j, "vcpus");
  r.memoryMiB = field<uint64_t>(j, "memoryMiB");
  r.hotplugSlots = field<uint32_t>(j, "hotplugSlots");
  if (r.hotplugSlots > kMaxHotplugSlots)
    fail(ErrorKind::kInvalidArgument, "sandbox record " + r.id + " has more than " + std::to_string(kMaxHotplugSlots) + " hot-plug slots");
  // Records written before virtio-fs existed have none of these: a 9p share, no virtiofsd.
  if (j.contains("sharedFs")) r.sharedFs = field<std::string>(j, "sharedFs");
  if (r.sharedFs != "virtio-9p" && r.sharedFs != "virtio-fs")
    fail(ErrorKind::kInvalidArgument, "sandbox record " + r.id + " has an unknown sharedFs \"" + r.sharedFs.substr(0, 32) + "\"");
  if (j.contains("virtiofsdPid")) r.virtiofsdPid = field<pid_t>(j, "virtiofsdPid");
  if (j.contains("virtiofsdStartTime")) r.virtiofsdStartTime = field<uint64_t>(j, "virtiofsdStartTime");
  r.stopped = field<bool>(j, "stopped");
  r.stopReason = field<std::string>(j, "stopReason");
  r.createdAt = field<std::string>(j, "createdAt");
  for (const auto* p : {&r.qmpSocket, &r.agentSocket, &r.consoleLog, &r.runDir, &r.shareDir})
    security::validateAbsolutePath(*p, "path in sandbox record " + r.id);
  for (const auto& s : r.shares) validateShareName(s);
  if (!r.stopped && r.pid <= 0) fail(ErrorKind::kInvalidArgument, "sandbox record " + r.id + " is running without a pid");
  if (auto n = j.find("network"); n != j.end()) {
    if (!n->is_object()) fail(ErrorKind::kInvalidArgument, "sandbox record " + r.id + ": network is not an object");
    NetworkRecord net;
    net.netnsPin = field<std::string>(*n, "netnsPin");
    security::validateAbsolutePath(net.netnsPin, "netns pin in sandbox record " + r.id);
    net.nsDev = field<uint64_t>(*n, "nsDev");
    net.nsIno = field<uint64_t>(*n, "nsIno");
    net.coldPlugSlots = field<uint32_t>(*n, "coldPlugSlots");
    if (net.coldPlugSlots > kMaxNics)
      fail(ErrorKind::kInvalidArgument, "sandbox record " + r.id + " has more than " + std::to_string(kMaxNics) + " NIC slots");
    auto nics = field<std::vector<nlohmann::json>>(*n, "nics");
    if (nics.size() > kMaxNics) fail(ErrorKind::kInvalidArgument, "sandbox record " + r.id + " has too many NICs");
    for (const auto& x : nics) {
      if (!x.is_object()) fail(ErrorKind::kInvalidArgument, "sandbox record " + r.id + ": a NIC is not an object");
      NicRecord c;
      c.deviceId = field<std::string>(x, "deviceId");
      c.model = field<std::string>(x, "model");
      c.podName = field<std::string>(x, "podName");
      c.podIndex = field<int>(x, "podIndex");
      c.device = field<std::string>(x, "device");
      c.deviceIndex = field<int>(x, "deviceIndex");
      c.mac = field<std::string>(x, "mac");
      c.queues = field<uint32_t>(x, "queues");
      c.hotplugged = field<bool>(x, "hotplugged");
      validateNicRecord(c, r.id);
      net.nics.push_back(std::move(c));
    }
    r.network = std::move(net);
  }
  return r;
}

Registry::Registry(const std::string& dir) : dir_(dir) {
  makeDirs(dir, 0700);
  dirFd_ = openDir(dir);
}

void Registry::save(const SandboxRecord& record) {
  security::validateSandboxId(record.id);
  writeFileAtomic(dirFd_.get(), record.id + ".json", recordToJson(record), 0600);
}

void Registry::remove(const std::string& id) {
  security::validateSandboxId(id);
  if (::unlinkat(dirFd_.get(), (id + ".json").c_str(), 0) != 0 && errno != ENOENT)
    throwSysError(errno, "remove sandbox record " + dir_ + "/" + id + ".json");
}

std::vector<SandboxRecord> Registry::loadAll(const Logger& log) {
  std::vector<SandboxRecord> out;
  UniqueFd fd(KATA_SYSCALL(::openat(dirFd_.get(), ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC), dir_));
  DIR* d = ::fdopendir(fd.get());
  if (!d) throwSysError(errno, "fdopendir " + dir_);
  fd.release();
  std::vector<std::string> names;
  while (dirent* e = ::readdir(d)) {
    std::string name = e->d_name;
    if (name.size() > 5 && name.compare(name.size() - 5, 5, ".json") == 0 && name[0] != '.') names.push_back(name);
    if (names.size() > kMaxRecords) break;
  }
  ::closedir(d);
  for (const auto& name : names) {
    try {
      SandboxRecord r = recordFromJson(readFile(dirFd_.get(), name, kMaxRecordBytes));
      if (r.id + ".json" != name) fail(ErrorKind::kInvalidArgument, "record id " + r.id + " does not match its file name");
      out.push_back(std::move(r));
    } catch (const Error& e) {
      log.error("skipping corrupt sandbox record " + dir_ + "/" + name + ": " + e.what() +
                " (kept as " + name + ".corrupt)");
      (void)::renameat(dirFd_.get(), name.c_str(), dirFd_.get(), (name + ".corrupt").c_str());
    }
  }
  return out;
}

}  // namespace kata::vmmd
