#include "wire/frame.h"

#include <string>

#include "tandem/common/big_endian.h"
#include "wire/crc32c.h"

namespace tandem::replication::wire {
namespace {

// Field offsets in the 64-byte header (docs/replication.md).
constexpr size_t kOffMagic = 0;
constexpr size_t kOffVersion = 4;
constexpr size_t kOffType = 6;
constexpr size_t kOffFlags = 8;
constexpr size_t kOffVolume = 12;
constexpr size_t kOffSequence = 28;
constexpr size_t kOffOffset = 36;
constexpr size_t kOffLength = 44;
constexpr size_t kOffPayloadLength = 52;
constexpr size_t kOffPayloadCrc = 56;
constexpr size_t kOffHeaderCrc = 60;

Status protocolError(std::string message) { return Status(ErrorCode::kProtocol, std::move(message)); }

bool knownType(uint16_t t) {
  return t >= static_cast<uint16_t>(FrameType::kHello) && t <= static_cast<uint16_t>(FrameType::kSnapshotPrepare);
}

// Per-type rules for offset/length/payload size.
Status checkTypeRules(const FrameHeader& h) {
  const uint32_t n = h.payload_length;
  switch (h.type) {
    case FrameType::kWrite:
    case FrameType::kSyncData:
      if (h.length != n || n == 0) return protocolError("data frame length != payload length");
      break;
    case FrameType::kTrim:
    case FrameType::kWriteZeroes:
    case FrameType::kSyncZero:
      if (n != 0) return protocolError("range frame with a payload");
      break;
    case FrameType::kFlush:
    case FrameType::kSyncBegin:
    case FrameType::kPing:
    case FrameType::kPong:
    case FrameType::kResize:
      if (n != 0) return protocolError(std::string(frameTypeName(h.type)) + " with a payload");
      break;
    case FrameType::kAck:
      if (n != 4) return protocolError("ACK payload must be 4 bytes");
      break;
    case FrameType::kSyncDone:
    case FrameType::kNewGeneration:
      if (n != 8) return protocolError("generation payload must be 8 bytes");
      break;
    case FrameType::kSnapshot:
    case FrameType::kSnapshotPrepare:
      if (n == 0 || n > 128 || h.length != 0) {
        return protocolError(std::string(frameTypeName(h.type)) + " needs a name of 1-128 bytes");
      }
      break;
    case FrameType::kHello:
    case FrameType::kHelloReply:
      break;  // variable; checked by the message decoders
  }
  if (h.offset + h.length < h.offset) return protocolError("offset + length overflows");
  if ((h.flags & kFlagFua) != 0 && h.type != FrameType::kWrite && h.type != FrameType::kTrim &&
      h.type != FrameType::kWriteZeroes) {
    return protocolError("FUA flag on a frame that does not write");
  }
  if ((h.flags & kFlagAbort) != 0 && h.type != FrameType::kSnapshotPrepare) {
    return protocolError("ABORT flag on a frame other than SNAPSHOT_PREPARE");
  }
  return Status::ok();
}

}  // namespace

std::string_view frameTypeName(FrameType type) {
  switch (type) {
    case FrameType::kHello:
      return "HELLO";
    case FrameType::kHelloReply:
      return "HELLO_REPLY";
    case FrameType::kWrite:
      return "WRITE";
    case FrameType::kTrim:
      return "TRIM";
    case FrameType::kWriteZeroes:
      return "WRITE_ZEROES";
    case FrameType::kFlush:
      return "FLUSH";
    case FrameType::kAck:
      return "ACK";
    case FrameType::kSyncBegin:
      return "SYNC_BEGIN";
    case FrameType::kSyncData:
      return "SYNC_DATA";
    case FrameType::kSyncZero:
      return "SYNC_ZERO";
    case FrameType::kSyncDone:
      return "SYNC_DONE";
    case FrameType::kNewGeneration:
      return "NEW_GENERATION";
    case FrameType::kPing:
      return "PING";
    case FrameType::kPong:
      return "PONG";
    case FrameType::kResize:
      return "RESIZE";
    case FrameType::kSnapshot:
      return "SNAPSHOT";
    case FrameType::kSnapshotPrepare:
      return "SNAPSHOT_PREPARE";
  }
  return "UNKNOWN";
}

std::vector<std::byte> encodeFrame(FrameHeader h, std::span<const std::byte> payload) {
  h.payload_length = static_cast<uint32_t>(payload.size());
  h.payload_crc = crc32c(payload);
  std::vector<std::byte> out(kHeaderSize + payload.size());
  std::byte* p = out.data();
  putBe(p + kOffMagic, kMagic, 4);
  putBe(p + kOffVersion, kVersion, 2);
  putBe(p + kOffType, static_cast<uint16_t>(h.type), 2);
  putBe(p + kOffFlags, h.flags, 4);
  for (size_t i = 0; i < h.volume.size(); ++i) p[kOffVolume + i] = h.volume[i];
  putBe(p + kOffSequence, h.sequence, 8);
  putBe(p + kOffOffset, h.offset, 8);
  putBe(p + kOffLength, h.length, 8);
  putBe(p + kOffPayloadLength, h.payload_length, 4);
  putBe(p + kOffPayloadCrc, h.payload_crc, 4);
  putBe(p + kOffHeaderCrc, crc32c(std::span<const std::byte>(p, kOffHeaderCrc)), 4);
  if (!payload.empty()) std::copy(payload.begin(), payload.end(), out.begin() + kHeaderSize);
  return out;
}

Result<FrameHeader> decodeHeader(std::span<const std::byte> bytes) {
  if (bytes.size() < kHeaderSize) return protocolError("short frame header");
  const std::byte* p = bytes.data();
  if (getBe(p + kOffMagic, 4) != kMagic) return protocolError("bad frame magic");
  uint32_t want_crc = static_cast<uint32_t>(getBe(p + kOffHeaderCrc, 4));
  if (crc32c(std::span<const std::byte>(p, kOffHeaderCrc)) != want_crc) {
    return protocolError("frame header CRC mismatch");
  }
  if (getBe(p + kOffVersion, 2) != kVersion) return protocolError("unsupported frame version");
  auto type = static_cast<uint16_t>(getBe(p + kOffType, 2));
  if (!knownType(type)) return protocolError("unknown frame type " + std::to_string(type));
  FrameHeader h;
  h.type = static_cast<FrameType>(type);
  h.flags = static_cast<uint32_t>(getBe(p + kOffFlags, 4));
  if ((h.flags & ~kKnownFlags) != 0) return protocolError("unknown frame flags");
  for (size_t i = 0; i < h.volume.size(); ++i) h.volume[i] = p[kOffVolume + i];
  h.sequence = getBe(p + kOffSequence, 8);
  h.offset = getBe(p + kOffOffset, 8);
  h.length = getBe(p + kOffLength, 8);
  h.payload_length = static_cast<uint32_t>(getBe(p + kOffPayloadLength, 4));
  h.payload_crc = static_cast<uint32_t>(getBe(p + kOffPayloadCrc, 4));
  if (h.payload_length > kMaxPayload) return protocolError("frame payload too large");
  RETURN_IF_ERROR(checkTypeRules(h));
  return h;
}

Status verifyPayload(const FrameHeader& header, std::span<const std::byte> payload) {
  if (payload.size() != header.payload_length) return protocolError("payload length mismatch");
  if (crc32c(payload) != header.payload_crc) return protocolError("frame payload CRC mismatch");
  return Status::ok();
}

Result<Frame> decodeFrame(std::span<const std::byte> bytes) {
  ASSIGN_OR_RETURN(FrameHeader h, decodeHeader(bytes));
  auto payload = bytes.subspan(kHeaderSize);
  RETURN_IF_ERROR(verifyPayload(h, payload));
  return Frame{h, std::vector<std::byte>(payload.begin(), payload.end())};
}

}  // namespace tandem::replication::wire
