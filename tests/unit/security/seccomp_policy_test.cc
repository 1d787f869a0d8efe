// The seccomp policy loader: strict validation of the JSON (every mistake named, nothing skipped),
// and the built-in kata-vmmd policy parses and compiles. Loading a filter is irreversible, so that
// part is tested in tests/functional/vmmd_hardening_test.cc, in forked children.
#include "security/seccomp.h"

#include <gtest/gtest.h>
#include <linux/if_tun.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include <cerrno>

#include "common/error.h"
#include "kata-vmmd/hardening.h"

namespace kata::security {
namespace {

std::string policyWith(const std::string& syscalls) {
  return R"({"policy": "t", "description": "test policy", "syscalls": [)" + syscalls + "]}";
}

// Parses and expects kInvalidArgument whose message contains every fragment.
void expectRejected(const std::string& json, std::initializer_list<const char*> fragments) {
  try {
    parseSeccompPolicy(json, "test.json");
    FAIL() << "accepted: " << json;
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kInvalidArgument) << e.what();
    std::string what = e.what();
    EXPECT_NE(what.find("test.json"), std::string::npos) << what;
    for (const char* f : fragments) EXPECT_NE(what.find(f), std::string::npos) << "missing \"" << f << "\" in: " << what;
  }
}

TEST(SeccompPolicy, ParsesEntriesRulesAndActions) {
  SeccompPolicy p = parseSeccompPolicy(policyWith(R"(
      {"syscall": "read", "reason": "reads sockets"},
      {"syscall": "clone3", "reason": "flags unreadable", "action": {"errno": "ENOSYS"}},
      {"syscall": "socket", "reason": "unix and netlink only", "allow_if": [
        {"comment": "unix", "args": [{"index": 0, "op": "eq", "value": "AF_UNIX"}]},
        {"comment": "netlink", "args": [{"index": 0, "op": "eq", "value": 16}]}]},
      {"syscall": "ioctl", "reason": "kvm family", "allow_if": [
        {"comment": "kvm", "args": [{"index": 1, "op": "masked_eq", "value": "0xae00", "mask": "0xff00"}]}]})"),
                                       "test.json");
  ASSERT_EQ(p.syscalls.size(), 4u);
  EXPECT_EQ(p.name, "t");
  const SyscallEntry* read = p.find("read");
  ASSERT_NE(read, nullptr);
  EXPECT_EQ(read->number, 0);  // x86_64 numbering; resolved, not typed
  EXPECT_TRUE(read->allowIf.empty());
  EXPECT_EQ(p.find("clone3")->errnoAction, ENOSYS);
  const SyscallEntry* sock = p.find("socket");
  ASSERT_EQ(sock->allowIf.size(), 2u);
  EXPECT_EQ(sock->allowIf[0].args[0].value, static_cast<uint64_t>(AF_UNIX));
  EXPECT_EQ(sock->allowIf[1].args[0].value, static_cast<uint64_t>(AF_NETLINK));
  const ArgCheck& kvm = p.find("ioctl")->allowIf[0].args[0];
  EXPECT_EQ(kvm.op, ArgOp::kMaskedEq);
  EXPECT_EQ(kvm.index, 1u);
  EXPECT_EQ(kvm.mask, 0xff00u);
  EXPECT_EQ(kvm.value, 0xae00u);
  EXPECT_EQ(p.find("write"), nullptr);
  EXPECT_GT(seccompProgramSize(p, SeccompMode::kEnforce), 8u);
}

TEST(SeccompPolicy, RejectsBadJson) {
  expectRejected("{\"policy\": ", {"not valid JSON"});
  expectRejected("[]", {"must be an object"});
  expectRejected("", {"not valid JSON"});
}

TEST(SeccompPolicy, RejectsUnknownSyscallNames) {
  expectRejected(policyWith(R"({"syscall": "reed", "reason": "a typo of read"})"), {"unknown system call \"reed\""});
  expectRejected(policyWith(R"({"syscall": "", "reason": "empty name here"})"), {"\"syscall\" must not be empty"});
  // libseccomp pseudo-syscalls (negative numbers) are not real calls here: socketcall is one on x86_64.
  expectRejected(policyWith(R"({"syscall": "socketcall", "reason": "multiplexer on i386"})"), {"socketcall"});
}

TEST(SeccompPolicy, RejectsDuplicates) {
  expectRejected(policyWith(R"({"syscall": "read", "reason": "first reason"},
                               {"syscall": "write", "reason": "other call"},
                               {"syscall": "read", "reason": "second reason"})"),
                 {"syscalls[2] (read)", "duplicate"});
}

TEST(SeccompPolicy, RejectsMissingOrEmptyReasons) {
  expectRejected(policyWith(R"({"syscall": "read"})"), {"syscalls[0] (read)", "missing \"reason\""});
  expectRejected(policyWith(R"({"syscall": "read", "reason": "   "})"), {"\"reason\" must not be empty"});
  expectRejected(policyWith(R"({"syscall": "read", "reason": "why"})"), {"must say why"});
  expectRejected(policyWith(R"({"syscall": "read", "reason": 7})"), {"\"reason\" must be a string"});
  expectRejected(policyWith(R"({"syscall": "socket", "reason": "unix sockets", "allow_if": [
                     {"args": [{"index": 0, "op": "eq", "value": 1}]}]})"),
                 {"allow_if[0]", "missing \"comment\""});
}

