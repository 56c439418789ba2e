// Placement: chooses where a volume's replicas live. A pure function of its inputs
// (deterministic for the same inputs), so it is tested without a cluster.
//
// Filter: the node is online, the pool is allowed by the resource group, the pool is large
// enough and has `size_bytes` free. Spread: at most one replica per node (later also per
// value of each `replicas_on_different` label). Score: most free space first, then name.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "tandem/common/status.h"

namespace tandem::controller {

struct PoolCandidate {
  std::string node;
  std::string pool;
  bool node_online = false;
  uint64_t total_bytes = 0;
  uint64_t free_bytes = 0;
};

struct PlacementRequest {
  uint64_t size_bytes = 0;
  uint32_t replicas = 1;
  std::vector<std::string> allowed_pools;  // empty: any pool
};

struct Placement {
  std::string node;
  std::string pool;
};

// Returns `replicas` placements on distinct nodes, best first. Errors (kUnprocessable):
// reason "volume_too_large" when no allowed pool is that large at all, "not_enough_nodes"
// when fewer distinct online nodes than replicas have room; the message says how many were found.
Result<std::vector<Placement>> placeReplicas(const PlacementRequest& request,
                                             const std::vector<PoolCandidate>& candidates);

}  // namespace tandem::controller
