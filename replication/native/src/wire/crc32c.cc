#include "wire/crc32c.h"

#include <array>
#include <cstring>

namespace tandem::replication::wire {
namespace {

constexpr uint32_t kPolynomial = 0x82F63B78u;  // CRC32C, reflected

using Tables = std::array<std::array<uint32_t, 256>, 8>;

constexpr Tables makeTables() {
  Tables t{};
  for (uint32_t i = 0; i < 256; ++i) {
    uint32_t c = i;
    for (int k = 0; k < 8; ++k) c = (c & 1u) ? (c >> 1) ^ kPolynomial : c >> 1;
    t[0][i] = c;
  }
  for (uint32_t i = 0; i < 256; ++i) {
    for (size_t s = 1; s < 8; ++s) t[s][i] = (t[s - 1][i] >> 8) ^ t[0][t[s - 1][i] & 0xFFu];
  }
  return t;
}

constexpr Tables kTables = makeTables();

}  // namespace

uint32_t crc32cSoftware(std::span<const std::byte> data, uint32_t crc) {
  uint32_t c = ~crc;
  const auto* p = reinterpret_cast<const uint8_t*>(data.data());
  size_t n = data.size();
  while (n >= 8) {
    // Little-endian assembly of the first four bytes, independent of host byte order.
    uint32_t lo = c ^ (static_cast<uint32_t>(p[0]) | static_cast<uint32_t>(p[1]) << 8 |
                       static_cast<uint32_t>(p[2]) << 16 | static_cast<uint32_t>(p[3]) << 24);
    c = kTables[7][lo & 0xFFu] ^ kTables[6][(lo >> 8) & 0xFFu] ^ kTables[5][(lo >> 16) & 0xFFu] ^
        kTables[4][lo >> 24] ^ kTables[3][p[4]] ^ kTables[2][p[5]] ^ kTables[1][p[6]] ^ kTables[0][p[7]];
    p += 8;
    n -= 8;
  }
  while (n-- > 0) c = (c >> 8) ^ kTables[0][(c ^ *p++) & 0xFFu];
  return ~c;
}

#if defined(__x86_64__)
namespace {

__attribute__((target("sse4.2"))) uint32_t crc32cSse42(std::span<const std::byte> data, uint32_t crc) {
  uint64_t c = ~crc;
  const auto* p = reinterpret_cast<const uint8_t*>(data.data());
  size_t n = data.size();
  while (n >= 8) {
    uint64_t word;
    std::memcpy(&word, p, 8);  // x86 is little-endian, as the CRC's byte order wants
    c = __builtin_ia32_crc32di(c, word);
    p += 8;
    n -= 8;
  }
  uint32_t c32 = static_cast<uint32_t>(c);
  while (n-- > 0) c32 = __builtin_ia32_crc32qi(c32, *p++);
  return ~c32;
}

}  // namespace

bool crc32cHardwareAvailable() {
  static const bool available = __builtin_cpu_supports("sse4.2");
  return available;
}

uint32_t crc32c(std::span<const std::byte> data, uint32_t crc) {
  return crc32cHardwareAvailable() ? crc32cSse42(data, crc) : crc32cSoftware(data, crc);
}
#else
bool crc32cHardwareAvailable() { return false; }
uint32_t crc32c(std::span<const std::byte> data, uint32_t crc) { return crc32cSoftware(data, crc); }
#endif

}  // namespace tandem::replication::wire
