#include "tandem/controller/placement_inputs.h"

namespace tandem::controller {

PlacementRequest placementRequestFor(const GroupRecord& group, uint64_t size_bytes, uint32_t replicas,
                                     const std::string& volume) {
  PlacementRequest request;
  request.volume = volume;
  request.size_bytes = size_bytes;
  request.replicas = replicas;
  request.allowed_pools = group.pools;
  request.thin = group.thin;
  request.overprovision = group.overprovision;
  request.spread_keys = group.replicas_on_different;
  request.weights = group.weights;
  request.needs_drbd = group.engine == "drbd";
  return request;
}

PendingByPool pendingBytes(const std::vector<VolumeRecord>& volumes,
                           const std::vector<ReplicaRecord>& replicas, const std::vector<GroupRecord>& groups,
                           const ObservedState& observed) {
  std::map<std::string, bool> thin_group;
  for (const auto& g : groups) thin_group[g.name] = g.thin;
  std::map<std::string, const VolumeRecord*> by_uuid;
  for (const auto& v : volumes) by_uuid[v.uuid] = &v;
  PendingByPool pending;
  for (const auto& r : replicas) {
    auto v = by_uuid.find(r.volume_uuid);
    if (v == by_uuid.end() || !r.diskful) continue;
    if (observed.replicaReport(r.node_name, r.volume_uuid) != nullptr) continue;
    PendingBytes& p = pending[{r.node_name, r.pool_name}];
    p.provisioned += v->second->size_bytes;
    if (!thin_group[v->second->group]) p.thick += v->second->size_bytes;
  }
  return pending;
}

std::vector<PoolCandidate> placementCandidates(const std::vector<PoolRecord>& pools,
                                               const std::vector<NodeRecord>& nodes,
                                               const ObservedState& observed, const PendingByPool& pending) {
  std::map<std::string, const std::map<std::string, std::string>*> labels;
  for (const auto& n : nodes) labels[n.name] = &n.labels;
  std::vector<PoolCandidate> candidates;
  for (const auto& p : pools) {
    PoolCandidate c;
    c.node = p.node_name;
    c.pool = p.name;
    auto l = labels.find(p.node_name);
    if (l != labels.end()) c.node_labels = *l->second;
    c.drbd_missing = "the node has not reported since the controller started";
    if (const NodeObservation* obs = observed.find(p.node_name)) {
      c.node_online = obs->online;
      c.drbd_missing = obs->report.drbd.loaded ? "" : obs->report.drbd.reason;
      if (!obs->report.drbd.loaded && c.drbd_missing.empty()) c.drbd_missing = "no DRBD 9 module";
      for (const auto& r : obs->report.pools) {
        if (r.name != p.name) continue;
        auto extra = pending.find({p.node_name, p.name});
        const PendingBytes none;
        const PendingBytes& e = extra == pending.end() ? none : extra->second;
        c.total_bytes = r.total_bytes;
        c.free_bytes = r.free_bytes > e.thick ? r.free_bytes - e.thick : 0;
        c.provisioned_bytes = r.provisioned_bytes + e.provisioned;
      }
    }
    candidates.push_back(std::move(c));
  }
  return candidates;
}

void addReplicaCounts(std::vector<PoolCandidate>& candidates, const std::vector<ReplicaRecord>& replicas) {
  std::map<std::string, uint32_t> per_node;
  for (const auto& r : replicas) {
    if (r.diskful) ++per_node[r.node_name];
  }
  for (auto& c : candidates) {
    auto n = per_node.find(c.node);
    c.node_replicas = n == per_node.end() ? 0 : n->second;
  }
}

void addPlaced(std::vector<PoolCandidate>& candidates, const Placement& target, uint64_t size_bytes,
               bool thin) {
  for (auto& c : candidates) {
    if (c.node == target.node) ++c.node_replicas;
    if (c.node != target.node || c.pool != target.pool) continue;
    c.provisioned_bytes += size_bytes;
    if (!thin) c.free_bytes = c.free_bytes > size_bytes ? c.free_bytes - size_bytes : 0;
  }
}

}  // namespace tandem::controller
