#include "agent/container/seccomp.h"

#include <seccomp.h>

#include <algorithm>
#include <cctype>
#include <cerrno>

#include "common/error.h"

namespace kata::agent {
namespace {

uint32_t action(const std::string& name, std::optional<uint32_t> errnoRet, const std::string& where) {
  uint32_t ret = errnoRet.value_or(EPERM);
  if (name == "SCMP_ACT_KILL" || name == "SCMP_ACT_KILL_THREAD") return SCMP_ACT_KILL_THREAD;
  if (name == "SCMP_ACT_KILL_PROCESS") return SCMP_ACT_KILL_PROCESS;
  if (name == "SCMP_ACT_TRAP") return SCMP_ACT_TRAP;
  if (name == "SCMP_ACT_ERRNO") return SCMP_ACT_ERRNO(ret);
  if (name == "SCMP_ACT_TRACE") return SCMP_ACT_TRACE(ret);
  if (name == "SCMP_ACT_ALLOW") return SCMP_ACT_ALLOW;
  if (name == "SCMP_ACT_LOG") return SCMP_ACT_LOG;
  if (name == "SCMP_ACT_NOTIFY")
    fail(ErrorKind::kNotSupported, where + ": SCMP_ACT_NOTIFY (seccomp user notification) is not supported in the guest");
  fail(ErrorKind::kInvalidArgument, where + ": unknown action \"" + name + "\"");
}

scmp_compare op(const std::string& name, const std::string& where) {
  if (name == "SCMP_CMP_NE") return SCMP_CMP_NE;
  if (name == "SCMP_CMP_LT") return SCMP_CMP_LT;
  if (name == "SCMP_CMP_LE") return SCMP_CMP_LE;
  if (name == "SCMP_CMP_EQ") return SCMP_CMP_EQ;
  if (name == "SCMP_CMP_GE") return SCMP_CMP_GE;
  if (name == "SCMP_CMP_GT") return SCMP_CMP_GT;
  if (name == "SCMP_CMP_MASKED_EQ") return SCMP_CMP_MASKED_EQ;
  fail(ErrorKind::kInvalidArgument, where + ": unknown operator \"" + name + "\"");
}

}  // namespace

void SeccompFilter::Release::operator()(void* ctx) const { seccomp_release(static_cast<scmp_filter_ctx>(ctx)); }

SeccompFilter SeccompFilter::build(const oci::Seccomp& profile) {
  uint32_t defaultAction = action(profile.defaultAction, profile.defaultErrnoRet, "linux.seccomp.defaultAction");
  scmp_filter_ctx raw = seccomp_init(defaultAction);
  if (!raw) fail(ErrorKind::kInvalidArgument, "linux.seccomp.defaultAction: seccomp_init refused " + profile.defaultAction);
  SeccompFilter filter(raw);
  // The spec's noNewPrivileges decides; libseccomp must not set it on its own when loading.
  KATA_NEGERR(seccomp_attr_set(raw, SCMP_FLTATR_CTL_NNP, 0), "linux.seccomp: disable libseccomp's no_new_privs");

  if (profile.architectures) {
    for (const std::string& a : *profile.architectures) {
      std::string name = a.rfind("SCMP_ARCH_", 0) == 0 ? a.substr(10) : a;
      std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return std::tolower(c); });
      uint32_t token = seccomp_arch_resolve_name(name.c_str());
      if (token == 0) fail(ErrorKind::kInvalidArgument, "linux.seccomp.architectures: unknown architecture \"" + a + "\"");
      int rc = seccomp_arch_add(raw, token);
      if (rc < 0 && rc != -EEXIST) throwSysError(-rc, "linux.seccomp.architectures: add " + a);
    }
  }
  if (profile.flags) {
    for (const std::string& f : *profile.flags) {
      if (f == "SECCOMP_FILTER_FLAG_LOG") {
        KATA_NEGERR(seccomp_attr_set(raw, SCMP_FLTATR_CTL_LOG, 1), "linux.seccomp.flags " + f);
      } else if (f == "SECCOMP_FILTER_FLAG_SPEC_ALLOW") {
        KATA_NEGERR(seccomp_attr_set(raw, SCMP_FLTATR_CTL_SSB, 1), "linux.seccomp.flags " + f);
      } else if (f == "SECCOMP_FILTER_FLAG_TSYNC") {
        KATA_NEGERR(seccomp_attr_set(raw, SCMP_FLTATR_CTL_TSYNC, 1), "linux.seccomp.flags " + f);
      } else {
        fail(ErrorKind::kNotSupported, "linux.seccomp.flags: \"" + f + "\" is not supported");
      }
    }
  }
  if (!profile.syscalls) return filter;
  for (size_t i = 0; i < profile.syscalls->size(); ++i) {
    const oci::Syscall& call = (*profile.syscalls)[i];
    std::string where = "linux.seccomp.syscalls[" + std::to_string(i) + "]";
    uint32_t act = action(call.action, call.errnoRet, where + ".action");
    if (act == defaultAction) continue;  // libseccomp refuses such rules; they change nothing
    std::vector<scmp_arg_cmp> conditions;
    int perIndex[6] = {};
    bool repeated = false;
    if (call.args) {
      for (const oci::SeccompArg& a : *call.args) {
        if (a.index >= 6) fail(ErrorKind::kInvalidArgument, where + ".args: index " + std::to_string(a.index) + " >= 6");
        scmp_arg_cmp c{};
        c.arg = a.index;
        c.op = op(a.op, where + ".args");
        c.datum_a = a.value;
        c.datum_b = a.valueTwo.value_or(0);
        conditions.push_back(c);
        if (++perIndex[a.index] > 1) repeated = true;
      }
    }
    for (const std::string& name : call.names) {
      int nr = seccomp_syscall_resolve_name(name.c_str());
      if (nr == __NR_SCMP_ERROR) continue;  // unknown to this libseccomp/arch: skipped, as runc does
      std::string what = where + " " + name;
      // Several conditions on the same argument cannot be ANDed in one rule; runc then adds one
      // rule per condition (an OR), and so do we.
      if (repeated) {
        for (const scmp_arg_cmp& c : conditions) KATA_NEGERR(seccomp_rule_add_array(raw, act, nr, 1, &c), what);
      } else {
        KATA_NEGERR(seccomp_rule_add_array(raw, act, nr, static_cast<unsigned>(conditions.size()),
                                           conditions.empty() ? nullptr : conditions.data()),
                    what);
      }
    }
  }
  return filter;
}

void SeccompFilter::load() {
  KATA_NEGERR(seccomp_load(static_cast<scmp_filter_ctx>(ctx_.get())), "linux.seccomp: seccomp_load");
}

}  // namespace kata::agent
