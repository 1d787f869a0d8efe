#include "kata-ctl/go_units.h"

#include <gtest/gtest.h>

#include "common/error.h"
#include "kata-ctl/signals.h"

namespace kata::ctl {
namespace {

using std::chrono::nanoseconds;

TEST(GoDuration, ParsesWhatGoParses) {
  EXPECT_EQ(parseGoDuration("5s"), nanoseconds(5'000'000'000));
  EXPECT_EQ(parseGoDuration("500ms"), nanoseconds(500'000'000));
  EXPECT_EQ(parseGoDuration("1h2m3.5s"), nanoseconds((3600LL + 120 + 3) * 1'000'000'000 + 500'000'000));
  EXPECT_EQ(parseGoDuration("0"), nanoseconds(0));
  EXPECT_EQ(parseGoDuration("-1.5us"), nanoseconds(-1500));
  EXPECT_EQ(parseGoDuration("+2ns"), nanoseconds(2));
  EXPECT_EQ(parseGoDuration(".5s"), nanoseconds(500'000'000));
  EXPECT_EQ(parseGoDuration("1\u00b5s"), nanoseconds(1000));
  EXPECT_EQ(parseGoDuration("2562047h47m16.854775807s"), nanoseconds(INT64_MAX));
}

TEST(GoDuration, RejectsWhatGoRejects) {
  for (const char* bad : {"", "5", "5x", "s", "-", ".s", "1.2.3s", "5 s", "1e3s", "2562047h47m16.854775808s",
                          "9999999999999999999h"}) {
    EXPECT_FALSE(parseGoDuration(bad).has_value()) << bad;
  }
}

TEST(RamInBytes, BinaryUnitsAnyCase) {
  EXPECT_EQ(parseRamInBytes("10"), 10);
  EXPECT_EQ(parseRamInBytes("1k"), 1024);
  EXPECT_EQ(parseRamInBytes("1kib"), 1024);
  EXPECT_EQ(parseRamInBytes("1KB"), 1024);
  EXPECT_EQ(parseRamInBytes("512m"), 512LL << 20);
  EXPECT_EQ(parseRamInBytes("1.5GiB"), 3LL << 29);
  EXPECT_EQ(parseRamInBytes("10 b"), 10);
  EXPECT_EQ(parseRamInBytes("1 "), 1);
  EXPECT_EQ(parseRamInBytes("2t"), 2LL << 40);
  EXPECT_EQ(parseRamInBytes("1p"), 1LL << 50);
}

TEST(RamInBytes, ErrorsInGoUnitsWording) {
  // Checked against runc 1.1.5: `runc update --memory 1x` says "invalid size: '1x'", and so for
  // "1.5xb" (the regex form of go-units v0.4, not v0.5's "invalid suffix").
  for (const char* bad : {"1x", "1.5xb", "", "-1", "k", "1kk", " 1", "1.", "0x10"}) {
    try {
      parseRamInBytes(bad);
      ADD_FAILURE() << bad;
    } catch (const Error& e) {
      EXPECT_EQ(e.what(), "invalid size: '" + std::string(bad) + "'") << bad;
    }
  }
}

TEST(GoInt, BasePrefixesLikeStrconv) {
  EXPECT_EQ(parseGoInt("42"), 42);
  EXPECT_EQ(parseGoInt("-7"), -7);
  EXPECT_EQ(parseGoInt("0x10"), 16);
  EXPECT_EQ(parseGoInt("010"), 8);
  EXPECT_EQ(parseGoInt("0o17"), 15);
  EXPECT_EQ(parseGoInt("0b101"), 5);
  EXPECT_EQ(parseGoInt("0x_1f"), 31);
  EXPECT_EQ(parseGoInt("-9223372036854775808"), INT64_MIN);
  for (const char* bad : {"", "x", "08", "1_000", "9223372036854775808", "0x", "1.0", " 1"}) {
    EXPECT_FALSE(parseGoInt(bad).has_value()) << bad;
  }
  EXPECT_EQ(parseGoUint10("18446744073709551615"), UINT64_MAX);
  EXPECT_FALSE(parseGoUint10("18446744073709551616").has_value());
  EXPECT_FALSE(parseGoUint10("-1").has_value());
  EXPECT_FALSE(parseGoInt10("0x10").has_value());
}

TEST(Signals, NamesNumbersAndCase) {
  EXPECT_EQ(parseSignal("KILL"), 9);
  EXPECT_EQ(parseSignal("SIGKILL"), 9);
  EXPECT_EQ(parseSignal("sigterm"), 15);
  EXPECT_EQ(parseSignal("hup"), 1);
  EXPECT_EQ(parseSignal("9"), 9);
  EXPECT_EQ(parseSignal("SIGWINCH"), 28);
  // runc takes any decimal number as is; the kill itself fails later.
  EXPECT_EQ(parseSignal("0"), 0);
  EXPECT_EQ(parseSignal("-9"), -9);
  EXPECT_EQ(parseSignal("64"), 64);
  EXPECT_EQ(signalName(9), "SIGKILL");
  EXPECT_EQ(signalName(64), "");
}

TEST(Signals, UnknownInRuncWording) {
  for (const char* bad : {"FOO", "0x9", "SIGRTMIN", "SIGIOT", "", "SIG"}) {
    try {
      parseSignal(bad);
      ADD_FAILURE() << bad;
    } catch (const Error& e) {
      EXPECT_EQ(e.what(), "unknown signal \"" + std::string(bad) + "\"") << bad;
    }
  }
}

}  // namespace
}  // namespace kata::ctl
