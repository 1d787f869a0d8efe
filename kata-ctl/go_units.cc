#include "kata-ctl/go_units.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <string>

#include "common/error.h"

namespace kata::ctl {
namespace {

constexpr uint64_t kMaxDuration = uint64_t{1} << 63;

bool isDigit(char c) { return c >= '0' && c <= '9'; }

// Go's leadingInt: consumes leading decimal digits; false on overflow past 1<<63.
bool leadingInt(std::string_view& s, uint64_t& x) {
  size_t i = 0;
  x = 0;
  for (; i < s.size() && isDigit(s[i]); ++i) {
    if (x > kMaxDuration / 10) return false;
    x = x * 10 + static_cast<uint64_t>(s[i] - '0');
    if (x > kMaxDuration) return false;
  }
  s.remove_prefix(i);
  return true;
}

// Go's leadingFraction: digits after the dot; precision beyond what fits is dropped, not an error.
void leadingFraction(std::string_view& s, uint64_t& x, double& scale) {
  size_t i = 0;
  x = 0;
  scale = 1;
  bool overflow = false;
  for (; i < s.size() && isDigit(s[i]); ++i) {
    if (overflow) continue;
    if (x > (kMaxDuration - 1) / 10) {
      overflow = true;
      continue;
    }
    uint64_t y = x * 10 + static_cast<uint64_t>(s[i] - '0');
    if (y > kMaxDuration) {
      overflow = true;
      continue;
    }
    x = y;
    scale *= 10;
  }
  s.remove_prefix(i);
}

std::optional<uint64_t> unitNanos(std::string_view u) {
  if (u == "ns") return 1;
  if (u == "us" || u == "\u00b5s" || u == "\u03bcs") return 1000;
  if (u == "ms") return 1000 * 1000;
  if (u == "s") return 1000 * 1000 * 1000;
  if (u == "m") return uint64_t{60} * 1000 * 1000 * 1000;
  if (u == "h") return uint64_t{3600} * 1000 * 1000 * 1000;
  return std::nullopt;
}

// Digits in `base` with Go's underscore rule handled by the caller; accumulates into an unsigned
// value and reports overflow past `limit`.
std::optional<uint64_t> parseDigits(std::string_view s, int base, uint64_t limit, bool allowUnderscore) {
  if (s.empty()) return std::nullopt;
  uint64_t v = 0;
  char prev = '_';  // a leading underscore is an error; so is a trailing one or a double one
  bool any = false;
  for (char c : s) {
    if (c == '_') {
      if (!allowUnderscore || prev == '_') return std::nullopt;
      prev = c;
      continue;
    }
    int d;
    if (c >= '0' && c <= '9') d = c - '0';
    else if (c >= 'a' && c <= 'z') d = c - 'a' + 10;
    else if (c >= 'A' && c <= 'Z') d = c - 'A' + 10;
    else return std::nullopt;
    if (d >= base) return std::nullopt;
    if (v > (limit - static_cast<uint64_t>(d)) / static_cast<uint64_t>(base)) return std::nullopt;
    v = v * static_cast<uint64_t>(base) + static_cast<uint64_t>(d);
    prev = c;
    any = true;
  }
  if (!any || prev == '_') return std::nullopt;
  return v;
}

std::optional<int64_t> signedFromMagnitude(bool neg, std::optional<uint64_t> mag) {
  if (!mag) return std::nullopt;
  if (neg) {
    if (*mag > uint64_t{1} << 63) return std::nullopt;
    return static_cast<int64_t>(0 - *mag);
  }
  if (*mag > static_cast<uint64_t>(INT64_MAX)) return std::nullopt;
  return static_cast<int64_t>(*mag);
}

}  // namespace

std::optional<std::chrono::nanoseconds> parseGoDuration(std::string_view s) {
  uint64_t d = 0;
  bool neg = false;
  if (!s.empty() && (s[0] == '-' || s[0] == '+')) {
    neg = s[0] == '-';
    s.remove_prefix(1);
  }
  if (s == "0") return std::chrono::nanoseconds(0);
  if (s.empty()) return std::nullopt;
  while (!s.empty()) {
    if (!(s[0] == '.' || isDigit(s[0]))) return std::nullopt;
    size_t before = s.size();
    uint64_t v = 0;
    if (!leadingInt(s, v)) return std::nullopt;
    bool pre = before != s.size();
    bool post = false;
    uint64_t f = 0;
    double scale = 1;
    if (!s.empty() && s[0] == '.') {
      s.remove_prefix(1);
      size_t pl = s.size();
      leadingFraction(s, f, scale);
      post = pl != s.size();
    }
    if (!pre && !post) return std::nullopt;
    size_t i = 0;
    for (; i < s.size(); ++i) {
      if (s[i] == '.' || isDigit(s[i])) break;
    }
    if (i == 0) return std::nullopt;  // missing unit
    auto unit = unitNanos(s.substr(0, i));
    s.remove_prefix(i);
    if (!unit) return std::nullopt;
    if (v > kMaxDuration / *unit) return std::nullopt;
    v *= *unit;
    if (f > 0) {
      v += static_cast<uint64_t>(static_cast<double>(f) * (static_cast<double>(*unit) / scale));
      if (v > kMaxDuration) return std::nullopt;
    }
    d += v;
    if (d > kMaxDuration) return std::nullopt;
  }
  if (neg) return std::chrono::nanoseconds(static_cast<int64_t>(0 - d));
  if (d > kMaxDuration - 1) return std::nullopt;
  return std::chrono::nanoseconds(static_cast<int64_t>(d));
}

int64_t parseRamInBytes(std::string_view s) {
  const std::string original(s);
  auto invalid = [&]() -> int64_t { fail(ErrorKind::kInvalidArgument, "invalid size: '" + original + "'"); };
  // ^(\d+(\.\d+)*) ?([kKmMgGtTpP])?[iI]?[bB]?$
  size_t i = 0;
  auto digits = [&]() {
    size_t start = i;
    while (i < s.size() && isDigit(s[i])) ++i;
    return i > start;
  };
  if (!digits()) return invalid();
  while (i + 1 < s.size() && s[i] == '.' && isDigit(s[i + 1])) {
    ++i;
    digits();
  }
  std::string number(s.substr(0, i));
  if (i < s.size() && s[i] == ' ') ++i;
  char unit = 0;
  if (i < s.size() && std::string_view("kKmMgGtTpP").find(s[i]) != std::string_view::npos) unit = s[i++];
  if (i < s.size() && (s[i] == 'i' || s[i] == 'I')) ++i;
  if (i < s.size() && (s[i] == 'b' || s[i] == 'B')) ++i;
  if (i != s.size()) return invalid();
  if (std::count(number.begin(), number.end(), '.') > 1) {
    fail(ErrorKind::kInvalidArgument, "strconv.ParseFloat: parsing \"" + number + "\": invalid syntax");
  }
  double size = std::strtod(number.c_str(), nullptr);
  if (std::isinf(size)) {
    fail(ErrorKind::kInvalidArgument, "strconv.ParseFloat: parsing \"" + number + "\": value out of range");
  }
  double mul = 1;
  switch (unit | 0x20) {  // lower case; 0x20 maps 0 to ' ', which matches no unit
    case 'k': mul = 1024.0; break;
    case 'm': mul = 1024.0 * 1024; break;
    case 'g': mul = 1024.0 * 1024 * 1024; break;
    case 't': mul = 1024.0 * 1024 * 1024 * 1024; break;
    case 'p': mul = 1024.0 * 1024 * 1024 * 1024 * 1024; break;
    default: break;
  }
  size *= mul;
  // Go's float64 -> int64 conversion of an out-of-range value yields INT64_MIN on amd64.
  if (size >= 9223372036854775808.0) return INT64_MIN;
  return static_cast<int64_t>(size);
}

std::optional<int64_t> parseGoInt(std::string_view s) {
  bool neg = false;
  if (!s.empty() && (s[0] == '-' || s[0] == '+')) {
    neg = s[0] == '-';
    s.remove_prefix(1);
  }
  int base = 10;
  bool prefixed = false;
  if (s.size() >= 2 && s[0] == '0') {
    char p = static_cast<char>(s[1] | 0x20);
    if (p == 'x') base = 16, prefixed = true;
    else if (p == 'o') base = 8, prefixed = true;
    else if (p == 'b') base = 2, prefixed = true;
    else base = 8;
  }
  if (prefixed) {
    s.remove_prefix(2);
    // Go allows "0x_1f": an underscore right after the prefix.
    if (!s.empty() && s[0] == '_') s.remove_prefix(1);
  } else if (base == 8) {
    s.remove_prefix(1);
    if (!s.empty() && s[0] == '_') s.remove_prefix(1);
  }
  // Go accepts underscores as digit separators only when the base comes from a prefix.
  return signedFromMagnitude(neg, parseDigits(s, base, UINT64_MAX, base != 10));
}

std::optional<uint64_t> parseGoUint10(std::string_view s) {
  return parseDigits(s, 10, UINT64_MAX, false);
}

std::optional<int64_t> parseGoInt10(std::string_view s) {
  bool neg = false;
  if (!s.empty() && (s[0] == '-' || s[0] == '+')) {
    neg = s[0] == '-';
    s.remove_prefix(1);
  }
  return signedFromMagnitude(neg, parseDigits(s, 10, UINT64_MAX, false));
}

}  // namespace kata::ctl
