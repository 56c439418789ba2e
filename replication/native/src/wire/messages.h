// Payload codecs of the frames that carry structured payloads (HELLO, HELLO_REPLY, ACK,
// SYNC_DONE / NEW_GENERATION). Layouts are in docs/replication.md. Pure; thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "tandem/common/status.h"
#include "tandem/replication/replication_service.h"

namespace tandem::replication::wire {

inline constexpr size_t kMaxNodeName = 255;
inline constexpr size_t kMaxReplyMessage = 1024;
inline constexpr size_t kMaxHelloHistory = 64;

struct Hello {
  uint64_t epoch = 0;       // writer epoch
  uint64_t generation = 0;  // the primary's current generation
  uint64_t size_bytes = 0;  // volume size the primary replicates
  std::string node;         // sender node name
  std::vector<uint64_t> history;  // the primary's earlier generations, most recent first (≤ 64)
};

struct HelloReply {
  ErrorCode status = ErrorCode::kOk;  // not kOk: refused, and the replica closes
  uint64_t generation = 0;
  DiskState disk = DiskState::kOutdated;
  std::string message;  // why it was refused
  bool diverged = false;  // refused: the replica's copy has writes the primary lacks (split brain)
};

std::vector<std::byte> encodeHello(const Hello& hello);
Result<Hello> decodeHello(std::span<const std::byte> payload);

std::vector<std::byte> encodeHelloReply(const HelloReply& reply);
Result<HelloReply> decodeHelloReply(std::span<const std::byte> payload);

// ACK payload: the status of the acknowledged frame (Tandem ErrorCode number).
std::vector<std::byte> encodeAck(ErrorCode status);
Result<ErrorCode> decodeAck(std::span<const std::byte> payload);

// SYNC_DONE / NEW_GENERATION payload.
std::vector<std::byte> encodeGeneration(uint64_t generation);
Result<uint64_t> decodeGeneration(std::span<const std::byte> payload);

}  // namespace tandem::replication::wire
