// Kernel modules the image carries. guest/build-image.sh puts them, uncompressed, in one directory
// with two lists of file names, dependencies first: "load-order" (what the agent channel needs:
// loaded before serving) and "load-order.late" (everything else: loaded by a background thread while
// the agent already serves, since module loading costs most of a second under TCG).
#pragma once

#include <mutex>
#include <string>
#include <vector>

#include "agent/console_log.h"

namespace kata::agent {

// Parses the load-order file: one bare file name ("virtio_ring.ko") per line; blank lines and
// '#' comments are skipped. Throws kInvalidArgument for a name with a '/' or one not ending in ".ko"
// (the file comes from our own image, so a bad line is a build bug worth stopping on).
std::vector<std::string> parseLoadOrder(const std::string& text);

// Loads every module listed in dir/<orderFile> with finit_module, in order. A module already present
// (EEXIST, e.g. built into the kernel) counts as loaded. A failure is logged and does not stop the
// others: a guest missing one driver is still worth reaching from the host. Returns the module names
// (without ".ko") that are loaded. A missing order file loads nothing.
std::vector<std::string> loadModules(const std::string& dir, const std::string& orderFile, const ConsoleLog& log);

// The modules loaded so far, shared between the background loader thread and the RPC server.
class LoadedModules {
 public:
  void add(const std::vector<std::string>& names) {
    std::lock_guard<std::mutex> lock(mu_);
    names_.insert(names_.end(), names.begin(), names.end());
  }
  void setLoading(bool loading) {
    std::lock_guard<std::mutex> lock(mu_);
    loading_ = loading;
  }
  std::vector<std::string> names() const {
    std::lock_guard<std::mutex> lock(mu_);
    return names_;
  }
  bool loading() const {
    std::lock_guard<std::mutex> lock(mu_);
    return loading_;
  }

 private:
  mutable std::mutex mu_;
  std::vector<std::string> names_;
  bool loading_ = false;
};

}  // namespace kata::agent
