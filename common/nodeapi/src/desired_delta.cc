#include "tandem/nodeapi/desired_delta.h"

#include <algorithm>
#include <string_view>
#include <unordered_map>
#include <unordered_set>

namespace tandem::nodeapi {
namespace {

// Replaces `entries`' entries of covered volumes by `changed` (by volume uuid): kept in place,
// dropped when `changed` has none, new ones appended in `changed`'s order.
template <typename Entry>
std::vector<Entry> merge(const std::vector<Entry>& entries, const std::vector<Entry>& changed,
                         const std::unordered_set<std::string_view>& covered) {
  std::unordered_map<std::string_view, const Entry*> by_volume;
  for (const auto& e : changed) by_volume[e.volume_uuid] = &e;
  std::vector<Entry> out;
  out.reserve(entries.size() + changed.size());
  std::unordered_set<std::string_view> placed;
  for (const auto& e : entries) {
    if (!covered.count(e.volume_uuid)) {
      out.push_back(e);
      continue;
    }
    auto c = by_volume.find(e.volume_uuid);
    if (c == by_volume.end() || placed.count(e.volume_uuid)) continue;
    out.push_back(*c->second);
    placed.insert(e.volume_uuid);
  }
  for (const auto& e : changed) {
    if (!placed.count(e.volume_uuid)) out.push_back(e);
  }
  return out;
}

Status protocol(const std::string& what) { return Status(ErrorCode::kProtocol, "desired-state delta " + what); }

}  // namespace

Result<DesiredState> applyDesiredDelta(const DesiredState& base, const DesiredState& delta) {
  if (!delta.delta) return delta;
  if (delta.node != base.node || delta.cluster_id != base.cluster_id) {
    return protocol("for node " + delta.node + " of cluster " + delta.cluster_id + " applied to the state of node " +
                    base.node + " of cluster " + base.cluster_id);
  }
  if (delta.generation < base.generation) {
    return protocol("of generation " + std::to_string(delta.generation) + " is older than the state it applies to (" +
                    std::to_string(base.generation) + ")");
  }
  const std::unordered_set<std::string_view> covered(delta.covers.begin(), delta.covers.end());
  for (const auto& r : delta.replicas) {
    if (!covered.count(r.volume_uuid)) return protocol("has a replica of volume " + r.volume_uuid + " it does not cover");
  }
  for (const auto& a : delta.attachments) {
    if (!covered.count(a.volume_uuid)) {
      return protocol("has an attachment of volume " + a.volume_uuid + " it does not cover");
    }
  }
  DesiredState out = delta;
  out.delta = false;
  out.covers.clear();
  out.replicas = merge(base.replicas, delta.replicas, covered);
  out.attachments = merge(base.attachments, delta.attachments, covered);
  return out;
}

}  // namespace tandem::nodeapi
