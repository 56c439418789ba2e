#include "tandem/nodeapi/report_delta.h"

#include <unordered_map>
#include <unordered_set>

namespace tandem::nodeapi {

StatusReport reportDelta(const StatusReport& base, const StatusReport& current) {
  std::unordered_map<std::string_view, const ReplicaReport*> before;
  before.reserve(base.replicas.size());
  for (const auto& r : base.replicas) before[r.volume_uuid] = &r;
  StatusReport delta = current;
  delta.replicas.clear();
  delta.removed_replicas.clear();
  std::unordered_set<std::string_view> now;
  now.reserve(current.replicas.size());
  for (const auto& r : current.replicas) {
    now.insert(r.volume_uuid);
    auto it = before.find(r.volume_uuid);
    if (it == before.end() || !(*it->second == r)) delta.replicas.push_back(r);
  }
  for (const auto& r : base.replicas) {
    if (!now.count(r.volume_uuid)) delta.removed_replicas.push_back(r.volume_uuid);
  }
  return delta;
}

StatusReport applyReportDelta(const StatusReport& base, const StatusReport& delta) {
  StatusReport out = delta;
  out.base_seq = 0;
  out.removed_replicas.clear();
  out.replicas.clear();
  std::unordered_map<std::string_view, const ReplicaReport*> changed;
  for (const auto& r : delta.replicas) changed[r.volume_uuid] = &r;
  std::unordered_set<std::string_view> removed(delta.removed_replicas.begin(), delta.removed_replicas.end());
  std::unordered_set<std::string_view> kept;
  for (const auto& r : base.replicas) {
    if (removed.count(r.volume_uuid)) continue;
    auto c = changed.find(r.volume_uuid);
    out.replicas.push_back(c == changed.end() ? r : *c->second);
    kept.insert(r.volume_uuid);
  }
  for (const auto& r : delta.replicas) {
    if (!kept.count(r.volume_uuid)) out.replicas.push_back(r);
  }
  return out;
}

}  // namespace tandem::nodeapi
