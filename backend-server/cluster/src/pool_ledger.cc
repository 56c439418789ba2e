#include "tandem/controller/pool_ledger.h"

#include <map>

namespace tandem::controller {

void PoolLedger::rebuild(const std::vector<VolumeRecord>& volumes, const std::vector<ReplicaRecord>& replicas,
                         const std::vector<GroupRecord>& groups, const ObservedState& observed) {
  volumes_.clear();
  per_node_.clear();
  pending_.clear();
  std::map<std::string, bool> thin_group;
  for (const auto& g : groups) thin_group[g.name] = g.thin;
  std::unordered_map<std::string, std::vector<ReplicaRecord>> by_volume;
  for (const auto& r : replicas) by_volume[r.volume_uuid].push_back(r);
  for (const auto& v : volumes) {
    auto thin = thin_group.find(v.group);
    // A group that is gone counts as thick, as pendingBytes() does.
    setVolume(v.uuid, v.size_bytes, thin != thin_group.end() && thin->second, by_volume[v.uuid], observed);
  }
}

void PoolLedger::setVolume(const std::string& uuid, uint64_t size_bytes, bool thin,
                           const std::vector<ReplicaRecord>& replicas, const ObservedState& observed) {
  removeVolume(uuid, observed);
  Entry e;
  e.size = size_bytes;
  e.thin = thin;
  for (const auto& r : replicas) {
    if (r.diskful) e.replicas.push_back({r.node_name, r.pool_name});
  }
  add(uuid, e, observed, +1);
  volumes_[uuid] = std::move(e);
}

void PoolLedger::removeVolume(const std::string& uuid, const ObservedState& observed) {
  auto it = volumes_.find(uuid);
  if (it == volumes_.end()) return;
  add(uuid, it->second, observed, -1);
  volumes_.erase(it);
}

void PoolLedger::reported(const std::string& node, const std::string& volume_uuid, bool now_reported) {
  auto it = volumes_.find(volume_uuid);
  if (it == volumes_.end()) return;
  for (const auto& p : it->second.replicas) {
    if (p.node == node) adjust(p.node, p.pool, it->second.size, it->second.thin, now_reported ? -1 : +1);
  }
}

uint32_t PoolLedger::replicasOn(const std::string& node) const {
  auto it = per_node_.find(node);
  return it == per_node_.end() ? 0 : it->second;
}

void PoolLedger::add(const std::string& uuid, const Entry& e, const ObservedState& observed, int sign) {
  for (const auto& p : e.replicas) {
    uint32_t& count = per_node_[p.node];
    count = sign > 0 ? count + 1 : (count > 0 ? count - 1 : 0);
    if (observed.replicaReport(p.node, uuid) == nullptr) adjust(p.node, p.pool, e.size, e.thin, sign);
  }
}

void PoolLedger::adjust(const std::string& node, const std::string& pool, uint64_t size, bool thin, int sign) {
  PendingBytes& p = pending_[{node, pool}];
  auto apply = [&](uint64_t& total) { total = sign > 0 ? total + size : (total > size ? total - size : 0); };
  apply(p.provisioned);
  if (!thin) apply(p.thick);
}

}  // namespace tandem::controller
