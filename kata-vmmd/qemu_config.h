// The typed model of a QEMU invocation, and its one translation into argv. Every value that reaches a
// QEMU option string is validated or escaped here: QEMU's option syntax splits on ',' and a path like
// "/x,readonly=off" would otherwise inject an option ("," is escaped as ",,", QEMU's own rule).
//
// The same translation produces the QMP arguments for hot-plugging a device, so a device looks the
// same cold- and hot-plugged.
#pragma once

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

#include "kata-vmmd/arch.h"
#include "kata-vmmd/hypervisor.h"

namespace kata::vmmd {

// Where QMP listens: a listening unix socket the caller created (fd, preferred: the socket lives in
// a directory the daemon owns and QEMU never needs its path) or a path QEMU creates itself.
struct QmpEndpoint {
  std::string path;
  int listenFd = -1;
};

struct QemuConfig {
  std::string binary;  // empty: the architecture's default, found in PATH
  std::string name;    // the VM's name as QEMU shows it (the sandbox id)
  Accel accel = Accel::kTcg;  // resolved: kKvm or kTcg (kAuto is refused; resolve it first)
  std::string cpuModel;       // empty: the architecture's choice for the accelerator
  unsigned vcpus = 1;
  unsigned maxVcpus = 0;  // 0: vcpus
  MemorySpec memory;
  KernelSpec kernel;
  QmpEndpoint qmp;
  std::string consoleLogPath;  // empty: no console device at all
  unsigned hotplugRootPorts = 0;
  std::vector<Device> devices;
  bool startPaused = false;  // -S: CPUs wait for "cont" (used when devices are added before boot)
  bool seccompSandbox = true;  // QEMU's own -sandbox (the jailed launcher adds uid/caps on top)
};

// Checks the config (ids, sizes, counts, paths) and returns QEMU's argv, argv[0] included.
std::vector<std::string> buildQemuArgs(const QemuConfig& config, const Arch& arch);

// The id of the i-th hot-plug root port ("rp0", ...): the bus a hot-plugged device goes to.
std::string rootPortId(unsigned index);

// QMP arguments for hot-plugging a device into the given bus (a free root port), including the
// backend objects it needs. A hot-plug is: getfd for every fd (names as returned by fdNames),
// then each backend command in order, then device_add with deviceAdd.
struct HotplugPlan {
  std::vector<std::pair<std::string, int>> fds;  // getfd name → fd to pass
  std::vector<std::pair<std::string, nlohmann::json>> backends;  // (command, arguments)
  nlohmann::json deviceAdd;
};
HotplugPlan planHotplug(const Device& device, const std::string& bus, const Arch& arch);

// Validation shared by everything that names a device: [A-Za-z0-9_-]{1,32}.
void validateDeviceId(const std::string& id);
// Escapes a value for QEMU's option syntax (',' → ',,'); refuses control characters and empty paths.
std::string qemuOptValue(const std::string& value, const std::string& what);

}  // namespace kata::vmmd
