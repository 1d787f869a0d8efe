#include "agent/virtio_ports.h"

#include <dirent.h>
#include <fcntl.h>

#include "common/error.h"
#include "common/fd.h"
#include "common/fs.h"

namespace kata::agent {

std::optional<std::string> findVirtioPort(const std::string& sysRoot, const std::string& name) {
  std::string classDir = sysRoot + "/class/virtio-ports";
  int raw = ::open(classDir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (raw < 0) {
    if (errno == ENOENT) return std::nullopt;  // virtio_console not loaded (yet)
    throwSysError(errno, "open " + classDir);
  }
  UniqueFd dirFd(raw);
  DIR* dir = ::fdopendir(::dup(dirFd.get()));
  if (dir == nullptr) throwSysError(errno, "fdopendir " + classDir);
  std::optional<std::string> found;
  while (struct dirent* e = ::readdir(dir)) {
    std::string port = e->d_name;
    if (port == "." || port == "..") continue;
    // Device names are "vport<dev>p<port>"; anything else is not ours to open under /dev.
    if (port.rfind("vport", 0) != 0 || port.find('/') != std::string::npos) continue;
    std::optional<std::string> portName;
    try {
      portName = readFileIfExists(dirFd.get(), port + "/name", 4096);
    } catch (const Error&) {
      continue;
    }
    if (!portName) continue;
    while (!portName->empty() && portName->back() == '\n') portName->pop_back();
    if (*portName == name) {
      found = port;
      break;
    }
  }
  ::closedir(dir);
  return found;
}

}  // namespace kata::agent
