#include "common/time.h"

#include <gtest/gtest.h>

#include "common/error.h"

using namespace std::chrono;

namespace kata {
namespace {

system_clock::time_point at(long long secs, long long nanos) {
  return system_clock::time_point(duration_cast<system_clock::duration>(seconds(secs) + nanoseconds(nanos)));
}

TEST(Rfc3339Nano, TrimsTrailingZerosLikeGo) {
  EXPECT_EQ(rfc3339Nano(at(0, 0)), "1970-01-01T00:00:00Z");
  EXPECT_EQ(rfc3339Nano(at(1700000000, 500000000)), "2023-11-14T22:13:20.5Z");
  EXPECT_EQ(rfc3339Nano(at(1700000000, 123456789)), "2023-11-14T22:13:20.123456789Z");
  EXPECT_EQ(rfc3339Nano(at(1700000000, 120)), "2023-11-14T22:13:20.00000012Z");
}

TEST(Rfc3339Nano, RoundTrips) {
  auto t = at(1790000000, 987654321);
  EXPECT_EQ(parseRfc3339(rfc3339Nano(t)), t);
  EXPECT_EQ(parseRfc3339("2023-11-14T23:13:20.5+01:00"), at(1700000000, 500000000));
}

TEST(Rfc3339Nano, RejectsGarbage) {
  for (const char* bad : {"", "2023-11-14", "2023-11-14T22:13:20", "2023-13-14T22:13:20Z",
                          "2023-11-14T22:13:20.Z", "2023-11-14T22:13:20Zjunk"}) {
    EXPECT_THROW(parseRfc3339(bad), Error) << bad;
  }
}

}  // namespace
}  // namespace kata
