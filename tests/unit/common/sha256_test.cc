#include "common/sha256.h"

#include <gtest/gtest.h>

#include <string>

namespace {

TEST(Sha256, KnownVectors) {
  // FIPS 180-4 examples and the empty message.
  EXPECT_EQ(kata::sha256Hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(kata::sha256Hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(kata::sha256Hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  EXPECT_EQ(kata::sha256Hex(std::string(1000000, 'a')),
            "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

TEST(Sha256, SplitUpdatesMatchOneShot) {
  std::string data;
  for (int i = 0; i < 1000; ++i) data += static_cast<char>(i * 7);
  for (size_t cut : {0u, 1u, 55u, 56u, 63u, 64u, 65u, 500u, 999u}) {
    kata::Sha256 h;
    h.update(data.substr(0, cut));
    h.update(data.substr(cut));
    EXPECT_EQ(h.finishHex(), kata::sha256Hex(data)) << "cut at " << cut;
  }
}

}  // namespace
