// Big-endian (network order) integers in byte buffers: the one conversion every Tandem wire
// codec uses (the replication frames, NBD). Header-only, pure; thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace tandem {

// Stores the low `bytes` bytes of `v` at `p`, most significant first. Precondition: bytes <= 8.
inline void putBe(std::byte* p, uint64_t v, size_t bytes) {
  for (size_t i = bytes; i-- > 0;) {
    p[i] = static_cast<std::byte>(v & 0xFFu);
    v >>= 8;
  }
}

// Reads `bytes` bytes at `p` as a big-endian number. Precondition: bytes <= 8.
inline uint64_t getBe(const std::byte* p, size_t bytes) {
  uint64_t v = 0;
  for (size_t i = 0; i < bytes; ++i) v = (v << 8) | static_cast<uint8_t>(p[i]);
  return v;
}

// Appends the low `bytes` bytes of `v` to `out`, most significant first.
inline void appendBe(std::vector<std::byte>& out, uint64_t v, size_t bytes) {
  size_t at = out.size();
  out.resize(at + bytes);
  putBe(out.data() + at, v, bytes);
}

}  // namespace tandem
