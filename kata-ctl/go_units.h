// Parsers for the value syntaxes runc inherits from Go and its libraries, so a flag value an engine
// passes to runc means the same to kata-ctl.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string_view>

namespace kata::ctl {

// Go's time.ParseDuration ("1h2m3.5s", "500ms", "-1.5us", "0"). nullopt when Go would return an
// error (bad syntax, unknown unit, overflow).
std::optional<std::chrono::nanoseconds> parseGoDuration(std::string_view s);

// docker/go-units RAMInBytes as vendored by runc 1.1 (v0.4): "<number>[ ][kmgtp][i][b]", binary
// multipliers, case-insensitive ("512m", "1.5GiB", "10 kb"). Throws kInvalidArgument with go-units'
// own wording ("invalid size: '1x'") so runc's "invalid value for memory: ..." can be rebuilt.
int64_t parseRamInBytes(std::string_view s);

// Go's strconv.ParseInt(s, 0, 64): optional sign, then decimal, 0x hex, 0o/0 octal or 0b binary,
// underscores only between digits after a base prefix. nullopt on bad syntax or overflow.
std::optional<int64_t> parseGoInt(std::string_view s);
// strconv.ParseUint(s, 10, 64) (what runc's update uses for periods and shares).
std::optional<uint64_t> parseGoUint10(std::string_view s);
// strconv.ParseInt(s, 10, 64).
std::optional<int64_t> parseGoInt10(std::string_view s);

}  // namespace kata::ctl
