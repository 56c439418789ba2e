#include "tandem/controller/tokens.h"

#include <set>

#include <gtest/gtest.h>

namespace tandem::controller {
namespace {

// Tokens are 256-bit random hex strings, never repeated.
TEST(Tokens, AreLongRandomHex) {
  std::set<std::string> seen;
  for (int i = 0; i < 100; ++i) {
    auto token = newToken();
    ASSERT_TRUE(token.isOk()) << token.status().toString();
    const std::string& t = *token;
    EXPECT_EQ(t.size(), 64u);
    EXPECT_EQ(t.find_first_not_of("0123456789abcdef"), std::string::npos);
    EXPECT_TRUE(seen.insert(t).second);
  }
}

// The stored hash is SHA-256 (known vector) and comparison needs equal content and length.
TEST(Tokens, HashIsSha256AndComparisonIsExact) {
  EXPECT_EQ(hashToken("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_TRUE(tokensEqual("abc", "abc"));
  EXPECT_FALSE(tokensEqual("abc", "abd"));
  EXPECT_FALSE(tokensEqual("abc", "abcd"));
}

// Without randomness there is no token: an error the caller gets as a Status, never an exception.
TEST(Tokens, NoRandomnessIsAnErrorNotAThrow) {
  auto token = newToken([](unsigned char*, size_t) { return false; });
  ASSERT_FALSE(token.isOk());
  EXPECT_EQ(token.status().code(), ErrorCode::kInternal);
}

}  // namespace
}  // namespace tandem::controller
