// The duties of PID 1 in the guest that have nothing to do with the host protocol: the early file
// systems, the console, and powering off. Each step is one function so main() reads as the boot
// sequence.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "agent/console_log.h"
#include "common/fd.h"

namespace kata::agent {

struct MountSpec {
  const char* source;
  const char* target;
  const char* fstype;
  unsigned long flags;
  const char* data;
};

// /proc, /sys, /dev (devtmpfs), /dev/pts, /dev/shm, /run, /tmp, in that order.
const std::vector<MountSpec>& earlyMounts();

// Creates each target (mode 0755) and mounts it; a target that is already a mount point of the same
// type (e.g. devtmpfs mounted by the kernel) is left alone. Throws on the first failure: without
// /proc and /dev the agent cannot do its job.
void mountAll(const std::vector<MountSpec>& mounts);

// Opens /dev/console and makes it fds 0, 1 and 2 (the kernel could not, since /dev was empty when it
// started init). Returns false, leaving the fds as they are, when the console cannot be opened.
bool attachConsole();

// sync(), then reboot(RB_POWER_OFF); if the kernel cannot power off, reboot(RB_AUTOBOOT), which
// QEMU started with -no-reboot turns into an exit too. Does not return.
[[noreturn]] void powerOff(const ConsoleLog& log);

}  // namespace kata::agent

namespace kata::agent {

// The value of "key=value" on a kernel command line (/proc/cmdline text); nullopt when absent.
// Quoting is not supported (the agent's own parameters never need it).
std::optional<std::string> kernelCmdlineValue(const std::string& cmdline, const std::string& key);

}  // namespace kata::agent
