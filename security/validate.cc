#include "security/validate.h"

#include <sys/stat.h>
#include <unistd.h>

#include "common/error.h"

namespace kata::security {
namespace {

bool nameChar(char c, bool first) {
  bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
  return alnum || (!first && (c == '_' || c == '.' || c == '-'));
}

}  // namespace

std::string quoteForMessage(const std::string& value) {
  std::string out = "\"";
  for (size_t i = 0; i < value.size() && i < 64; ++i) {
    unsigned char c = static_cast<unsigned char>(value[i]);
    if (c < 0x20 || c >= 0x7f || c == '"' || c == '\\') {
      static const char* hex = "0123456789abcdef";
      out += "\\x";
      out += hex[c >> 4];
      out += hex[c & 15];
    } else {
      out += static_cast<char>(c);
    }
  }
  if (value.size() > 64) out += "...";
  return out + "\"";
}

void validateName(const std::string& name, const std::string& what) {
  // The first character is alphanumeric, so "." and ".." can never pass.
  bool ok = !name.empty() && name.size() <= 64;
  for (size_t i = 0; ok && i < name.size(); ++i) ok = nameChar(name[i], i == 0);
  if (!ok)
    fail(ErrorKind::kInvalidArgument, "invalid " + what + " " + quoteForMessage(name) +
                                          ": use 1-64 characters of [A-Za-z0-9_.-], starting with a letter or digit");
}

void validateSandboxId(const std::string& id) { validateName(id, "sandbox id"); }

void validateAbsolutePath(const std::string& path, const std::string& what) {
  bool ok = !path.empty() && path.size() < 4096 && path[0] == '/';
  for (char c : path) ok = ok && static_cast<unsigned char>(c) >= 0x20 && c != 0x7f;
  if (ok && path.size() > 1) {
    if (path.back() == '/' || path.find("//") != std::string::npos) ok = false;
    size_t start = 1;
    while (ok && start <= path.size()) {
      size_t end = path.find('/', start);
      if (end == std::string::npos) end = path.size();
      std::string comp = path.substr(start, end - start);
      if (comp == "." || comp == "..") ok = false;
      start = end + 1;
    }
  }
  if (!ok)
    fail(ErrorKind::kInvalidArgument, "invalid " + what + " " + quoteForMessage(path) +
                                          ": expected an absolute, normalized path without . or .. components");
}

void validateExecutable(const std::string& path) {
  validateAbsolutePath(path, "program");
  struct stat st {};
  KATA_SYSCALL(::stat(path.c_str(), &st), path);
  if (!S_ISREG(st.st_mode)) fail(ErrorKind::kInvalidArgument, path + " is not a regular file");
  if (!(st.st_mode & 0111)) fail(ErrorKind::kPermissionDenied, path + " is not executable");
}

}  // namespace kata::security
