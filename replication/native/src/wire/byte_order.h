// Big-endian (network order) field access for the replication wire codec. Header-only, pure.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace tandem::replication::wire {

inline void putBe(std::byte* p, uint64_t v, int bytes) {
  for (int i = bytes - 1; i >= 0; --i) {
    p[i] = static_cast<std::byte>(v & 0xFFu);
    v >>= 8;
  }
}

inline uint64_t getBe(const std::byte* p, int bytes) {
  uint64_t v = 0;
  for (int i = 0; i < bytes; ++i) v = (v << 8) | static_cast<uint8_t>(p[i]);
  return v;
}

inline void appendBe(std::vector<std::byte>& out, uint64_t v, int bytes) {
  size_t at = out.size();
  out.resize(at + static_cast<size_t>(bytes));
  putBe(out.data() + at, v, bytes);
}

}  // namespace tandem::replication::wire
