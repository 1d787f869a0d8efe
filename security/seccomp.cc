#include "security/seccomp.h"

#include <linux/if_tun.h>
#include <linux/nsfs.h>
#include <linux/sched.h>
#include <seccomp.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include <cerrno>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>

#include "common/error.h"
#include "common/fd.h"

namespace kata::security {
namespace {

using nlohmann::json;

struct NamedConstant {
  const char* name;
  uint64_t value;
};

// Constants a policy may name. Values come from the kernel and libc headers, never typed by hand.
constexpr uint64_t kCloneNamespaceFlags = CLONE_NEWNS | CLONE_NEWCGROUP | CLONE_NEWUTS | CLONE_NEWIPC |
                                          CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNET;
const NamedConstant kConstants[] = {
    {"AF_UNIX", AF_UNIX},
    {"AF_NETLINK", AF_NETLINK},
    {"CLONE_NAMESPACE_FLAGS", kCloneNamespaceFlags},
    {"CLONE_THREAD", CLONE_THREAD},
    {"CLONE_NEWNET", CLONE_NEWNET},
    {"PR_SET_PDEATHSIG", PR_SET_PDEATHSIG},
    {"PR_GET_DUMPABLE", PR_GET_DUMPABLE},
    {"PR_SET_DUMPABLE", PR_SET_DUMPABLE},
    {"PR_SET_NAME", PR_SET_NAME},
    {"PR_GET_NAME", PR_GET_NAME},
    {"PR_SET_TIMERSLACK", PR_SET_TIMERSLACK},
    {"PR_MCE_KILL", PR_MCE_KILL},
    {"PR_CAPBSET_READ", PR_CAPBSET_READ},
    {"PR_CAPBSET_DROP", PR_CAPBSET_DROP},
    {"PR_GET_SECUREBITS", PR_GET_SECUREBITS},
    {"PR_SET_NO_NEW_PRIVS", PR_SET_NO_NEW_PRIVS},
    {"PR_GET_NO_NEW_PRIVS", PR_GET_NO_NEW_PRIVS},
    {"PR_CAP_AMBIENT", PR_CAP_AMBIENT},
    {"PR_GET_SECCOMP", PR_GET_SECCOMP},
    {"TCGETS", TCGETS},
    {"FIONBIO", FIONBIO},
    {"FIONREAD", FIONREAD},
    {"FIOCLEX", FIOCLEX},
    {"FIONCLEX", FIONCLEX},
    {"TUNSETIFF", TUNSETIFF},
    {"TUNGETIFF", TUNGETIFF},
    {"TUNSETPERSIST", TUNSETPERSIST},
    {"TUNSETOWNER", TUNSETOWNER},
    {"TUNSETGROUP", TUNSETGROUP},
    {"TUNGETFEATURES", TUNGETFEATURES},
    {"TUNSETOFFLOAD", TUNSETOFFLOAD},
    {"TUNSETSNDBUF", TUNSETSNDBUF},
    {"TUNGETSNDBUF", TUNGETSNDBUF},
    {"TUNGETVNETHDRSZ", TUNGETVNETHDRSZ},
    {"TUNSETVNETHDRSZ", TUNSETVNETHDRSZ},
    {"TUNSETQUEUE", TUNSETQUEUE},
    {"TUNSETVNETLE", TUNSETVNETLE},
    {"TUNGETVNETLE", TUNGETVNETLE},
    {"TUNSETVNETBE", TUNSETVNETBE},
    {"TUNGETVNETBE", TUNGETVNETBE},
    {"NS_GET_USERNS", NS_GET_USERNS},
    {"NS_GET_PARENT", NS_GET_PARENT},
    {"NS_GET_NSTYPE", NS_GET_NSTYPE},
    {"NS_GET_OWNER_UID", NS_GET_OWNER_UID},
    {"ENOSYS", ENOSYS},
    {"EPERM", EPERM},
};

[[noreturn]] void bad(const std::string& origin, const std::string& where, const std::string& what) {
  fail(ErrorKind::kInvalidArgument, "seccomp policy " + origin + ": " + where + ": " + what);
}

void onlyKeys(const json& object, std::initializer_list<const char*> allowed, const std::string& origin,
              const std::string& where) {
  for (const auto& [key, value] : object.items()) {
    bool known = false;
    for (const char* a : allowed) known = known || key == a;
    if (!known) bad(origin, where, "unknown key \"" + key + "\" (a typo would otherwise be silently ignored)");
  }
}

std::string requiredString(const json& object, const char* key, const std::string& origin, const std::string& where,
                           bool nonEmpty = true) {
  auto it = object.find(key);
  if (it == object.end()) bad(origin, where, std::string("missing \"") + key + "\"");
  if (!it->is_string()) bad(origin, where, std::string("\"") + key + "\" must be a string");
  std::string s = it->get<std::string>();
  if (nonEmpty && s.find_first_not_of(" \t") == std::string::npos)
    bad(origin, where, std::string("\"") + key + "\" must not be empty");
  return s;
}

uint64_t parseValue(const json& v, const std::string& origin, const std::string& where) {
  if (v.is_number_unsigned()) return v.get<uint64_t>();
  if (v.is_number_integer()) {
    if (v.get<int64_t>() < 0) bad(origin, where, "negative value (write it as a 0x hex string)");
    return static_cast<uint64_t>(v.get<int64_t>());
  }
  if (!v.is_string()) bad(origin, where, "a value must be an integer, a \"0x...\" string or a constant name");
  std::string s = v.get<std::string>();
  if (auto c = seccompConstant(s)) return *c;
  if (s.size() > 2 && s.size() <= 18 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X') &&
      s.find_first_not_of("0123456789abcdefABCDEF", 2) == std::string::npos)
    return std::stoull(s.substr(2), nullptr, 16);
  bad(origin, where, "unknown constant \"" + s + "\" (add it to the table in security/seccomp.cc or write 0x...)");
}

ArgOp parseOp(const std::string& s, const std::string& origin, const std::string& where) {
  static const std::pair<const char*, ArgOp> ops[] = {{"eq", ArgOp::kEq}, {"ne", ArgOp::kNe},  {"lt", ArgOp::kLt},
                                                      {"le", ArgOp::kLe}, {"gt", ArgOp::kGt},  {"ge", ArgOp::kGe},
                                                      {"masked_eq", ArgOp::kMaskedEq}};
  for (const auto& [name, op] : ops)
    if (s == name) return op;
  bad(origin, where, "unknown op \"" + s + "\" (eq, ne, lt, le, gt, ge, masked_eq)");
}

SyscallRule parseRule(const json& r, const std::string& origin, const std::string& where) {
  if (!r.is_object()) bad(origin, where, "a rule must be an object");
  onlyKeys(r, {"comment", "args"}, origin, where);
  SyscallRule rule;
  rule.comment = requiredString(r, "comment", origin, where);
  auto args = r.find("args");
  if (args == r.end() || !args->is_array() || args->empty()) bad(origin, where, "\"args\" must be a non-empty array");
  std::set<unsigned> seen;
  for (size_t i = 0; i < args->size(); ++i) {
    const json& a = (*args)[i];
    std::string w = where + " args[" + std::to_string(i) + "]";
    if (!a.is_object()) bad(origin, w, "an argument check must be an object");
    onlyKeys(a, {"index", "op", "value", "mask"}, origin, w);
    ArgCheck c;
    auto index = a.find("index");
    if (index == a.end() || !index->is_number_unsigned() || index->get<uint64_t>() > 5)
      bad(origin, w, "\"index\" must be an argument number 0-5");
    c.index = index->get<unsigned>();
    // libseccomp compares one argument once per rule; two checks on it would be refused at load.
    if (!seen.insert(c.index).second) bad(origin, w, "argument " + std::to_string(c.index) + " checked twice in one rule");
    c.op = parseOp(requiredString(a, "op", origin, w), origin, w);
    if (!a.contains("value")) bad(origin, w, "missing \"value\"");
    c.value = parseValue(a["value"], origin, w);
    if (c.op == ArgOp::kMaskedEq) {
      if (!a.contains("mask")) bad(origin, w, "masked_eq needs \"mask\"");
      c.mask = parseValue(a["mask"], origin, w);
      if ((c.value & ~c.mask) != 0) bad(origin, w, "value has bits outside the mask: it can never match");
    } else if (a.contains("mask")) {
      bad(origin, w, "\"mask\" is only meaningful with masked_eq");
    }
    rule.args.push_back(c);
  }
  return rule;
}

scmp_compare toScmp(ArgOp op) {
  switch (op) {
    case ArgOp::kEq: return SCMP_CMP_EQ;
    case ArgOp::kNe: return SCMP_CMP_NE;
    case ArgOp::kLt: return SCMP_CMP_LT;
    case ArgOp::kLe: return SCMP_CMP_LE;
    case ArgOp::kGt: return SCMP_CMP_GT;
    case ArgOp::kGe: return SCMP_CMP_GE;
    case ArgOp::kMaskedEq: return SCMP_CMP_MASKED_EQ;
  }
  return SCMP_CMP_EQ;
}

using SeccompCtx = std::unique_ptr<void, void (*)(scmp_filter_ctx)>;

SeccompCtx buildFilter(const SeccompPolicy& policy, SeccompMode mode) {
  uint32_t defaultAction = mode == SeccompMode::kEnforce ? SCMP_ACT_KILL_PROCESS
                           : mode == SeccompMode::kErrno ? SCMP_ACT_ERRNO(EPERM)
                                                         : SCMP_ACT_LOG;
  SeccompCtx ctx(seccomp_init(defaultAction), seccomp_release);
  if (!ctx) fail(ErrorKind::kSystem, "seccomp_init failed (out of memory or an unsupported default action)");
  // Another ABI on the same kernel (i386 via int 0x80, x32) is never legitimate in this process and
  // would bypass a filter keyed on native syscall numbers.
  KATA_NEGERR(seccomp_attr_set(ctx.get(), SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS), "seccomp bad-arch action");
  KATA_NEGERR(seccomp_attr_set(ctx.get(), SCMP_FLTATR_CTL_TSYNC, 1), "seccomp TSYNC");
  KATA_NEGERR(seccomp_attr_set(ctx.get(), SCMP_FLTATR_CTL_NNP, 1), "seccomp no_new_privs");
  // The kernel logs kill actions (audit type 1326, SECCOMP) and SCMP_ACT_LOG on its own. Errno
  // answers are logged only with this flag: on in errno mode, where they are the denials being
  // diagnosed; off otherwise, because the clone3 → ENOSYS entry would log every thread created.
  KATA_NEGERR(seccomp_attr_set(ctx.get(), SCMP_FLTATR_CTL_LOG, mode == SeccompMode::kErrno ? 1 : 0),
              "seccomp log attribute");
  for (const SyscallEntry& e : policy.syscalls) {
    const std::string what = "seccomp rule for " + e.name;
    if (e.errnoAction) {
      KATA_NEGERR(seccomp_rule_add(ctx.get(), SCMP_ACT_ERRNO(static_cast<uint32_t>(*e.errnoAction)), e.number, 0), what);
      continue;
    }
    if (e.allowIf.empty()) {
      KATA_NEGERR(seccomp_rule_add(ctx.get(), SCMP_ACT_ALLOW, e.number, 0), what);
      continue;
    }
    for (const SyscallRule& r : e.allowIf) {
      std::vector<scmp_arg_cmp> cmps;
      for (const ArgCheck& c : r.args) {
        scmp_arg_cmp cmp{};
        cmp.arg = c.index;
        cmp.op = toScmp(c.op);
        // SCMP_A*(SCMP_CMP_MASKED_EQ, mask, value): datum_a is the mask, datum_b the value.
        cmp.datum_a = c.op == ArgOp::kMaskedEq ? c.mask : c.value;
        cmp.datum_b = c.op == ArgOp::kMaskedEq ? c.value : 0;
        cmps.push_back(cmp);
      }
      KATA_NEGERR(seccomp_rule_add_exact_array(ctx.get(), SCMP_ACT_ALLOW, e.number, static_cast<unsigned>(cmps.size()),
                                               cmps.data()),
                  what + " (" + r.comment + ")");
    }
  }
  return ctx;
}

}  // namespace

SeccompMode parseSeccompMode(const std::string& name) {
  if (name == "enforce") return SeccompMode::kEnforce;
  if (name == "errno") return SeccompMode::kErrno;
  if (name == "log") return SeccompMode::kLog;
  fail(ErrorKind::kInvalidArgument,
       "unknown seccomp mode \"" + name + "\": use enforce (kill on a denied call), errno (fail it with EPERM) or log");
}

const char* seccompModeName(SeccompMode mode) {
  switch (mode) {
    case SeccompMode::kEnforce: return "enforce";
    case SeccompMode::kErrno: return "errno";
    case SeccompMode::kLog: return "log";
  }
  return "?";
}

std::optional<uint64_t> seccompConstant(std::string_view name) {
  for (const auto& c : kConstants)
    if (name == c.name) return c.value;
  return std::nullopt;
}

const SyscallEntry* SeccompPolicy::find(std::string_view syscallName) const {
  for (const auto& e : syscalls)
    if (e.name == syscallName) return &e;
  return nullptr;
}

SeccompPolicy parseSeccompPolicy(std::string_view text, const std::string& origin) {
  json doc;
  try {
    doc = json::parse(text.begin(), text.end());
  } catch (const json::exception& e) {
    fail(ErrorKind::kInvalidArgument, "seccomp policy " + origin + " is not valid JSON: " + e.what());
  }
  if (!doc.is_object()) bad(origin, "top level", "must be an object");
  onlyKeys(doc, {"policy", "description", "syscalls"}, origin, "top level");
  SeccompPolicy policy;
  policy.name = requiredString(doc, "policy", origin, "top level");
  policy.description = requiredString(doc, "description", origin, "top level");
  auto list = doc.find("syscalls");
  if (list == doc.end() || !list->is_array() || list->empty()) bad(origin, "top level", "\"syscalls\" must be a non-empty array");
  std::set<std::string> names;
  std::set<int> numbers;
  for (size_t i = 0; i < list->size(); ++i) {
    const json& s = (*list)[i];
    std::string where = "syscalls[" + std::to_string(i) + "]";
    if (!s.is_object()) bad(origin, where, "an entry must be an object");
    onlyKeys(s, {"syscall", "reason", "allow_if", "action"}, origin, where);
    SyscallEntry e;
    e.name = requiredString(s, "syscall", origin, where);
    where += " (" + e.name + ")";
    e.reason = requiredString(s, "reason", origin, where);
    if (e.reason.size() < 8) bad(origin, where, "\"reason\" must say why the daemon needs the call");
    e.number = seccomp_syscall_resolve_name(e.name.c_str());
    if (e.number == __NR_SCMP_ERROR)
      bad(origin, where, "unknown system call \"" + e.name + "\" on this architecture");
    if (e.number < 0)
      bad(origin, where, "\"" + e.name + "\" is not a real system call on this architecture (libseccomp pseudo-syscall)");
    if (!names.insert(e.name).second) bad(origin, where, "duplicate entry: merge the reasons into one");
    if (!numbers.insert(e.number).second) bad(origin, where, "another entry names the same system call number");
    if (auto a = s.find("allow_if"); a != s.end()) {
      if (!a->is_array() || a->empty()) bad(origin, where, "\"allow_if\" must be a non-empty array of rules");
      for (size_t j = 0; j < a->size(); ++j)
        e.allowIf.push_back(parseRule((*a)[j], origin, where + " allow_if[" + std::to_string(j) + "]"));
    }
    if (auto a = s.find("action"); a != s.end()) {
      if (!a->is_object()) bad(origin, where, "\"action\" must be an object like {\"errno\": \"ENOSYS\"}");
      onlyKeys(*a, {"errno"}, origin, where + " action");
      std::string err = requiredString(*a, "errno", origin, where + " action");
      auto v = seccompConstant(err);
      if (!v || err[0] != 'E') bad(origin, where, "unknown errno \"" + err + "\"");
      e.errnoAction = static_cast<int>(*v);
      if (!e.allowIf.empty()) bad(origin, where, "\"action\" and \"allow_if\" together are not supported");
    }
    policy.syscalls.push_back(std::move(e));
  }
  return policy;
}

size_t seccompProgramSize(const SeccompPolicy& policy, SeccompMode mode) {
  SeccompCtx ctx = buildFilter(policy, mode);
  UniqueFd mem(KATA_SYSCALL(::memfd_create("seccomp-bpf", MFD_CLOEXEC), "memfd for the seccomp program"));
  KATA_NEGERR(seccomp_export_bpf(ctx.get(), mem.get()), "seccomp_export_bpf");
  struct stat st {};
  KATA_SYSCALL(::fstat(mem.get(), &st), "fstat seccomp program");
  return static_cast<size_t>(st.st_size) / 8;  // one sock_filter is 8 bytes
}

void installSeccompPolicy(const SeccompPolicy& policy, SeccompMode mode) {
  SeccompCtx ctx = buildFilter(policy, mode);
  int rc = seccomp_load(ctx.get());
  // With TSYNC, a positive result is the id of a thread that could not be synchronized.
  if (rc > 0)
    fail(ErrorKind::kFailedPrecondition, "seccomp: thread " + std::to_string(rc) +
                                             " could not take the filter (it runs another filter); nothing was loaded");
  if (rc < 0) throwSysError(-rc, "seccomp_load of policy " + policy.name + " (mode " + seccompModeName(mode) + ")");
}

}  // namespace kata::security