TEST(SeccompPolicy, RejectsUnknownKeysEverywhere) {
  expectRejected(R"({"policy": "t", "description": "d", "syscalls": [], "default": "allow"})", {"unknown key \"default\""});
  expectRejected(policyWith(R"({"syscall": "read", "reason": "reads sockets", "comment": "x"})"), {"unknown key \"comment\""});
  expectRejected(policyWith(R"({"syscall": "socket", "reason": "unix sockets", "allow_if": [
                     {"comment": "c", "args": [{"index": 0, "op": "eq", "value": 1, "vaule": 2}]}]})"),
                 {"unknown key \"vaule\""});
}

TEST(SeccompPolicy, RejectsBadStructure) {
  expectRejected(R"({"policy": "t", "description": "d", "syscalls": []})", {"non-empty array"});
  expectRejected(R"({"description": "d", "syscalls": [{"syscall": "read", "reason": "reads sockets"}]})",
                 {"missing \"policy\""});
  expectRejected(policyWith(R"("read")"), {"an entry must be an object"});
  expectRejected(policyWith(R"({"syscall": "socket", "reason": "unix sockets", "allow_if": []})"), {"non-empty array of rules"});
  expectRejected(policyWith(R"({"syscall": "socket", "reason": "unix sockets", "allow_if": [{"comment": "c", "args": []}]})"),
                 {"\"args\" must be a non-empty array"});
}

TEST(SeccompPolicy, RejectsBadArgumentChecks) {
  auto rule = [](const std::string& arg) {
    return policyWith(R"({"syscall": "socket", "reason": "unix sockets", "allow_if": [{"comment": "c", "args": [)" + arg +
                      "]}]}");
  };
  expectRejected(rule(R"({"index": 6, "op": "eq", "value": 1})"), {"0-5"});
  expectRejected(rule(R"({"index": -1, "op": "eq", "value": 1})"), {"0-5"});
  expectRejected(rule(R"({"index": 0, "op": "equals", "value": 1})"), {"unknown op \"equals\""});
  expectRejected(rule(R"({"index": 0, "op": "eq"})"), {"missing \"value\""});
  expectRejected(rule(R"({"index": 0, "op": "eq", "value": -1})"), {"negative"});
  expectRejected(rule(R"({"index": 0, "op": "eq", "value": "AF_INTERNET"})"), {"unknown constant \"AF_INTERNET\""});
  expectRejected(rule(R"({"index": 0, "op": "eq", "value": "0xZZ"})"), {"unknown constant \"0xZZ\""});
  expectRejected(rule(R"({"index": 0, "op": "masked_eq", "value": 1})"), {"needs \"mask\""});
  expectRejected(rule(R"({"index": 0, "op": "masked_eq", "value": "0x100", "mask": "0xff"})"), {"never match"});
  expectRejected(rule(R"({"index": 0, "op": "eq", "value": 1, "mask": 1})"), {"only meaningful with masked_eq"});
  expectRejected(rule(R"({"index": 0, "op": "eq", "value": 1}, {"index": 0, "op": "eq", "value": 16})"),
                 {"checked twice"});
}

