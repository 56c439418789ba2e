#include "tandem/controller/placement.h"

#include <algorithm>
#include <map>

namespace tandem::controller {

Result<std::vector<Placement>> placeReplicas(const PlacementRequest& request,
                                             const std::vector<PoolCandidate>& candidates) {
  auto allowed = [&](const std::string& pool) {
    return request.allowed_pools.empty() ||
           std::find(request.allowed_pools.begin(), request.allowed_pools.end(), pool) !=
               request.allowed_pools.end();
  };

  bool any_large_enough = false;
  uint32_t online_nodes = 0;
  std::map<std::string, const PoolCandidate*> best_per_node;
  std::map<std::string, bool> seen_online;
  for (const auto& c : candidates) {
    if (c.node_online && !seen_online[c.node]) {
      seen_online[c.node] = true;
      ++online_nodes;
    }
    if (!allowed(c.pool)) continue;
    if (c.total_bytes >= request.size_bytes) any_large_enough = true;
    if (!c.node_online || c.free_bytes < request.size_bytes) continue;
    auto& best = best_per_node[c.node];
    if (best == nullptr || c.free_bytes > best->free_bytes ||
        (c.free_bytes == best->free_bytes && c.pool < best->pool)) {
      best = &c;
    }
  }
  if (!any_large_enough) {
    return Status(ErrorCode::kUnprocessable,
                  "volume of " + std::to_string(request.size_bytes) + " bytes is larger than every allowed pool")
        .withReason("volume_too_large");
  }
  std::vector<const PoolCandidate*> ranked;
  for (const auto& [node, pool] : best_per_node) ranked.push_back(pool);
  std::sort(ranked.begin(), ranked.end(), [](const PoolCandidate* a, const PoolCandidate* b) {
    if (a->free_bytes != b->free_bytes) return a->free_bytes > b->free_bytes;
    return a->node < b->node;
  });
  if (ranked.size() < request.replicas) {
    return Status(ErrorCode::kUnprocessable,
                  "need " + std::to_string(request.replicas) + " online nodes with " +
                      std::to_string(request.size_bytes) + " bytes free in an allowed pool, found " +
                      std::to_string(ranked.size()) + " (" + std::to_string(online_nodes) + " online)")
        .withReason("not_enough_nodes");
  }
  std::vector<Placement> out;
  for (uint32_t i = 0; i < request.replicas; ++i) out.push_back(Placement{ranked[i]->node, ranked[i]->pool});
  return out;
}

}  // namespace tandem::controller
