#include "kata-vmmd/validation.h"

#include "common/error.h"

namespace kata::vmmd {
namespace {

bool idChar(char c, bool first) {
  bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
  return alnum || (!first && (c == '_' || c == '.' || c == '-'));
}

void validateIdLike(const std::string& id, const std::string& what) {
  bool ok = !id.empty() && id.size() <= 64;
  for (size_t i = 0; ok && i < id.size(); ++i) ok = idChar(id[i], i == 0);
  if (!ok)
    fail(ErrorKind::kInvalidArgument, "invalid " + what + " " + quoteForMessage(id) +
                                          ": use 1-64 characters from [A-Za-z0-9_.-], starting with a letter or digit");
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

void validateSandboxId(const std::string& id) { validateIdLike(id, "sandbox id"); }
void validateShareName(const std::string& name) { validateIdLike(name, "share name"); }

void validatePath(const std::string& path, const std::string& what) {
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

void validateText(const std::string& text, size_t maxBytes, const std::string& what) {
  if (text.size() > maxBytes)
    fail(ErrorKind::kInvalidArgument, what + " is " + std::to_string(text.size()) + " bytes, the limit is " +
                                          std::to_string(maxBytes));
  for (char c : text)
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f)
      fail(ErrorKind::kInvalidArgument, what + " contains a control character");
}

}  // namespace kata::vmmd
