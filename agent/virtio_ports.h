// Finding a virtio-serial port by the name the host gave it (-device virtserialport,name=...).
#pragma once

#include <optional>
#include <string>

namespace kata::agent {

// Scans sysRoot/class/virtio-ports/*/name (sysRoot is normally "/sys") for a port named `name` and
// returns its device node name (e.g. "vport1p1", to open under /dev). nullopt when none matches yet
// (the driver may still be probing). Entries that cannot be read are skipped.
std::optional<std::string> findVirtioPort(const std::string& sysRoot, const std::string& name);

}  // namespace kata::agent
