// SHA-256 (FIPS 180-4), for integrity checks of files the runtime loads (the guest image). Small
// and dependency-free, so the static agent and every host component can use it.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace kata {

class Sha256 {
 public:
  Sha256();
  void update(const void* data, size_t size);
  void update(std::string_view s) { update(s.data(), s.size()); }
  // The digest; the object must not be updated afterwards.
  std::array<uint8_t, 32> finish();
  // Lower-case hex of finish().
  std::string finishHex();

 private:
  void block(const uint8_t* p);
  std::array<uint32_t, 8> h_;
  std::array<uint8_t, 64> buf_{};
  size_t bufLen_ = 0;
  uint64_t totalBytes_ = 0;
};

std::string sha256Hex(std::string_view data);

}  // namespace kata
