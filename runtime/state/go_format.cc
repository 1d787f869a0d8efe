#include "runtime/state/go_format.h"

#include <cstdint>
#include <vector>

#include "common/error.h"

namespace kata::state {

namespace {

// Go's utf8.DecodeRuneInString: returns the rune and its length; an invalid or truncated sequence,
// an overlong form, a surrogate or a value past U+10FFFF decodes as (U+FFFD, 1).
std::pair<uint32_t, size_t> decodeRune(std::string_view s, size_t i) {
  auto b = [&](size_t k) { return static_cast<unsigned char>(s[i + k]); };
  auto cont = [&](size_t k) { return i + k < s.size() && (b(k) & 0xC0) == 0x80; };
  unsigned char c = b(0);
  if (c < 0x80) return {c, 1};
  constexpr std::pair<uint32_t, size_t> kError{0xFFFD, 1};
  if (c >= 0xC2 && c <= 0xDF) {
    if (!cont(1)) return kError;
    return {((c & 0x1Fu) << 6) | (b(1) & 0x3Fu), 2};
  }
  if (c >= 0xE0 && c <= 0xEF) {
    if (!cont(1) || !cont(2)) return kError;
    uint32_t r = ((c & 0x0Fu) << 12) | ((b(1) & 0x3Fu) << 6) | (b(2) & 0x3Fu);
    if (r < 0x800 || (r >= 0xD800 && r <= 0xDFFF)) return kError;
    return {r, 3};
  }
  if (c >= 0xF0 && c <= 0xF4) {
    if (!cont(1) || !cont(2) || !cont(3)) return kError;
    uint32_t r = ((c & 0x07u) << 18) | ((b(1) & 0x3Fu) << 12) | ((b(2) & 0x3Fu) << 6) | (b(3) & 0x3Fu);
    if (r < 0x10000 || r > 0x10FFFF) return kError;
    return {r, 4};
  }
  return kError;
}

size_t runeCount(std::string_view s) {
  size_t n = 0;
  for (size_t i = 0; i < s.size(); i += decodeRune(s, i).second) ++n;
  return n;
}

void marshal(std::string& out, const nlohmann::ordered_json& v, int indent, int level) {
  auto newline = [&](int lvl) {
    if (indent <= 0) return;
    out += '\n';
    out.append(static_cast<size_t>(indent * lvl), ' ');
  };
  switch (v.type()) {
    case nlohmann::ordered_json::value_t::object: {
      if (v.empty()) {
        out += "{}";
        return;
      }
      out += '{';
      bool first = true;
      for (const auto& [key, member] : v.items()) {
        if (!first) out += ',';
        first = false;
        newline(level + 1);
        out += goJsonString(key);
        out += indent > 0 ? ": " : ":";
        marshal(out, member, indent, level + 1);
      }
      newline(level);
      out += '}';
      return;
    }
    case nlohmann::ordered_json::value_t::array: {
      if (v.empty()) {
        out += "[]";
        return;
      }
      out += '[';
      bool first = true;
      for (const auto& element : v) {
        if (!first) out += ',';
        first = false;
        newline(level + 1);
        marshal(out, element, indent, level + 1);
      }
      newline(level);
      out += ']';
      return;
    }
    case nlohmann::ordered_json::value_t::string:
      out += goJsonString(v.get_ref<const std::string&>());
      return;
    case nlohmann::ordered_json::value_t::number_integer:
    case nlohmann::ordered_json::value_t::number_unsigned:
    case nlohmann::ordered_json::value_t::boolean:
    case nlohmann::ordered_json::value_t::null:
      out += v.dump();
      return;
    default:
      // Floats and binary never occur in runc's state output; refusing beats printing differently.
      fail(ErrorKind::kInternal, "goJsonMarshal: unsupported JSON value type " + std::string(v.type_name()));
  }
}

}  // namespace

std::string goJsonString(std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(s.size() + 2);
  out += '"';
  for (size_t i = 0; i < s.size();) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      switch (c) {
        case '"': out += "\\\""; break;
        case '\\': out += "\\\\"; break;
        case '\n': out += "\\n"; break;
        case '\r': out += "\\r"; break;
        case '\t': out += "\\t"; break;
        default:
          if (c < 0x20 || c == '<' || c == '>' || c == '&') {
            out += "\\u00";
            out += kHex[c >> 4];
            out += kHex[c & 0xF];
          } else {
            out += static_cast<char>(c);
          }
      }
      ++i;
      continue;
    }
    auto [rune, size] = decodeRune(s, i);
    if (rune == 0xFFFD && size == 1) {
      out += "\\ufffd";
    } else if (rune == 0x2028 || rune == 0x2029) {
      out += "\\u202";
      out += kHex[rune & 0xF];
    } else {
      out.append(s.substr(i, size));
    }
    i += size;
  }
  out += '"';
  return out;
}

std::string goJsonMarshal(const nlohmann::ordered_json& value, int indent) {
  std::string out;
  marshal(out, value, indent, 0);
  return out;
}

std::string goTabwriter(std::string_view text, int minWidth, int padding, char padChar) {
  if (padChar == '\t') fail(ErrorKind::kInternal, "goTabwriter: tab padding is not supported");
  struct Cell {
    std::string_view text;
    size_t width;
  };
  using Line = std::vector<Cell>;
  std::string out;
  std::vector<Line> lines(1);
  std::vector<size_t> widths;

  auto writeLines = [&](size_t line0, size_t line1) {
    for (size_t i = line0; i < line1; ++i) {
      const Line& line = lines[i];
      for (size_t j = 0; j < line.size(); ++j) {
        const Cell& c = line[j];
        out += c.text;
        if (j < widths.size() && widths[j] > c.width) out.append(widths[j] - c.width, padChar);
      }
      if (i + 1 != lines.size()) out += '\n';
    }
  };
  // Go's Writer.format: a column block is a run of consecutive lines that all have a cell in the
  // current column; its width is fixed before the columns to its right are formatted.
  auto format = [&](auto& self, size_t line0, size_t line1) -> void {
    size_t column = widths.size();
    for (size_t th = line0; th < line1; ++th) {
      if (column + 1 >= lines[th].size()) continue;
      writeLines(line0, th);
      line0 = th;
      size_t width = static_cast<size_t>(minWidth);
      for (; th < line1; ++th) {
        if (column + 1 >= lines[th].size()) break;
        size_t w = lines[th][column].width + static_cast<size_t>(padding);
        if (w > width) width = w;
      }
      widths.push_back(width);
      self(self, line0, th);
      widths.pop_back();
      line0 = th;  // the loop's ++ then skips the line that ended the block, as Go's does
    }
    writeLines(line0, line1);
  };
  auto flush = [&]() {
    format(format, 0, lines.size());
    lines.assign(1, Line{});
  };

  size_t cellStart = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    char ch = text[i];
    if (ch != '\t' && ch != '\v' && ch != '\n' && ch != '\f') continue;
    std::string_view cell = text.substr(cellStart, i - cellStart);
    lines.back().push_back({cell, runeCount(cell)});
    cellStart = i + 1;
    if (ch == '\n' || ch == '\f') {
      size_t ncells = lines.back().size();
      lines.emplace_back();
      // A line with a single cell cannot affect later columns, so Go flushes there (and on \f).
      if (ch == '\f' || ncells == 1) flush();
    }
  }
  std::string_view rest = text.substr(cellStart);
  if (!rest.empty()) lines.back().push_back({rest, runeCount(rest)});
  flush();
  return out;
}

}  // namespace kata::state
