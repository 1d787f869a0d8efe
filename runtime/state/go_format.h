// Output helpers that reproduce, byte for byte, what Go's standard library prints, so kata-ctl's
// output matches runc's where engines parse it.
#pragma once

#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace kata::state {

// encoding/json (Go 1.19, as runc 1.1 is built): objects keep the given member order; strings are
// escaped like Go (", \\, \n, \r, \t short forms; other control characters, <, >, &, U+2028 and
// U+2029 as \u00XX / \u2028; invalid UTF-8 becomes \ufffd). indent == 0 is json.Marshal; indent > 0
// is json.MarshalIndent(v, "", <indent spaces>). Empty objects and arrays print as {} and [].
// No trailing newline.
std::string goJsonMarshal(const nlohmann::ordered_json& value, int indent = 0);
std::string goJsonString(std::string_view s);

// text/tabwriter: the text's '\t'-terminated cells are aligned in columns per block of consecutive
// lines, each column as wide as its widest cell (in runes) plus padding, at least minWidth; the
// last cell of a line is not part of a column. Like tabwriter.NewWriter(w, minWidth, tabWidth,
// padding, padChar, 0) followed by Flush. padChar '\t' is not supported.
std::string goTabwriter(std::string_view text, int minWidth, int padding, char padChar = ' ');

}  // namespace kata::state
