#include "security/validate.h"

#include <sys/stat.h>
#include <unistd.h>

#include <regex>

#include "common/error.h"

namespace kata::security {

void validateSandboxId(const std::string& id) {
  static const std::regex re("^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$");
  if (!std::regex_match(id, re) || id == "." || id == "..")
    fail(ErrorKind::kInvalidArgument, "invalid sandbox id \"" + id.substr(0, 80) +
                                          "\": use 1-64 characters of [A-Za-z0-9_.-], starting with a letter or digit");
}

void validateAbsolutePath(const std::string& path, const std::string& what) {
  if (path.empty() || path[0] != '/') fail(ErrorKind::kInvalidArgument, what + " must be an absolute path: \"" + path + "\"");
  if (path.size() > 4095) fail(ErrorKind::kInvalidArgument, what + " is longer than PATH_MAX");
  size_t start = 1;
  while (start <= path.size()) {
    size_t end = path.find('/', start);
    if (end == std::string::npos) end = path.size();
    std::string comp = path.substr(start, end - start);
    if ((comp.empty() && end != path.size()) || comp == "." || comp == "..")
      fail(ErrorKind::kInvalidArgument, what + " is not a normalized path: \"" + path + "\"");
    start = end + 1;
  }
  for (char c : path)
    if (static_cast<unsigned char>(c) < 0x20) fail(ErrorKind::kInvalidArgument, what + " contains a control character");
}

void validateExecutable(const std::string& path) {
  validateAbsolutePath(path, "program");
  struct stat st {};
  KATA_SYSCALL(::stat(path.c_str(), &st), path);
  if (!S_ISREG(st.st_mode)) fail(ErrorKind::kInvalidArgument, path + " is not a regular file");
  if (!(st.st_mode & 0111)) fail(ErrorKind::kPermissionDenied, path + " is not executable");
}

}  // namespace kata::security
