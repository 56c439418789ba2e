#include "tandem/http/url.h"

#include <gtest/gtest.h>

namespace tandem::http {
namespace {

// %XX escapes decode; '+' is a space only in query strings.
TEST(PercentDecode, DecodesEscapesAndPlusOnlyWhenAsked) {
  EXPECT_EQ(*percentDecode("a%20b%2Fc", false), "a b/c");
  EXPECT_EQ(*percentDecode("a+b", false), "a+b");
  EXPECT_EQ(*percentDecode("a+b", true), "a b");
}

// A truncated or non-hex escape is an error, not silently passed through.
TEST(PercentDecode, RejectsBadEscapes) {
  EXPECT_EQ(percentDecode("abc%2", false).status().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(percentDecode("abc%", false).status().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(percentDecode("%zz", false).status().code(), ErrorCode::kInvalidArgument);
}

// Encoding keeps unreserved characters and round-trips through decoding.
TEST(PercentEncode, EscapesReservedAndRoundTrips) {
  EXPECT_EQ(percentEncode("vol-1_a.b~"), "vol-1_a.b~");
  EXPECT_EQ(percentEncode("a b/c?"), "a%20b%2Fc%3F");
  std::string all;
  for (int c = 0; c < 256; ++c) all.push_back(static_cast<char>(c));
  EXPECT_EQ(*percentDecode(percentEncode(all), false), all);
}

// Query strings split on '&' and '=', decode both sides, keep flags without values.
TEST(ParseQuery, SplitsDecodesAndKeepsFlags) {
  auto q = parseQuery("after=12&name=hello%20world&flag&&x=a+b&after=13");
  ASSERT_TRUE(q.isOk());
  EXPECT_EQ(q->at("after"), "13");
  EXPECT_EQ(q->at("name"), "hello world");
  EXPECT_EQ(q->at("flag"), "");
  EXPECT_EQ(q->at("x"), "a b");
  EXPECT_EQ(q->size(), 4u);
  EXPECT_FALSE(parseQuery("a=%G0").isOk());
}

// Base URLs: https only, host and optional port, IPv6 in brackets, nothing else.
TEST(ParseBaseUrl, AcceptsHttpsHostPortOnly) {
  auto a = parseBaseUrl("https://127.0.0.1:8443");
  ASSERT_TRUE(a.isOk());
  EXPECT_EQ(a->host, "127.0.0.1");
  EXPECT_EQ(a->port, 8443);
  auto b = parseBaseUrl("https://localhost/");
  ASSERT_TRUE(b.isOk());
  EXPECT_EQ(b->host, "localhost");
  EXPECT_EQ(b->port, 443);
  auto c = parseBaseUrl("https://[::1]:9000");
  ASSERT_TRUE(c.isOk());
  EXPECT_EQ(c->host, "::1");
  EXPECT_EQ(c->port, 9000);
  for (const char* bad : {"http://x:1", "https://", "https://h:0", "https://h:65536", "https://h:1x",
                          "https://h:", "https://h/v1", "https://u@h", "https://[::1", "ftp://h"}) {
    EXPECT_EQ(parseBaseUrl(bad).status().code(), ErrorCode::kInvalidArgument) << bad;
  }
}

}  // namespace
}  // namespace tandem::http
