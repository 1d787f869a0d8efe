#include "security/userns.h"

#include <fcntl.h>
#include <linux/capability.h>
#include <poll.h>
#include <sched.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>

#include "common/error.h"

namespace kata::security {
namespace {

constexpr uint64_t kIdSpace = 1ull << 32;  // ids are 32 bits; 4294967295 is (uid_t)-1, "no id"
constexpr size_t kMaxRanges = 5;           // what an unprivileged-looking map needs; the kernel takes 340
constexpr int kMapWaitMs = 10000;          // the child unshares within microseconds of its clone

void writeMap(pid_t pid, const char* file, const std::string& text) {
  std::string path = "/proc/" + std::to_string(pid) + "/" + file;
  UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CLOEXEC));
  if (!fd) throwSysError(errno, "open " + path);
  // The kernel takes a map in a single write, or not at all.
  ssize_t n = ::write(fd.get(), text.data(), text.size());
  if (n < 0) throwSysError(errno, "write " + path + " (\"" + text.substr(0, text.size() - 1) + "\")");
  if (static_cast<size_t>(n) != text.size()) fail(ErrorKind::kSystem, "short write to " + path);
}

}  // namespace

IdMapping identityMapping() { return IdMapping{0, 0, 4294967295u}; }

std::string idMapText(const std::vector<IdMapping>& map) {
  std::string out;
  for (const auto& m : map)
    out += std::to_string(m.inside) + " " + std::to_string(m.outside) + " " + std::to_string(m.count) + "\n";
  return out;
}

void validateIdMap(const std::vector<IdMapping>& map, const std::string& what) {
  if (map.empty()) fail(ErrorKind::kInvalidArgument, what + ": no id range");
  if (map.size() > kMaxRanges)
    fail(ErrorKind::kInvalidArgument, what + ": " + std::to_string(map.size()) + " ranges, at most " +
                                          std::to_string(kMaxRanges));
  for (size_t i = 0; i < map.size(); ++i) {
    const IdMapping& m = map[i];
    if (m.count == 0) fail(ErrorKind::kInvalidArgument, what + ": range " + std::to_string(i) + " is empty");
    if (uint64_t{m.inside} + m.count > kIdSpace - 1)
      fail(ErrorKind::kInvalidArgument, what + ": range " + std::to_string(i) + " runs past id 4294967294");
    if (uint64_t{m.outside} + m.count > kIdSpace - 1)
      fail(ErrorKind::kInvalidArgument, what + ": range " + std::to_string(i) + " maps past host id 4294967294");
    for (size_t j = 0; j < i; ++j) {
      const IdMapping& o = map[j];
      bool inside = uint64_t{m.inside} < uint64_t{o.inside} + o.count && uint64_t{o.inside} < uint64_t{m.inside} + m.count;
      bool outside =
          uint64_t{m.outside} < uint64_t{o.outside} + o.count && uint64_t{o.outside} < uint64_t{m.outside} + m.count;
      if (inside || outside)
        fail(ErrorKind::kInvalidArgument, what + ": ranges " + std::to_string(j) + " and " + std::to_string(i) + " overlap");
    }
  }
}

UserNamespaceSetup prepareUserNamespace(const UserNamespaceSpec& spec, int lastCap) {
  validateIdMap(spec.uidMap, "user namespace uid map");
  validateIdMap(spec.gidMap, "user namespace gid map");
  UserNamespaceSetup s;
  s.plan.enabled = true;
  s.plan.lastCap = lastCap;
  for (int cap : spec.keep) {
    if (cap < 0 || cap > lastCap || cap > 63)
      fail(ErrorKind::kInvalidArgument, "user namespace: capability " + std::to_string(cap) + " is unknown to this kernel");
    s.plan.keepMask |= uint64_t{1} << cap;
  }
  int p[2];
  KATA_SYSCALL(::pipe2(p, O_CLOEXEC), "user namespace ready pipe");
  s.readyRead = UniqueFd(p[0]);
  s.readyWrite = UniqueFd(p[1]);
  KATA_SYSCALL(::pipe2(p, O_CLOEXEC), "user namespace go pipe");
  s.goRead = UniqueFd(p[0]);
  s.goWrite = UniqueFd(p[1]);
  s.plan.readyWrite = s.readyWrite.get();
  s.plan.goRead = s.goRead.get();
  s.uidMap = idMapText(spec.uidMap);
  s.gidMap = idMapText(spec.gidMap);
  return s;
}

int applyUnshareUser(const UserNamespacePlan& plan) noexcept {
  if (!plan.enabled) return 0;
  if (::unshare(CLONE_NEWUSER) != 0) return errno;
  char byte = 'u';
  if (::write(plan.readyWrite, &byte, 1) != 1) return errno ? errno : EPIPE;
  ssize_t n;
  do {
    n = ::read(plan.goRead, &byte, 1);
  } while (n < 0 && errno == EINTR);
  if (n < 0) return errno;
  return n == 1 ? 0 : ECANCELED;  // the parent could not write the maps (it says why)
}

bool writeIdMaps(pid_t pid, UserNamespaceSetup& s) {
  // Our copies of the child's ends: EOF on "ready" must mean the child is gone.
  s.readyWrite.reset();
  s.goRead.reset();
  struct pollfd p {s.readyRead.get(), POLLIN, 0};
  int r;
  do {
    r = ::poll(&p, 1, kMapWaitMs);
  } while (r < 0 && errno == EINTR);
  if (r < 0) throwSysError(errno, "poll for the child's user namespace");
  if (r == 0) fail(ErrorKind::kTimeout, "the child did not create its user namespace within 10 s");
  char byte;
  ssize_t n;
  do {
    n = ::read(s.readyRead.get(), &byte, 1);
  } while (n < 0 && errno == EINTR);
  if (n <= 0) return false;
  // setgroups stays "allow": a map written by a process privileged in the parent namespace does not
  // need it denied, and the child drops its groups with setgroups(0) inside.
  writeMap(pid, "uid_map", s.uidMap);
  writeMap(pid, "gid_map", s.gidMap);
  byte = 'g';
  if (::write(s.goWrite.get(), &byte, 1) != 1) throwSysError(errno, "release the child after its id maps");
  s.goWrite.reset();
  return true;
}

int applyBoundingSetKeep(const UserNamespacePlan& plan) noexcept {
  for (int cap = 0; cap <= plan.lastCap; ++cap) {
    if (cap < 64 && (plan.keepMask >> cap) & 1) continue;
    if (::prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0 && errno != EINVAL) return errno;
  }
  return 0;
}

int applyCapKeep(const UserNamespacePlan& plan) noexcept {
  if (::prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0) return errno;
  struct __user_cap_header_struct header {_LINUX_CAPABILITY_VERSION_3, 0};
  struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3] = {};
  data[0].permitted = data[0].effective = static_cast<uint32_t>(plan.keepMask);
  data[1].permitted = data[1].effective = static_cast<uint32_t>(plan.keepMask >> 32);
  if (::syscall(SYS_capset, &header, data) < 0) return errno;
  return 0;
}

}  // namespace kata::security