TEST(SeccompPolicy, RejectsBadActions) {
  expectRejected(policyWith(R"({"syscall": "clone3", "reason": "flags unreadable", "action": {"errno": "EWHAT"}})"),
                 {"unknown errno \"EWHAT\""});
  expectRejected(policyWith(R"({"syscall": "clone3", "reason": "flags unreadable", "action": {"errno": "AF_UNIX"}})"),
                 {"unknown errno"});
  expectRejected(policyWith(R"({"syscall": "clone3", "reason": "flags unreadable", "action": {"kill": true}})"),
                 {"unknown key \"kill\""});
}

TEST(SeccompPolicy, ModesParse) {
  EXPECT_EQ(parseSeccompMode("enforce"), SeccompMode::kEnforce);
  EXPECT_EQ(parseSeccompMode("errno"), SeccompMode::kErrno);
  EXPECT_EQ(parseSeccompMode("log"), SeccompMode::kLog);
  EXPECT_THROW(parseSeccompMode("off"), Error);
  EXPECT_STREQ(seccompModeName(SeccompMode::kLog), "log");
}

TEST(SeccompPolicy, ConstantsComeFromTheHeaders) {
  EXPECT_EQ(seccompConstant("TUNSETIFF"), static_cast<uint64_t>(TUNSETIFF));
  EXPECT_EQ(seccompConstant("AF_NETLINK"), static_cast<uint64_t>(AF_NETLINK));
  EXPECT_FALSE(seccompConstant("NOT_A_CONSTANT").has_value());
}

// The policy the daemon ships: parses, every entry has a reason, the dangerous calls are absent, the
// narrowed calls are narrowed, and it compiles in every mode.
TEST(VmmdSeccompPolicy, BuiltInPolicyIsValidAndTight) {
  SeccompPolicy p = vmmd::vmmdSeccompPolicy();
  EXPECT_EQ(p.name, "kata-vmmd");
  EXPECT_GT(p.syscalls.size(), 100u);
  for (const char* absent : {"ptrace", "mount", "kexec_load", "kexec_file_load", "init_module", "finit_module",
                             "delete_module", "bpf", "perf_event_open", "process_vm_readv", "process_vm_writev",
                             "keyctl", "add_key", "request_key", "userfaultfd", "unshare", "pivot_root", "chroot",
                             "swapon", "reboot", "setuid", "setgid", "personality", "io_uring_enter",
                             "io_uring_register", "fsopen", "fsmount", "open_by_handle_at", "quotactl",
                             // the launch's child steps and QEMU's calls: the launcher process's, not the daemon's
                             "execve", "setresuid", "setresgid", "setgroups", "capset", "seccomp", "mlock"})
    EXPECT_EQ(p.find(absent), nullptr) << absent << " must not be allowed";
  // setns: network namespaces only (netdev's threads), never a mount, user or pid namespace.
  for (const char* narrowed : {"socket", "socketpair", "ioctl", "clone", "prctl", "setns"}) {
    ASSERT_NE(p.find(narrowed), nullptr) << narrowed;
    EXPECT_FALSE(p.find(narrowed)->allowIf.empty()) << narrowed << " must carry argument checks";
  }
  EXPECT_EQ(p.find("clone3")->errnoAction, ENOSYS);
  EXPECT_EQ(p.find("io_uring_setup")->errnoAction, ENOSYS);
  for (SeccompMode m : {SeccompMode::kEnforce, SeccompMode::kErrno, SeccompMode::kLog})
    EXPECT_GT(seccompProgramSize(p, m), p.syscalls.size());
}

}  // namespace
}  // namespace kata::security
