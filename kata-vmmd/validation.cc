#include "kata-vmmd/validation.h"

#include "common/error.h"

namespace kata::vmmd {

void validateShareName(const std::string& name) { security::validateName(name, "share name"); }

void validateText(const std::string& text, size_t maxBytes, const std::string& what) {
  if (text.size() > maxBytes)
    fail(ErrorKind::kInvalidArgument, what + " is " + std::to_string(text.size()) + " bytes, the limit is " +
                                          std::to_string(maxBytes));
  for (char c : text)
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f)
      fail(ErrorKind::kInvalidArgument, what + " contains a control character");
}

}  // namespace kata::vmmd
