#include "kata-ctl/signals.h"

#include <array>
#include <string>
#include <utility>

#include "common/error.h"
#include "kata-ctl/go_units.h"

namespace kata::ctl {
namespace {

// Linux's numbering (x86, arm, and the generic ABI), which is what the guest kernel uses.
constexpr std::array<std::pair<int, std::string_view>, 31> kSignals{{
    {1, "SIGHUP"},     {2, "SIGINT"},     {3, "SIGQUIT"},   {4, "SIGILL"},    {5, "SIGTRAP"},
    {6, "SIGABRT"},    {7, "SIGBUS"},     {8, "SIGFPE"},    {9, "SIGKILL"},   {10, "SIGUSR1"},
    {11, "SIGSEGV"},   {12, "SIGUSR2"},   {13, "SIGPIPE"},  {14, "SIGALRM"},  {15, "SIGTERM"},
    {16, "SIGSTKFLT"}, {17, "SIGCHLD"},   {18, "SIGCONT"},  {19, "SIGSTOP"},  {20, "SIGTSTP"},
    {21, "SIGTTIN"},   {22, "SIGTTOU"},   {23, "SIGURG"},   {24, "SIGXCPU"},  {25, "SIGXFSZ"},
    {26, "SIGVTALRM"}, {27, "SIGPROF"},   {28, "SIGWINCH"}, {29, "SIGIO"},    {30, "SIGPWR"},
    {31, "SIGSYS"},
}};

}  // namespace

long long parseSignal(std::string_view raw) {
  // strconv.Atoi: decimal only, optional sign, no prefixes or underscores.
  if (auto n = parseGoInt10(raw)) return *n;
  std::string name;
  for (char c : raw) name += static_cast<char>(c >= 'a' && c <= 'z' ? c - 'a' + 'A' : c);
  if (name.rfind("SIG", 0) != 0) name = "SIG" + name;
  for (const auto& [num, n] : kSignals) {
    if (n == name) return num;
  }
  fail(ErrorKind::kInvalidArgument, "unknown signal \"" + std::string(raw) + "\"");
}

std::string_view signalName(int sig) {
  for (const auto& [num, n] : kSignals) {
    if (num == sig) return n;
  }
  return {};
}

}  // namespace kata::ctl
