// Tests of the pure NBD codec: round trips, exact wire bytes, and malformed input.
#include "tandem/nbd/protocol.h"

#include <gtest/gtest.h>

#include <random>

namespace tandem::nbd {
namespace {

Bytes hex(std::initializer_list<int> values) {
  Bytes out;
  for (int v : values) out.push_back(static_cast<std::byte>(v));
  return out;
}

Bytes text(std::string_view s) {
  return Bytes(reinterpret_cast<const std::byte*>(s.data()), reinterpret_cast<const std::byte*>(s.data()) + s.size());
}

// The greeting is NBDMAGIC, IHAVEOPT and the flags, big-endian.
TEST(NbdProtocol, GreetingHasSpecBytesAndRoundTrips) {
  Bytes g = encodeGreeting(kFlagFixedNewstyle | kFlagNoZeroes);
  ASSERT_EQ(g.size(), kGreetingSize);
  EXPECT_EQ(Bytes(g.begin(), g.begin() + 8), text("NBDMAGIC"));
  EXPECT_EQ(Bytes(g.begin() + 8, g.begin() + 16), text("IHAVEOPT"));
  EXPECT_EQ(Bytes(g.begin() + 16, g.end()), hex({0x00, 0x03}));
  auto flags = decodeGreeting(g);
  ASSERT_TRUE(flags.isOk());
  EXPECT_EQ(*flags, 3);
}

// A greeting with a wrong magic or length is rejected as a protocol error.
TEST(NbdProtocol, GreetingWithBadMagicOrLengthIsRejected) {
  Bytes g = encodeGreeting(1);
  g[0] = std::byte{'X'};
  EXPECT_EQ(decodeGreeting(g).status().code(), ErrorCode::kProtocol);
  Bytes whole = encodeGreeting(1);
  EXPECT_FALSE(decodeGreeting(std::span(whole).first(17)).isOk());
}

// An option request round trips through header decode and carries its data.
TEST(NbdProtocol, OptionRequestRoundTrips) {
  Bytes data = text("abc");
  Bytes o = encodeOption(OptionType::kExportName, data);
  ASSERT_EQ(o.size(), kOptionHeaderSize + 3);
  auto header = decodeOptionHeader(std::span(o).first(kOptionHeaderSize));
  ASSERT_TRUE(header.isOk());
  EXPECT_EQ(header->option, OptionType::kExportName);
  EXPECT_EQ(header->length, 3u);
  EXPECT_EQ(Bytes(o.begin() + kOptionHeaderSize, o.end()), data);
}

// Unknown option numbers are preserved, not rejected, so the server can answer ERR_UNSUP.
TEST(NbdProtocol, UnknownOptionNumberIsPreserved) {
  Bytes o = encodeOption(static_cast<OptionType>(0x1234), {});
  auto header = decodeOptionHeader(o);
  ASSERT_TRUE(header.isOk());
  EXPECT_EQ(static_cast<uint32_t>(header->option), 0x1234u);
}

// An option header without the IHAVEOPT magic is a protocol error.
TEST(NbdProtocol, OptionHeaderWithBadMagicIsRejected) {
  Bytes o = encodeOption(OptionType::kList, {});
  o[3] = std::byte{0};
  EXPECT_EQ(decodeOptionHeader(o).status().code(), ErrorCode::kProtocol);
}

// Option replies carry the reply magic, the option, the type and the data length.
TEST(NbdProtocol, OptionReplyRoundTripsWithSpecMagic) {
  Bytes r = encodeOptionReply(OptionType::kGo, ReplyType::kErrUnknown, text("no"));
  EXPECT_EQ(Bytes(r.begin(), r.begin() + 8), hex({0x00, 0x03, 0xe8, 0x89, 0x04, 0x55, 0x65, 0xa9}));
  auto header = decodeOptionReplyHeader(std::span(r).first(kOptionReplyHeaderSize));
  ASSERT_TRUE(header.isOk());
  EXPECT_EQ(header->option, OptionType::kGo);
  EXPECT_EQ(header->type, ReplyType::kErrUnknown);
  EXPECT_TRUE(isErrorReply(header->type));
  EXPECT_EQ(header->length, 2u);
  EXPECT_EQ(static_cast<uint32_t>(ReplyType::kErrUnsup), 0x80000001u);
}

// INFO/GO data round trips: name and the list of information requests.
TEST(NbdProtocol, InfoRequestRoundTrips) {
  InfoRequest in{"vol-1", {InfoType::kBlockSize, InfoType::kName}};
  auto out = decodeInfoRequest(encodeInfoRequest(in));
  ASSERT_TRUE(out.isOk());
  EXPECT_EQ(out->export_name, "vol-1");
  EXPECT_EQ(out->requests, in.requests);
}

// INFO/GO data whose lengths disagree (short, long, huge name length) is rejected.
TEST(NbdProtocol, InfoRequestWithInconsistentLengthsIsRejected) {
  Bytes good = encodeInfoRequest(InfoRequest{"v", {InfoType::kBlockSize}});
  EXPECT_FALSE(decodeInfoRequest(std::span(good).first(good.size() - 1)).isOk());
  Bytes longer = good;
  longer.push_back(std::byte{0});
  EXPECT_FALSE(decodeInfoRequest(longer).isOk());
  EXPECT_FALSE(decodeInfoRequest(hex({0xff, 0xff, 0xff, 0xff, 0, 0})).isOk());
  EXPECT_FALSE(decodeInfoRequest({}).isOk());
  EXPECT_FALSE(decodeInfoRequest(encodeInfoRequest(InfoRequest{std::string("a\0b", 3), {}})).isOk());
}

// Every NBD_REP_INFO payload kind round trips.
TEST(NbdProtocol, InfoRepliesRoundTrip) {
  auto e = decodeInfoReply(encodeInfoExport(1ull << 40, kTransHasFlags | kTransSendFlush));
  ASSERT_TRUE(e.isOk());
  EXPECT_EQ(e->type, InfoType::kExport);
  EXPECT_EQ(e->size_bytes, 1ull << 40);
  EXPECT_EQ(e->transmission_flags, kTransHasFlags | kTransSendFlush);

  BlockSizeConstraints sizes{1, 4096, 1u << 25};
  auto b = decodeInfoReply(encodeInfoBlockSize(sizes));
  ASSERT_TRUE(b.isOk());
  EXPECT_EQ(b->block_sizes, sizes);

  auto n = decodeInfoReply(encodeInfoName("disk"));
  ASSERT_TRUE(n.isOk());
  EXPECT_EQ(n->type, InfoType::kName);
  EXPECT_EQ(n->text, "disk");

  Bytes truncated = encodeInfoExport(1, 1);
  truncated.pop_back();
  EXPECT_FALSE(decodeInfoReply(truncated).isOk());
}

// NBD_REP_SERVER data round trips with and without a description.
TEST(NbdProtocol, ServerReplyDataRoundTrips) {
  auto s = decodeServerReplyData(encodeServerReplyData("a", "desc"));
  ASSERT_TRUE(s.isOk());
  EXPECT_EQ(s->export_name, "a");
  EXPECT_EQ(s->description, "desc");
  EXPECT_FALSE(decodeServerReplyData(hex({0, 0, 0, 9, 'a'})).isOk());
}

// The EXPORT_NAME answer has 124 zero bytes unless NO_ZEROES was negotiated.
TEST(NbdProtocol, ExportNameReplyHonoursNoZeroes) {
  EXPECT_EQ(encodeExportNameReply(512, 1, false).size(), 134u);
  Bytes short_reply = encodeExportNameReply(512, 0x6d, true);
  ASSERT_EQ(short_reply.size(), 10u);
  auto r = decodeExportNameReply(short_reply);
  ASSERT_TRUE(r.isOk());
  EXPECT_EQ(r->size_bytes, 512u);
  EXPECT_EQ(r->transmission_flags, 0x6d);
  EXPECT_FALSE(decodeExportNameReply(std::span(short_reply).first(9)).isOk());
}

// Meta context requests decode; counts that cannot fit in the data are rejected.
TEST(NbdProtocol, MetaContextRequestDecodesAndRejectsBadCounts) {
  Bytes data = hex({0, 0, 0, 1, 'v', 0, 0, 0, 1, 0, 0, 0, 3, 'b', 'a', ':'});
  auto r = decodeMetaContextRequest(data);
  ASSERT_TRUE(r.isOk());
  EXPECT_EQ(r->export_name, "v");
  ASSERT_EQ(r->queries.size(), 1u);
  EXPECT_EQ(r->queries[0], "ba:");
  EXPECT_FALSE(decodeMetaContextRequest(hex({0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff})).isOk());
}

// A request header has the spec layout: magic, flags, type, handle, offset, length.
TEST(NbdProtocol, RequestHeaderRoundTripsWithSpecLayout) {
  Request in{kCmdFlagFua, Command::kWrite, 0x0102030405060708ull, 4096, 512};
  Bytes b = encodeRequestHeader(in);
  ASSERT_EQ(b.size(), kRequestHeaderSize);
  EXPECT_EQ(Bytes(b.begin(), b.begin() + 8), hex({0x25, 0x60, 0x95, 0x13, 0x00, 0x01, 0x00, 0x01}));
  auto out = decodeRequestHeader(b);
  ASSERT_TRUE(out.isOk());
  EXPECT_EQ(*out, in);
  b[0] = std::byte{0};
  EXPECT_EQ(decodeRequestHeader(b).status().code(), ErrorCode::kProtocol);
}

// A simple reply header round trips and carries the NBD error value.
TEST(NbdProtocol, SimpleReplyRoundTrips) {
  SimpleReply in{NbdError::kNoSpc, 42};
  Bytes b = encodeSimpleReplyHeader(in);
  EXPECT_EQ(Bytes(b.begin(), b.begin() + 8), hex({0x67, 0x44, 0x66, 0x98, 0, 0, 0, 28}));
  auto out = decodeSimpleReplyHeader(b);
  ASSERT_TRUE(out.isOk());
  EXPECT_EQ(*out, in);
}

// Statuses map to the NBD error values clients understand.
TEST(NbdProtocol, StatusesMapToNbdErrors) {
  EXPECT_EQ(nbdErrorFromStatus(Status::ok()), NbdError::kOk);
  EXPECT_EQ(nbdErrorFromStatus(Status(ErrorCode::kInvalidArgument, "x")), NbdError::kInval);
  EXPECT_EQ(nbdErrorFromStatus(Status(ErrorCode::kNoSpace, "x")), NbdError::kNoSpc);
  EXPECT_EQ(nbdErrorFromStatus(Status(ErrorCode::kPermissionDenied, "x")), NbdError::kPerm);
  EXPECT_EQ(nbdErrorFromStatus(Status(ErrorCode::kIo, "x")), NbdError::kIo);
  EXPECT_EQ(nbdErrorFromStatus(Status(ErrorCode::kUnavailable, "x")), NbdError::kIo);
}

// Random bytes never crash any decoder (a tiny in-test fuzz loop, fixed seed).
TEST(NbdProtocol, DecodersSurviveRandomInput) {
  std::mt19937 rng(1234);
  for (int i = 0; i < 20000; ++i) {
    Bytes b(rng() % 40);
    for (auto& x : b) x = static_cast<std::byte>(rng());
    (void)decodeGreeting(b);
    (void)decodeOptionHeader(b);
    (void)decodeOptionReplyHeader(b);
    (void)decodeInfoRequest(b);
    (void)decodeMetaContextRequest(b);
    (void)decodeServerReplyData(b);
    (void)decodeInfoReply(b);
    (void)decodeExportNameReply(b);
    (void)decodeRequestHeader(b);
    (void)decodeSimpleReplyHeader(b);
  }
  SUCCEED();
}

}  // namespace
}  // namespace tandem::nbd
