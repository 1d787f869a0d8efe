// Seccomp allow-lists as data. A policy is JSON with one entry per allowed system call and a reason for
// each (the idea of Firecracker's resources/seccomp/*.json), optionally narrowed by argument checks
// (socket families, clone flags, ioctl requests). parseSeccompPolicy validates it strictly (unknown
// keys, unknown syscall names, duplicates, missing reasons are errors, never skipped), and
// installSeccompPolicy compiles it with libseccomp and loads it on every thread of the process.
//
// Policy format:
//   { "policy": "kata-vmmd", "description": "...",
//     "syscalls": [
//       { "syscall": "read", "reason": "..." },
//       { "syscall": "clone3", "reason": "...", "action": { "errno": "ENOSYS" } },
//       { "syscall": "socket", "reason": "...",
//         "allow_if": [ { "comment": "unix sockets", "args": [ { "index": 0, "op": "eq", "value": "AF_UNIX" } ] } ] } ] }
// An entry without "allow_if" allows every argument; with it, the call is allowed when any one rule
// matches, and a rule matches when all of its argument checks do. ops: eq ne lt le gt ge masked_eq
// (masked_eq needs "mask": (arg & mask) == value). Values are non-negative integers, "0x..." hex
// strings, or the names of a fixed table of constants (seccompConstant).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace kata::security {

// What happens to a system call the policy does not allow.
enum class SeccompMode {
  kEnforce,  // SCMP_ACT_KILL_PROCESS: the whole process dies with SIGSYS (the default)
  kErrno,    // SCMP_ACT_ERRNO(EPERM): the call fails; for diagnosing a denial without a crash
  kLog,      // SCMP_ACT_LOG: the call is allowed and logged by the kernel (discovery mode)
};
SeccompMode parseSeccompMode(const std::string& name);  // "enforce" | "errno" | "log"
const char* seccompModeName(SeccompMode mode);

enum class ArgOp { kEq, kNe, kLt, kLe, kGt, kGe, kMaskedEq };

struct ArgCheck {
  unsigned index = 0;  // 0-5
  ArgOp op = ArgOp::kEq;
  uint64_t value = 0;
  uint64_t mask = 0;  // kMaskedEq only
};

struct SyscallRule {
  std::string comment;
  std::vector<ArgCheck> args;  // all must match
};

struct SyscallEntry {
  std::string name;
  int number = -1;  // resolved for the native architecture
  std::string reason;
  std::vector<SyscallRule> allowIf;  // empty: any arguments
  std::optional<int> errnoAction;    // answer with this errno instead of allowing (e.g. ENOSYS)
};

struct SeccompPolicy {
  std::string name;
  std::string description;
  std::vector<SyscallEntry> syscalls;
  const SyscallEntry* find(std::string_view syscallName) const;
};

// origin names the policy in error messages (e.g. "built-in policy kata-vmmd/seccomp/vmmd.json").
// Throws kInvalidArgument for anything not exactly as documented above.
SeccompPolicy parseSeccompPolicy(std::string_view json, const std::string& origin);

// The value of a named constant usable in a policy ("AF_UNIX", "TUNSETIFF", ...); nullopt if unknown.
std::optional<uint64_t> seccompConstant(std::string_view name);

// Compiles the policy and loads it with SECCOMP_FILTER_FLAG_TSYNC (every thread, atomically) and
// no_new_privs. A call from another architecture's ABI (x32, i386 int 0x80) kills the process in
// every mode. Irreversible: the filter stays for the life of the process and of every child.
void installSeccompPolicy(const SeccompPolicy& policy, SeccompMode mode);

// The compiled filter as BPF instructions count, without loading it (for tests and logs).
size_t seccompProgramSize(const SeccompPolicy& policy, SeccompMode mode);

}  // namespace kata::security
