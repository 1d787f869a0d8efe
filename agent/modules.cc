#include "agent/modules.h"

#include <fcntl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common/error.h"
#include "common/fd.h"
#include "common/fs.h"

namespace kata::agent {

std::vector<std::string> parseLoadOrder(const std::string& text) {
  std::vector<std::string> out;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t eol = text.find('\n', pos);
    if (eol == std::string::npos) eol = text.size();
    std::string line = text.substr(pos, eol - pos);
    pos = eol + 1;
    while (!line.empty() && (line.back() == ' ' || line.back() == '\t' || line.back() == '\r')) line.pop_back();
    if (line.empty() || line[0] == '#') continue;
    if (line.find('/') != std::string::npos || line.size() < 4 || line.size() > 255 ||
        line.compare(line.size() - 3, 3, ".ko") != 0)
      fail(ErrorKind::kInvalidArgument,
           "module load order: bad entry \"" + line + "\": expected a file name ending in .ko; rebuild the guest image");
    out.push_back(line);
  }
  return out;
}

std::vector<std::string> loadModules(const std::string& dir, const std::string& orderFile, const ConsoleLog& log) {
  UniqueFd dirFd(KATA_SYSCALL(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC), dir));
  auto order = readFileIfExists(dirFd.get(), orderFile, 64 * 1024);
  std::vector<std::string> loaded;
  if (!order) {
    log.warn("no module load order in the image; loading none", {{"dir", dir}, {"file", orderFile}});
    return loaded;
  }
  for (const std::string& file : parseLoadOrder(*order)) {
    std::string name = file.substr(0, file.size() - 3);
    try {
      UniqueFd fd(KATA_SYSCALL(::openat(dirFd.get(), file.c_str(), O_RDONLY | O_CLOEXEC), dir + "/" + file));
      if (::syscall(SYS_finit_module, fd.get(), "", 0) != 0 && errno != EEXIST)
        throwSysError(errno, "finit_module " + dir + "/" + file);
      loaded.push_back(name);
    } catch (const Error& e) {
      log.error("failed to load a kernel module; the devices it drives will be missing",
                {{"module", name}, {"error", e.what()}});
    }
  }
  return loaded;
}

}  // namespace kata::agent
