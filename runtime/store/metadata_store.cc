#include "runtime/store/metadata_store.h"

#include "common/error.h"

namespace kata::store {

namespace {

bool isSegmentChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '+' ||
         c == ',' || c == '.' || c == '=' || c == '-';
}

}  // namespace

bool looksLikeTempFile(const std::string& seg) {
  if (seg.size() < 6 || seg[0] != '.') return false;
  size_t pos = seg.rfind(".tmp");
  if (pos == std::string::npos || pos == 0 || pos + 4 == seg.size()) return false;
  for (size_t i = pos + 4; i < seg.size(); ++i)
    if (seg[i] < '0' || seg[i] > '9') return false;
  return true;
}

void validateKey(const std::string& key) {
  auto bad = [&](const std::string& why) {
    fail(ErrorKind::kInvalidArgument, "invalid metadata key \"" + key.substr(0, 80) +
                                          (key.size() > 80 ? "..." : "") + "\": " + why);
  };
  if (key.empty()) bad("empty");
  if (key.size() > kMaxKeyLength) bad("longer than " + std::to_string(kMaxKeyLength) + " bytes");
  if (key.front() == '/') bad("absolute keys are not allowed");
  size_t start = 0;
  size_t depth = 0;
  for (;;) {
    size_t end = key.find('/', start);
    std::string seg = key.substr(start, end == std::string::npos ? std::string::npos : end - start);
    ++depth;
    if (seg.empty()) bad("empty path segment");
    if (seg == "." || seg == "..") bad("\".\" and \"..\" segments are not allowed");
    if (seg.size() > kMaxKeySegmentLength)
      bad("a segment is longer than " + std::to_string(kMaxKeySegmentLength) + " bytes");
    for (char c : seg)
      if (!isSegmentChar(c)) bad("only [A-Za-z0-9_+,.=-] and '/' are allowed");
    if (looksLikeTempFile(seg)) bad("segment \"" + seg + "\" is reserved for temporary files");
    if (end == std::string::npos) break;
    start = end + 1;
  }
  if (depth > kMaxKeyDepth) bad("more than " + std::to_string(kMaxKeyDepth) + " segments");
}

}  // namespace kata::store
