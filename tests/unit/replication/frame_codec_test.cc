#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "tandem/common/big_endian.h"
#include "wire/crc32c.h"
#include "wire/frame.h"
#include "wire/messages.h"

namespace tandem::replication::wire {
namespace {

VolumeId sampleVolume() { return *volumeIdFromUuid("0f8e2a4c-1b3d-4e5f-8a9b-0c1d2e3f4a5b"); }

std::vector<std::byte> pattern(size_t n, uint8_t seed) {
  std::vector<std::byte> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = static_cast<std::byte>((i * 31 + seed) & 0xFF);
  return v;
}

// Rewrites the header CRC after a test patched header fields.
void resealHeader(std::vector<std::byte>& frame) {
  putBe(frame.data() + 60, crc32c(std::span<const std::byte>(frame.data(), 60)), 4);
}

// Every field of a WRITE frame survives encode/decode, and the header is 64 bytes.
TEST(FrameCodec, WriteFrameRoundTrips) {
  FrameHeader h;
  h.type = FrameType::kWrite;
  h.flags = kFlagFua;
  h.volume = sampleVolume();
  h.sequence = 0x0102030405060708ull;
  h.offset = 1ull << 40;
  auto payload = pattern(4096, 3);
  h.length = payload.size();
  auto bytes = encodeFrame(h, payload);
  ASSERT_EQ(bytes.size(), kHeaderSize + payload.size());
  auto frame = decodeFrame(bytes);
  ASSERT_TRUE(frame.isOk()) << frame.status().toString();
  EXPECT_EQ(frame->header.type, FrameType::kWrite);
  EXPECT_EQ(frame->header.flags, kFlagFua);
  EXPECT_EQ(frame->header.volume, h.volume);
  EXPECT_EQ(frame->header.sequence, h.sequence);
  EXPECT_EQ(frame->header.offset, h.offset);
  EXPECT_EQ(frame->header.length, 4096u);
  EXPECT_EQ(frame->header.payload_length, 4096u);
  EXPECT_EQ(frame->payload, payload);
}

// The documented byte layout: magic "TNDR", version 1, big-endian fields at fixed offsets.
TEST(FrameCodec, HeaderLayoutMatchesTheDocument) {
  FrameHeader h;
  h.type = FrameType::kTrim;
  h.volume = sampleVolume();
  h.sequence = 7;
  h.offset = 0x1000;
  h.length = 0x2000;
  auto b = encodeFrame(h, {});
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(b.data()), 4), "TNDR");
  EXPECT_EQ(getBe(b.data() + 4, 2), 4u);
  EXPECT_EQ(getBe(b.data() + 6, 2), 4u);
  EXPECT_EQ(b[12], std::byte{0x0f});
  EXPECT_EQ(getBe(b.data() + 28, 8), 7u);
  EXPECT_EQ(getBe(b.data() + 36, 8), 0x1000u);
  EXPECT_EQ(getBe(b.data() + 44, 8), 0x2000u);
  EXPECT_EQ(getBe(b.data() + 52, 4), 0u);
  EXPECT_EQ(getBe(b.data() + 56, 4), 0u);  // CRC32C of nothing
  EXPECT_EQ(getBe(b.data() + 60, 4), crc32c(std::span<const std::byte>(b.data(), 60)));
}

// SNAPSHOT and SNAPSHOT_PREPARE carry the snapshot's name (1-128 bytes), nothing else.
TEST(FrameCodec, SnapshotFramesCarryAName) {
  const std::string name = "snap-1";
  for (FrameType t : {FrameType::kSnapshot, FrameType::kSnapshotPrepare}) {
    FrameHeader h = FrameHeader::of(t);
    h.volume = sampleVolume();
    auto b = encodeFrame(h, std::as_bytes(std::span(name.data(), name.size())));
    auto decoded = decodeHeader(std::span<const std::byte>(b.data(), kHeaderSize));
    ASSERT_TRUE(decoded.isOk()) << frameTypeName(t) << ": " << decoded.status().toString();
    EXPECT_EQ(decoded->type, t);
    EXPECT_EQ(decoded->payload_length, name.size());
    auto empty = encodeFrame(h, {});
    auto refused = decodeHeader(std::span<const std::byte>(empty.data(), kHeaderSize));
    EXPECT_EQ(refused.status().code(), ErrorCode::kProtocol) << frameTypeName(t);
  }
  EXPECT_EQ(frameTypeName(FrameType::kSnapshotPrepare), "SNAPSHOT_PREPARE");
  // ABORT is a SNAPSHOT_PREPARE flag only.
  for (FrameType t : {FrameType::kSnapshotPrepare, FrameType::kSnapshot}) {
    FrameHeader h = FrameHeader::of(t);
    h.flags = kFlagAbort;
    auto b = encodeFrame(h, std::as_bytes(std::span(name.data(), name.size())));
    auto decoded = decodeHeader(std::span<const std::byte>(b.data(), kHeaderSize));
    EXPECT_EQ(decoded.isOk(), t == FrameType::kSnapshotPrepare) << frameTypeName(t);
  }
}

