// The replication frame: a fixed 64-byte header followed by a payload (docs/replication.md,
// "Wire format", is the byte-by-byte specification). Pure codec: no sockets, no clocks.
// Every decoder returns kProtocol on anything malformed, so it can be fed arbitrary bytes.
// Thread-safe: pure functions.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "tandem/common/status.h"
#include "wire/volume_id.h"

namespace tandem::replication::wire {

inline constexpr uint32_t kMagic = 0x544E4452;  // "TNDR"
inline constexpr uint16_t kVersion = 4;  // 4: SNAPSHOT_PREPARE
inline constexpr size_t kHeaderSize = 64;
inline constexpr uint32_t kMaxPayload = 32u << 20;  // 32 MiB

enum class FrameType : uint16_t {
  kHello = 1,           // primary -> replica: opens a volume session
  kHelloReply = 2,      // replica -> primary: generation, disk state, or a refusal
  kWrite = 3,           // data at offset; flag kFlagFua
  kTrim = 4,            // offset/length; flag kFlagFua
  kWriteZeroes = 5,     // offset/length; flag kFlagFua
  kFlush = 6,           // make everything before it durable
  kAck = 7,             // replica -> primary: sequence acknowledged with a status
  kSyncBegin = 8,       // full sync starts: the replica persists Inconsistent
  kSyncData = 9,        // a chunk of sync data at offset
  kSyncZero = 10,       // an all-zero chunk at offset/length
  kSyncDone = 11,       // sync complete: adopt the generation, UpToDate
  kNewGeneration = 12,  // an up-to-date replica adopts the primary's new generation
  kPing = 13,
  kPong = 14,
  kResize = 15,         // the volume grew to `length` bytes: the replica grows its device view
  kSnapshot = 16,       // take a snapshot here (payload: its name, 1-128 bytes)
  kSnapshotPrepare = 17,  // a SNAPSHOT of this name follows: start copying now (payload: its name);
                          // flag kFlagAbort: it will not follow, drop what was started
};

inline constexpr uint32_t kFlagFua = 1u << 0;
inline constexpr uint32_t kFlagAbort = 1u << 1;  // SNAPSHOT_PREPARE only
inline constexpr uint32_t kKnownFlags = kFlagFua | kFlagAbort;

std::string_view frameTypeName(FrameType type);

struct FrameHeader {
  FrameType type = FrameType::kPing;
  uint32_t flags = 0;
  VolumeId volume{};
  uint64_t sequence = 0;
  uint64_t offset = 0;
  uint64_t length = 0;
  uint32_t payload_length = 0;  // filled in by encodeFrame
  uint32_t payload_crc = 0;     // filled in by encodeFrame

  // A header of `type` for `offset`/`length`, FUA if `fua`; volume and sequence are the
  // sender's to fill in.
  static FrameHeader of(FrameType type, uint64_t offset = 0, uint64_t length = 0, bool fua = false) {
    FrameHeader h;
    h.type = type;
    h.offset = offset;
    h.length = length;
    h.flags = fua ? kFlagFua : 0;
    return h;
  }
};

struct Frame {
  FrameHeader header;
  std::vector<std::byte> payload;
};

// Header + payload in one buffer, with payload_length and both CRCs computed.
// Precondition: payload.size() <= kMaxPayload.
std::vector<std::byte> encodeFrame(FrameHeader header, std::span<const std::byte> payload);

// Decodes and validates a header: magic, version, header CRC, known type and flags, payload
// length bound, and the per-type length rules (e.g. WRITE: length == payload_length).
Result<FrameHeader> decodeHeader(std::span<const std::byte> bytes);
// Checks a payload against its header (size and CRC32C).
Status verifyPayload(const FrameHeader& header, std::span<const std::byte> payload);
// Decodes exactly one whole frame (header + payload, nothing after it).
Result<Frame> decodeFrame(std::span<const std::byte> bytes);

}  // namespace tandem::replication::wire
