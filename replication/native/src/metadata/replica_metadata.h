// ReplicaMetadata: what a node must remember about its copy of a volume across restarts
// (docs/replication.md, "Metadata file"). A small text file replaced atomically:
// write temp + fsync + rename + fsync of the directory.
// Thread-safety: functions are thread-safe for different paths; callers serialize saves of one path.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "tandem/common/status.h"
#include "tandem/replication/replication_service.h"

namespace tandem::replication {

struct ReplicaMetadata {
  uint64_t generation = 0;  // current data generation
  DiskState disk = DiskState::kUpToDate;
  uint64_t highest_epoch = 0;  // highest writer epoch seen (fencing)
  bool clean = true;           // false while in use; false at load = the node crashed
  bool operator==(const ReplicaMetadata&) const = default;
};

// The generation of a brand-new volume: a hash of its uuid (never 0), equal on every node, so
// replicas created together agree without a sync.
uint64_t initialGeneration(std::string_view volume_uuid);
// 16 lower-case hex digits.
std::string formatGeneration(uint64_t generation);

std::string formatMetadata(const ReplicaMetadata& md);
// kProtocol for anything that is not a complete, well-formed metadata text.
Result<ReplicaMetadata> parseMetadata(std::string_view text);

// Loads `path`; nullopt if it does not exist.
Result<std::optional<ReplicaMetadata>> loadMetadata(const std::string& path);
// Replaces `path` atomically and durably.
Status saveMetadata(const std::string& path, const ReplicaMetadata& md);

}  // namespace tandem::replication
