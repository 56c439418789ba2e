#include "wire/crc32c.h"

#include <gtest/gtest.h>

#include <string_view>
#include <vector>

namespace tandem::replication::wire {
namespace {

std::span<const std::byte> bytesOf(std::string_view s) {
  return std::as_bytes(std::span<const char>(s.data(), s.size()));
}

// Bit-at-a-time reference implementation.
uint32_t referenceCrc32c(std::span<const std::byte> data) {
  uint32_t c = 0xFFFFFFFFu;
  for (std::byte b : data) {
    c ^= static_cast<uint8_t>(b);
    for (int k = 0; k < 8; ++k) c = (c & 1u) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
  }
  return ~c;
}

// The standard check value and the RFC 3720 (iSCSI) test vectors.
TEST(Crc32c, MatchesKnownVectors) {
  EXPECT_EQ(crc32c(bytesOf("123456789")), 0xE3069283u);
  EXPECT_EQ(crc32c({}), 0u);
  std::vector<std::byte> zeros(32, std::byte{0});
  EXPECT_EQ(crc32c(zeros), 0x8A9136AAu);
  std::vector<std::byte> ones(32, std::byte{0xFF});
  EXPECT_EQ(crc32c(ones), 0x62A8AB43u);
  std::vector<std::byte> ascending(32);
  for (size_t i = 0; i < 32; ++i) ascending[i] = static_cast<std::byte>(i);
  EXPECT_EQ(crc32c(ascending), 0x46DD794Eu);
}

// Both implementations (hardware where the CPU has it, and slice-by-8) agree with the bitwise
// reference for every length and alignment.
TEST(Crc32c, AgreesWithBitwiseReferenceAtEveryLength) {
  RecordProperty("hardware_crc32c", crc32cHardwareAvailable() ? "yes" : "no");
  std::vector<std::byte> data(300);
  for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<std::byte>((i * 131 + 7) & 0xFF);
  for (size_t start = 0; start < 9; ++start) {
    for (size_t len = 0; start + len <= data.size(); len += 13) {
      auto s = std::span<const std::byte>(data).subspan(start, len);
      ASSERT_EQ(crc32c(s), referenceCrc32c(s)) << start << "+" << len;
      ASSERT_EQ(crc32cSoftware(s), referenceCrc32c(s)) << start << "+" << len;
    }
  }
}

// A CRC can be continued over pieces.
TEST(Crc32c, ContinuesAcrossPieces) {
  auto all = bytesOf("The quick brown fox jumps over the lazy dog");
  uint32_t piecewise = crc32c(all.subspan(10), crc32c(all.first(10)));
  EXPECT_EQ(piecewise, crc32c(all));
  EXPECT_EQ(crc32cSoftware(all.subspan(10), crc32cSoftware(all.first(10))), crc32c(all));
}

}  // namespace
}  // namespace tandem::replication::wire
