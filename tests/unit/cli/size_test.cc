#include "tandem/cli/size.h"

#include <gtest/gtest.h>

namespace tandem::cli {
namespace {

// Binary and decimal units, plain bytes, fractions that make whole bytes, any letter case.
TEST(ParseSize, AcceptsUnitsBytesAndExactFractions) {
  EXPECT_EQ(*parseSize("4096"), 4096u);
  EXPECT_EQ(*parseSize("4096B"), 4096u);
  EXPECT_EQ(*parseSize("1GiB"), 1ULL << 30);
  EXPECT_EQ(*parseSize("512MiB"), 512ULL << 20);
  EXPECT_EQ(*parseSize("10G"), 10ULL << 30);
  EXPECT_EQ(*parseSize("10g"), 10ULL << 30);
  EXPECT_EQ(*parseSize("1gib"), 1ULL << 30);
  EXPECT_EQ(*parseSize("100MB"), 100'000'000u);
  EXPECT_EQ(*parseSize("2K"), 2048u);
  EXPECT_EQ(*parseSize("1.5GiB"), 3ULL << 29);
  EXPECT_EQ(*parseSize("1TiB"), 1ULL << 40);
  EXPECT_EQ(*parseSize("2PiB"), 2ULL << 50);
}

// Junk, signs, spaces, empty parts, zero and fractions of a byte are refused.
TEST(ParseSize, RejectsMalformedInput) {
  for (const char* bad : {"", "GiB", "-1GiB", "+1G", " 1G", "1G ", "1 GiB", "1.G", ".5G", "1..5G",
                          "1GiBs", "1x", "0", "0GiB", "0.0G", "1.5B", "0.1GiB", "1,5G", "0x10",
                          "1.0000000001G"}) {
    auto r = parseSize(bad);
    EXPECT_FALSE(r.isOk()) << "'" << bad << "' gave " << (r.isOk() ? *r : 0);
    if (!r.isOk()) {
      EXPECT_EQ(r.status().code(), ErrorCode::kInvalidArgument);
    }
  }
}

// Values beyond 64 bits fail instead of wrapping around.
TEST(ParseSize, RejectsOverflow) {
  EXPECT_EQ(*parseSize("18446744073709551615"), UINT64_MAX);
  EXPECT_FALSE(parseSize("18446744073709551616").isOk());
  EXPECT_FALSE(parseSize("99999999999999999999999B").isOk());
  EXPECT_FALSE(parseSize("16384PiB").isOk());
  EXPECT_EQ(*parseSize("16383PiB"), 16383ULL << 50);
  EXPECT_FALSE(parseSize("16383.9999PiB").isOk());  // fraction pushes it over
}

// Human-readable sizes use binary units with one decimal.
TEST(FormatSize, UsesBinaryUnitsWithOneDecimal) {
  EXPECT_EQ(formatSize(0), "0 B");
  EXPECT_EQ(formatSize(1023), "1023 B");
  EXPECT_EQ(formatSize(1024), "1.0 KiB");
  EXPECT_EQ(formatSize(1ULL << 30), "1.0 GiB");
  EXPECT_EQ(formatSize(3ULL << 29), "1.5 GiB");
  EXPECT_EQ(formatSize(10ULL << 40), "10.0 TiB");
}

}  // namespace
}  // namespace tandem::cli
