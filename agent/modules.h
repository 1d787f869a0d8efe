// Kernel modules the image carries (guest/build-image.sh puts them, uncompressed, in one directory
// with a "load-order" file listing one file name per line, dependencies first).
#pragma once

#include <string>
#include <vector>

#include "agent/console_log.h"

namespace kata::agent {

// Parses the load-order file: one bare file name ("virtio_ring.ko") per line; blank lines and
// '#' comments are skipped. Throws kInvalidArgument for a name with a '/' or one not ending in ".ko"
// (the file comes from our own image, so a bad line is a build bug worth stopping on).
std::vector<std::string> parseLoadOrder(const std::string& text);

// Loads every module of dir/load-order with finit_module, in order. A module already present
// (EEXIST, e.g. built into the kernel) counts as loaded. A failure is logged and does not stop the
// others: a guest missing one driver is still worth reaching from the host. Returns the module names
// (without ".ko") that are loaded. An image without a load-order file loads nothing.
std::vector<std::string> loadModules(const std::string& dir, const ConsoleLog& log);

}  // namespace kata::agent
