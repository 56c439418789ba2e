#include "tandem/controller/volume_growth.h"

#include <string>

namespace tandem::controller {

Status checkGrowth(const GroupRecord& group, const std::vector<ReplicaRecord>& replicas, uint64_t old_size,
                   uint64_t new_size, const std::vector<PoolCandidate>& candidates) {
  if (new_size == 0 || new_size % 512 != 0) {
    return Status(ErrorCode::kInvalidArgument, "size_bytes must be a positive multiple of 512")
        .withReason("invalid_field");
  }
  if (new_size < old_size) {
    return Status(ErrorCode::kUnprocessable, "volumes cannot shrink: " + std::to_string(new_size) +
                                                 " bytes < the current " + std::to_string(old_size))
        .withReason("volume_shrink");
  }
  const uint64_t added = new_size - old_size;
  if (added == 0) return Status::ok();
  for (const auto& r : replicas) {
    if (!r.diskful) continue;
    const PoolCandidate* pool = nullptr;
    for (const auto& c : candidates) {
      if (c.node == r.node_name && c.pool == r.pool_name) pool = &c;
    }
    if (pool == nullptr || pool->total_bytes == 0) continue;
    const std::string where = "pool " + r.pool_name + " on node " + r.node_name;
    if (new_size > pool->total_bytes) {
      return Status(ErrorCode::kUnprocessable, where + " has " + std::to_string(pool->total_bytes) +
                                                   " bytes in all, less than " + std::to_string(new_size))
          .withReason("volume_too_large");
    }
    bool room = true;
    if (group.thin) {
      const double limit = static_cast<double>(pool->total_bytes) * group.overprovision;
      room = static_cast<double>(pool->provisioned_bytes + added) <= limit &&
             static_cast<double>(added) <= static_cast<double>(pool->free_bytes) * group.overprovision;
    } else {
      room = added <= pool->free_bytes;
    }
    if (!room) {
      return Status(ErrorCode::kUnprocessable,
                    where + " has no room for " + std::to_string(added) + " more bytes (" +
                        std::to_string(pool->free_bytes) + " free, " + std::to_string(pool->provisioned_bytes) +
                        " provisioned of " + std::to_string(pool->total_bytes) +
                        (group.thin ? ", overprovision " + std::to_string(group.overprovision) : std::string()) + ")")
          .withReason("no_space");
    }
  }
  return Status::ok();
}

}  // namespace tandem::controller
