// Signal names and numbers as `runc kill` accepts them.
#pragma once

#include <string_view>

namespace kata::ctl {

// runc's parseSignal: a decimal number is taken as is (even one no signal has: the kill then fails),
// otherwise a name with or without "SIG", any case ("KILL", "sigkill", "SIGKILL"). Only the 31
// classic signals have names, as in Go's x/sys/unix table. Throws kInvalidArgument
// `unknown signal "<raw>"` otherwise.
long long parseSignal(std::string_view raw);

// "SIGKILL" for 9; empty for a number with no name.
std::string_view signalName(int sig);

}  // namespace kata::ctl
