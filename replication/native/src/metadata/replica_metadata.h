// ReplicaMetadata: what a node must remember about its copy of a volume across restarts
// (docs/replication.md, "Metadata file"). A small checksummed text file replaced atomically:
// write temp + fsync + rename + fsync of the directory; removed durably (unlink + fsync of the
// directory).
// Thread-safety: functions are thread-safe for different paths; callers serialize saves of one path.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tandem/common/status.h"
#include "tandem/replication/replication_service.h"

namespace tandem::replication {

// How many earlier generations a copy remembers (split-brain detection).
inline constexpr size_t kMaxHistory = 64;

struct ReplicaMetadata {
  uint64_t generation = 0;  // current data generation
  DiskState disk = DiskState::kUpToDate;
  uint64_t highest_epoch = 0;  // highest writer epoch seen (fencing)
  bool clean = true;           // false while in use; false at load = the node crashed
  // The generations this copy held before `generation`, most recent first, at most kMaxHistory:
  // a copy whose generation is in a primary's history is behind it; one whose generation is
  // neither the primary's nor in its history has diverged (split brain).
  std::vector<uint64_t> history;
  bool operator==(const ReplicaMetadata&) const = default;
};

// Moves `md` to generation `g`, remembering the old one in its history.
void advanceGeneration(ReplicaMetadata& md, uint64_t g);

// The generation of a brand-new volume: a hash of its uuid (never 0), equal on every node, so
// replicas created together agree without a sync.
uint64_t initialGeneration(std::string_view volume_uuid);
// 16 lower-case hex digits.
std::string formatGeneration(uint64_t generation);

std::string formatMetadata(const ReplicaMetadata& md);
// kProtocol for anything that is not a complete, well-formed metadata text with a matching
// checksum. A version-1 text (no history, no checksum; written before version 2) is accepted.
Result<ReplicaMetadata> parseMetadata(std::string_view text);

// Loads `path`; nullopt if it does not exist.
Result<std::optional<ReplicaMetadata>> loadMetadata(const std::string& path);
// Replaces `path` atomically and durably.
Status saveMetadata(const std::string& path, const ReplicaMetadata& md);
// Deletes `path` durably (the directory is fsynced); OK if it does not exist.
Status removeMetadata(const std::string& path);

}  // namespace tandem::replication