// Frames without data round-trip for every such type.
TEST(FrameCodec, ControlFramesRoundTrip) {
  for (FrameType t : {FrameType::kTrim, FrameType::kWriteZeroes, FrameType::kFlush, FrameType::kSyncBegin,
                      FrameType::kSyncZero, FrameType::kPing, FrameType::kPong, FrameType::kResize}) {
    FrameHeader h;
    h.type = t;
    h.volume = sampleVolume();
    h.sequence = 9;
    h.offset = 512;
    h.length = 1024;
    auto frame = decodeFrame(encodeFrame(h, {}));
    ASSERT_TRUE(frame.isOk()) << frameTypeName(t) << ": " << frame.status().toString();
    EXPECT_EQ(frame->header.type, t);
    EXPECT_EQ(frame->header.length, 1024u);
  }
}

// Flipping any single header byte is detected (magic, CRC or field check).
TEST(FrameCodec, RejectsAnyCorruptedHeaderByte) {
  FrameHeader h;
  h.type = FrameType::kWrite;
  h.volume = sampleVolume();
  h.sequence = 1;
  auto payload = pattern(100, 1);
  h.length = payload.size();
  auto good = encodeFrame(h, payload);
  for (size_t i = 0; i < kHeaderSize; ++i) {
    auto bad = good;
    bad[i] ^= std::byte{0x40};
    auto r = decodeHeader(bad);
    ASSERT_FALSE(r.isOk()) << "byte " << i;
    EXPECT_EQ(r.status().code(), ErrorCode::kProtocol);
  }
}

// A corrupted payload byte fails the payload CRC.
TEST(FrameCodec, RejectsCorruptedPayload) {
  FrameHeader h;
  h.type = FrameType::kSyncData;
  h.volume = sampleVolume();
  auto payload = pattern(1000, 2);
  h.length = payload.size();
  auto bytes = encodeFrame(h, payload);
  bytes[kHeaderSize + 500] ^= std::byte{1};
  auto r = decodeFrame(bytes);
  ASSERT_FALSE(r.isOk());
  EXPECT_EQ(r.status().code(), ErrorCode::kProtocol);
}

// Bad magic, unknown type, unknown flags, oversize payloads and inconsistent lengths are
// protocol errors even with a valid header CRC.
TEST(FrameCodec, RejectsMalformedHeadersWithValidCrc) {
  FrameHeader h;
  h.type = FrameType::kWrite;
  h.volume = sampleVolume();
  auto payload = pattern(16, 0);
  h.length = payload.size();
  const auto good = encodeFrame(h, payload);
  auto expectRejected = [](std::vector<std::byte> bytes, const char* what) {
    resealHeader(bytes);
    auto r = decodeHeader(bytes);
    ASSERT_FALSE(r.isOk()) << what;
    EXPECT_EQ(r.status().code(), ErrorCode::kProtocol) << what;
  };
  auto b = good;
  putBe(b.data(), 0x12345678, 4);
  expectRejected(b, "magic");
  b = good;
  putBe(b.data() + 4, 1, 2);  // version 1 (before split-brain detection) is refused
  expectRejected(b, "version");
  b = good;
  putBe(b.data() + 6, 99, 2);
  expectRejected(b, "type");
  b = good;
  putBe(b.data() + 8, 0x80, 4);
  expectRejected(b, "flags");
  b = good;
  putBe(b.data() + 52, kMaxPayload + 1, 4);
  expectRejected(b, "payload too large");
  b = good;
  putBe(b.data() + 44, 17, 8);
  expectRejected(b, "WRITE length != payload length");
  b = good;
  putBe(b.data() + 36, ~0ull, 8);
  expectRejected(b, "offset overflow");
  b = good;
  putBe(b.data() + 6, static_cast<uint16_t>(FrameType::kFlush), 2);
  expectRejected(b, "FLUSH with payload");
}

