// The daemon's on-disk registry of sandboxes: one JSON record per sandbox in <state>/sandboxes/<id>.json,
// written atomically on every change. It is what lets a restarted kata-vmmd (after a crash or kill -9)
// find its VMs again: a record names the hypervisor's pid together with the process's start time, so
// a pid the kernel has since given to another process is never mistaken for the VM (the check is
// LaunchedProcess::adopt, launcher.h; QemuHypervisor::adopt re-attaches the VM).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/fd.h"
#include "common/log.h"

namespace kata::vmmd {

// The pod network of a sandbox (docs/networking.md): where its namespace is pinned, and what was
// created in it for each NIC, so that teardown (also by a restarted daemon) removes exactly that.
struct NicRecord {
  std::string deviceId;    // the VM's NIC ("nic<podIndex>")
  std::string model;       // "tcfilter" | "macvtap"
  std::string podName;     // the pod's interface
  int podIndex = 0;
  std::string device;      // the tap or macvtap
  int deviceIndex = 0;
  std::string mac;
  uint32_t queues = 1;
  bool hotplugged = false;  // false: cold-plugged at creation
};

struct NetworkRecord {
  std::string netnsPin;  // <state>/netns/<id>: a bind mount of the namespace (pinNetns)
  uint64_t nsDev = 0;    // its identity when pinned (NsId)
  uint64_t nsIno = 0;
  // Root ports added at creation for the cold-plugged NICs, after the hotplugSlots asked for (the
  // VM has hotplugSlots + coldPlugSlots in all).
  uint32_t coldPlugSlots = 0;
  std::vector<NicRecord> nics;
};

struct SandboxRecord {
  std::string id;
  uid_t ownerUid = 0;
  gid_t ownerGid = 0;
  pid_t pid = -1;             // hypervisor process; -1 once stopped
  uint64_t startTime = 0;     // /proc/<pid>/stat field 22 (clock ticks since boot)
  std::string qmpSocket;
  std::string agentSocket;
  std::string consoleLog;
  std::string runDir;
  std::string shareDir;
  std::vector<std::string> shares;  // names bind-mounted below shareDir
  std::vector<std::string> hotplugged;  // "<device id>@<hot-plug slot>" of devices added after boot
  uint32_t vcpus = 0;
  uint64_t memoryMiB = 0;
  uint32_t hotplugSlots = 0;  // free PCIe root ports the VM was created with
  std::string sharedFs = "virtio-9p";  // how the share root reaches the guest: "virtio-9p" | "virtio-fs"
  pid_t virtiofsdPid = -1;             // virtio-fs: its virtiofsd (-1: none, or stopped)
  uint64_t virtiofsdStartTime = 0;
  bool stopped = false;
  std::string stopReason;
  std::string createdAt;       // RFC 3339
  std::optional<NetworkRecord> network;  // absent in records of sandboxes without one (and older ones)
};

std::string recordToJson(const SandboxRecord& record);
// Strict: kInvalidArgument for a malformed record (wrong types, bad id, relative paths).
SandboxRecord recordFromJson(const std::string& text);

class Registry {
 public:
  // Opens (creating 0700 if needed) the registry directory.
  explicit Registry(const std::string& dir);
  void save(const SandboxRecord& record);
  void remove(const std::string& id);
  // Every valid record; a corrupt one is logged and skipped (renamed to <id>.json.corrupt so it is
  // kept for a person to look at, and does not block the id forever).
  std::vector<SandboxRecord> loadAll(const Logger& log);
  const std::string& dir() const { return dir_; }

 private:
  std::string dir_;
  UniqueFd dirFd_;
};

}  // namespace kata::vmmd
