#include "tandem/controller/observed_state.h"

#include <algorithm>

namespace tandem::controller {

void ObservedState::registered(const std::string& node, std::vector<PoolReport> pools, TimePoint now,
                               int64_t wall_seconds) {
  NodeObservation& obs = nodes_[node];
  unindex(node, obs);
  obs.online = true;
  obs.last_seen = now;
  obs.last_seen_wall = wall_seconds;
  obs.report = NodeStatusReport{};
  obs.report.pools = std::move(pools);
}

bool ObservedState::reported(const std::string& node, NodeStatusReport report, TimePoint now,
                             int64_t wall_seconds) {
  NodeObservation& obs = nodes_[node];
  bool came_online = !obs.online;
  unindex(node, obs);
  obs.online = true;
  obs.last_seen = now;
  obs.last_seen_wall = wall_seconds;
  obs.report = std::move(report);
  index(node, obs);
  return came_online;
}

std::vector<std::string> ObservedState::markSilentOffline(TimePoint now, std::chrono::milliseconds timeout) {
  std::vector<std::string> out;
  for (auto& [name, obs] : nodes_) {
    if (obs.online && now - obs.last_seen > timeout) {
      obs.online = false;
      out.push_back(name);
    }
  }
  return out;
}

void ObservedState::forget(const std::string& node) {
  auto it = nodes_.find(node);
  if (it == nodes_.end()) return;
  unindex(node, it->second);
  nodes_.erase(it);
}

const NodeObservation* ObservedState::find(const std::string& node) const {
  auto it = nodes_.find(node);
  return it == nodes_.end() ? nullptr : &it->second;
}

bool ObservedState::online(const std::string& node) const {
  const NodeObservation* obs = find(node);
  return obs != nullptr && obs->online;
}

std::chrono::steady_clock::duration ObservedState::offlineFor(const std::string& node, TimePoint now) const {
  const NodeObservation* obs = find(node);
  if (obs != nullptr && obs->online) return std::chrono::steady_clock::duration::zero();
  TimePoint since = obs == nullptr ? started_ : std::max(started_, obs->last_seen);
  return now - since;
}

const ReplicaReport* ObservedState::replicaReport(const std::string& node,
                                                  const std::string& volume_uuid) const {
  auto it = reports_.find(key(node, volume_uuid));
  return it == reports_.end() ? nullptr : it->second;
}

void ObservedState::unindex(const std::string& node, const NodeObservation& obs) {
  for (const auto& r : obs.report.replicas) reports_.erase(key(node, r.volume_uuid));
}

void ObservedState::index(const std::string& node, const NodeObservation& obs) {
  // A volume reported twice: the later entry wins.
  for (const auto& r : obs.report.replicas) reports_.insert_or_assign(key(node, r.volume_uuid), &r);
}

}  // namespace tandem::controller
