// Time stamps in the formats engines parse.
#pragma once

#include <chrono>
#include <string>

namespace kata {

std::chrono::system_clock::time_point nowUtc();
// Go's time.RFC3339Nano in UTC: "2006-01-02T15:04:05.999999999Z", trailing zeros of the fraction
// dropped (and the dot with them when the fraction is zero), exactly as runc prints "created".
std::string rfc3339Nano(std::chrono::system_clock::time_point t);
// Parses what rfc3339Nano prints (also accepts a numeric offset). Throws kInvalidArgument.
std::chrono::system_clock::time_point parseRfc3339(const std::string& s);

}  // namespace kata
