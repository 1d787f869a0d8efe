#include "security/keep_caps.h"

#include <dirent.h>
#include <linux/securebits.h>
#include <sys/capability.h>
#include <sys/prctl.h>

#include <cerrno>
#include <memory>

#include "common/error.h"
#include "security/caps.h"

namespace kata::security {
namespace {

using CapState = std::unique_ptr<struct _cap_struct, int (*)(void*)>;

CapabilitySet flagSet(cap_t caps, cap_flag_t flag, int lastCap) {
  CapabilitySet out;
  for (int c = 0; c <= lastCap; ++c) {
    cap_flag_value_t v = CAP_CLEAR;
    if (cap_get_flag(caps, static_cast<cap_value_t>(c), flag, &v) != 0) throwSysError(errno, "cap_get_flag");
    if (v == CAP_SET) out.insert(c);
  }
  return out;
}

size_t threadCount() {
  std::unique_ptr<DIR, int (*)(DIR*)> dir(::opendir("/proc/self/task"), ::closedir);
  if (!dir) throwSysError(errno, "opendir /proc/self/task");
  size_t n = 0;
  errno = 0;
  while (struct dirent* d = ::readdir(dir.get()))
    if (d->d_name[0] != '.') ++n;
  if (errno != 0) throwSysError(errno, "readdir /proc/self/task");
  return n;
}

}  // namespace

int capabilityFromName(const std::string& name) {
  cap_value_t v = 0;
  if (name.empty() || cap_from_name(name.c_str(), &v) != 0)
    fail(ErrorKind::kInvalidArgument, "unknown capability \"" + name + "\" (see capabilities(7))");
  return static_cast<int>(v);
}

std::string capabilityName(int cap) {
  std::unique_ptr<char, int (*)(void*)> text(cap_to_name(static_cast<cap_value_t>(cap)), cap_free);
  if (!text) throwSysError(errno, "cap_to_name " + std::to_string(cap));
  std::string s = text.get();
  for (char& ch : s) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
  return s;
}

std::string capabilitySetText(const CapabilitySet& caps) {
  if (caps.empty()) return "none";
  std::string out;
  for (int c : caps) out += (out.empty() ? "" : ",") + capabilityName(c);
  return out;
}

ProcessCapabilities currentCapabilities() {
  int lastCap = prepareCapDrop().lastCap;
  CapState caps(cap_get_proc(), cap_free);
  if (!caps) throwSysError(errno, "cap_get_proc");
  ProcessCapabilities out;
  out.effective = flagSet(caps.get(), CAP_EFFECTIVE, lastCap);
  out.permitted = flagSet(caps.get(), CAP_PERMITTED, lastCap);
  out.inheritable = flagSet(caps.get(), CAP_INHERITABLE, lastCap);
  for (int c = 0; c <= lastCap; ++c) {
    int b = ::prctl(PR_CAPBSET_READ, c, 0, 0, 0);
    if (b < 0) throwSysError(errno, "prctl(PR_CAPBSET_READ, " + std::to_string(c) + ")");
    if (b) out.bounding.insert(c);
    int a = ::prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_IS_SET, c, 0, 0);
    if (a < 0) throwSysError(errno, "prctl(PR_CAP_AMBIENT_IS_SET, " + std::to_string(c) + ")");
    if (a) out.ambient.insert(c);
  }
  return out;
}

void keepOnlyCapabilities(const CapabilitySet& keep) {
  int lastCap = prepareCapDrop().lastCap;
  for (int c : keep)
    if (c < 0 || c > lastCap)
      fail(ErrorKind::kInvalidArgument, "capability " + std::to_string(c) + " is unknown to this kernel");
  // 1. Per-thread state: every thread must go through this, and only this thread exists to do it.
  if (size_t n = threadCount(); n != 1)
    fail(ErrorKind::kFailedPrecondition,
         "cannot reduce capabilities with " + std::to_string(n) +
             " threads running (capabilities are per thread): reduce them before starting any thread");
  // 2. Everything we keep must be here now.
  ProcessCapabilities now = currentCapabilities();
  CapabilitySet missing;
  for (int c : keep)
    if (!now.permitted.count(c) || !now.bounding.count(c)) missing.insert(c);
  if (!missing.empty())
    fail(ErrorKind::kPermissionDenied,
         "kata-vmmd needs " + capabilitySetText(missing) +
             " and was started without it: run it as root with these capabilities (a systemd unit's "
             "CapabilityBoundingSet= must include them)");
  if (!now.effective.count(CAP_SETPCAP))
    fail(ErrorKind::kPermissionDenied, "reducing capabilities needs CAP_SETPCAP in the effective set");
  // 3. Securebits, locked.
  int bits = ::prctl(PR_GET_SECUREBITS, 0, 0, 0, 0);
  if (bits < 0) throwSysError(errno, "prctl(PR_GET_SECUREBITS)");
  if (bits & (SECBIT_KEEP_CAPS | SECBIT_NO_SETUID_FIXUP))
    fail(ErrorKind::kFailedPrecondition,
         "securebits keep-caps or no-setuid-fixup are set: the launcher's uid switch would keep capabilities");
  int want = bits | SECBIT_NOROOT | SECBIT_NOROOT_LOCKED | SECBIT_NO_CAP_AMBIENT_RAISE |
             SECBIT_NO_CAP_AMBIENT_RAISE_LOCKED | SECBIT_KEEP_CAPS_LOCKED | SECBIT_NO_SETUID_FIXUP_LOCKED;
  KATA_SYSCALL(::prctl(PR_SET_SECUREBITS, want, 0, 0, 0), "prctl(PR_SET_SECUREBITS, " + std::to_string(want) + ")");
  // 4. Bounding set.
  for (int c = 0; c <= lastCap; ++c)
    if (!keep.count(c) && now.bounding.count(c))
      KATA_SYSCALL(::prctl(PR_CAPBSET_DROP, c, 0, 0, 0), "prctl(PR_CAPBSET_DROP, " + capabilityName(c) + ")");
  // 5. Ambient, then the three process sets.
  KATA_SYSCALL(::prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0), "prctl(PR_CAP_AMBIENT_CLEAR_ALL)");
  CapState caps(cap_init(), cap_free);
  if (!caps) throwSysError(errno, "cap_init");
  std::vector<cap_value_t> list(keep.begin(), keep.end());
  if (!list.empty()) {
    if (cap_set_flag(caps.get(), CAP_PERMITTED, static_cast<int>(list.size()), list.data(), CAP_SET) != 0 ||
        cap_set_flag(caps.get(), CAP_EFFECTIVE, static_cast<int>(list.size()), list.data(), CAP_SET) != 0)
      throwSysError(errno, "cap_set_flag");
  }
  if (cap_set_proc(caps.get()) != 0) throwSysError(errno, "cap_set_proc(" + capabilitySetText(keep) + ")");
  // 6. Trust the kernel, not our intent.
  ProcessCapabilities after = currentCapabilities();
  if (after.permitted != keep || after.effective != keep || after.bounding != keep || !after.inheritable.empty() ||
      !after.ambient.empty())
    fail(ErrorKind::kInternal, "capability reduction did not take: permitted " + capabilitySetText(after.permitted) +
                                   ", bounding " + capabilitySetText(after.bounding) + ", wanted " +
                                   capabilitySetText(keep));
}

}  // namespace kata::security