// Short input and trailing bytes are rejected.
TEST(FrameCodec, RejectsTruncatedAndOverlongFrames) {
  FrameHeader h;
  h.type = FrameType::kWrite;
  h.volume = sampleVolume();
  auto payload = pattern(64, 5);
  h.length = payload.size();
  auto bytes = encodeFrame(h, payload);
  EXPECT_FALSE(decodeFrame(std::span<const std::byte>(bytes).first(30)).isOk());
  EXPECT_FALSE(decodeFrame(std::span<const std::byte>(bytes).first(bytes.size() - 1)).isOk());
  bytes.push_back(std::byte{0});
  EXPECT_FALSE(decodeFrame(bytes).isOk());
}

// HELLO, HELLO_REPLY, ACK and generation payloads round-trip; truncations are rejected.
TEST(FrameCodec, MessagePayloadsRoundTrip) {
  Hello hello{42, 0xDEADBEEFCAFEull, 1ull << 30, "node-a", {3, 2, 1}};
  auto hb = encodeHello(hello);
  auto h2 = decodeHello(hb);
  ASSERT_TRUE(h2.isOk());
  EXPECT_EQ(h2->epoch, 42u);
  EXPECT_EQ(h2->generation, 0xDEADBEEFCAFEull);
  EXPECT_EQ(h2->size_bytes, 1ull << 30);
  EXPECT_EQ(h2->node, "node-a");
  EXPECT_EQ(h2->history, (std::vector<uint64_t>{3, 2, 1}));
  for (size_t n = 0; n < hb.size(); ++n) {
    EXPECT_FALSE(decodeHello(std::span<const std::byte>(hb).first(n)).isOk()) << n;
  }

  HelloReply reply{ErrorCode::kPermissionDenied, 77, DiskState::kInconsistent, "stale epoch", true};
  auto r2 = decodeHelloReply(encodeHelloReply(reply));
  ASSERT_TRUE(r2.isOk());
  EXPECT_EQ(r2->status, ErrorCode::kPermissionDenied);
  EXPECT_EQ(r2->generation, 77u);
  EXPECT_EQ(r2->disk, DiskState::kInconsistent);
  EXPECT_EQ(r2->message, "stale epoch");
  EXPECT_TRUE(r2->diverged);

  auto ack = decodeAck(encodeAck(ErrorCode::kIo));
  ASSERT_TRUE(ack.isOk());
  EXPECT_EQ(*ack, ErrorCode::kIo);
  std::vector<std::byte> bogus_ack(4, std::byte{0xFF});
  EXPECT_FALSE(decodeAck(bogus_ack).isOk());

  auto g = decodeGeneration(encodeGeneration(0x0123456789ABCDEFull));
  ASSERT_TRUE(g.isOk());
  EXPECT_EQ(*g, 0x0123456789ABCDEFull);
  EXPECT_FALSE(decodeGeneration(std::vector<std::byte>(7)).isOk());
}

// Volume ids convert to and from the canonical uuid text.
TEST(FrameCodec, VolumeIdRoundTripsThroughUuidText) {
  const std::string text = "0f8e2a4c-1b3d-4e5f-8a9b-0c1d2e3f4a5b";
  auto id = volumeIdFromUuid(text);
  ASSERT_TRUE(id.isOk());
  EXPECT_EQ(volumeIdToUuid(*id), text);
  EXPECT_FALSE(volumeIdFromUuid("0f8e2a4c-1b3d-4e5f-8a9b-0c1d2e3f4a5").isOk());
  EXPECT_FALSE(volumeIdFromUuid("0f8e2a4c11b3d-4e5f-8a9b-0c1d2e3f4a5b").isOk());
  EXPECT_FALSE(volumeIdFromUuid("zf8e2a4c-1b3d-4e5f-8a9b-0c1d2e3f4a5b").isOk());
}

}  // namespace
}  // namespace tandem::replication::wire
