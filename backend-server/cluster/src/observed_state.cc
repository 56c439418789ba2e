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
  obs.report_seq = 0;
  obs.report_error.clear();
}

bool ObservedState::reported(const std::string& node, NodeStatusReport report, TimePoint now,
                             int64_t wall_seconds) {
  NodeObservation& obs = nodes_[node];
  bool came_online = !obs.online;
  unindex(node, obs);
  obs.online = true;
  obs.last_seen = now;
  obs.last_seen_wall = wall_seconds;
  obs.report_seq = report.report_seq;
  obs.report_error.clear();
  obs.report = std::move(report);
  dropStale(node, obs);
  index(node, obs);
  if (!fences_.empty()) liftFences(node);
  return came_online;
}

bool ObservedState::reportedDelta(const std::string& node, const NodeStatusReport& delta, TimePoint now,
                                  int64_t wall_seconds, bool& came_online) {
  NodeObservation& obs = nodes_[node];
  came_online = !obs.online;
  obs.online = true;
  obs.last_seen = now;
  obs.last_seen_wall = wall_seconds;
  if (obs.report_seq == 0 || obs.report_seq != delta.base_seq) return false;
  obs.report_seq = delta.report_seq;
  obs.report_error.clear();
  // Changed replicas are replaced in place (the index keeps pointing at them); only new or
  // removed ones re-index the node, which is O(its replicas).
  std::vector<const ReplicaReport*> added;
  for (const auto& r : delta.replicas) {
    auto it = reports_.find(key(node, r.volume_uuid));
    if (it != reports_.end()) {
      *it->second = r;
    } else {
      added.push_back(&r);
    }
  }
  NodeStatusReport& report = obs.report;
  report.applied_generation = delta.applied_generation;
  report.pools = delta.pools;
  report.attachments = delta.attachments;
  report.nbd_socket = delta.nbd_socket;
  report.device_link_root = delta.device_link_root;
  report.no_block_devices = delta.no_block_devices;
  report.drbd = delta.drbd;
  if (!added.empty() || !delta.removed_replicas.empty()) {
    unindex(node, obs);
    if (!delta.removed_replicas.empty()) {
      std::set<std::string_view> removed(delta.removed_replicas.begin(), delta.removed_replicas.end());
      std::erase_if(report.replicas, [&](const ReplicaReport& r) { return removed.count(r.volume_uuid) > 0; });
    }
    for (const ReplicaReport* r : added) report.replicas.push_back(*r);
    index(node, obs);
  }
  if (!fences_.empty()) {
    // As for a full report: what a fence says is stale goes (replicaPlaced), then fences passed lift.
    unindex(node, obs);
    dropStale(node, obs);
    index(node, obs);
    liftFences(node);
  }
  return true;
}

bool ObservedState::alive(const std::string& node, std::string error, TimePoint now, int64_t wall_seconds) {
  NodeObservation& obs = nodes_[node];
  const bool came_online = !obs.online;
  obs.online = true;
  obs.last_seen = now;
  obs.last_seen_wall = wall_seconds;
  obs.report_error = error.empty() ? "the node reports that its status reports are refused" : std::move(error);
  return came_online;
}

void ObservedState::replicaPlaced(const std::string& node, const std::string& volume_uuid, uint64_t generation) {
  fences_[key(node, volume_uuid)] = generation;
  for (auto& [name, obs] : nodes_) {
    unindex(name, obs);
    dropStale(name, obs);
    index(name, obs);
  }
}

void ObservedState::dropStale(const std::string& node, NodeObservation& obs) const {
  if (fences_.empty()) return;
  const uint64_t applied = obs.report.applied_generation;
  auto stale = [&](const std::string& about, const std::string& volume_uuid) {
    auto f = fences_.find(key(about, volume_uuid));
    return f != fences_.end() && applied < f->second;
  };
  auto& replicas = obs.report.replicas;
  replicas.erase(std::remove_if(replicas.begin(), replicas.end(),
                                [&](const ReplicaReport& r) { return stale(node, r.volume_uuid); }),
                 replicas.end());
  for (auto& r : replicas) {
    r.peers.erase(std::remove_if(r.peers.begin(), r.peers.end(),
                                 [&](const PeerReport& p) { return stale(p.node, r.volume_uuid); }),
                  r.peers.end());
  }
}

void ObservedState::liftFences(const std::string& node) {
  for (auto f = fences_.begin(); f != fences_.end();) {
    const std::string fenced = f->first.substr(0, f->first.find('\n'));
    const std::string volume = f->first.substr(f->first.find('\n') + 1);
    bool passed = fenced == node;
    for (const auto& [name, obs] : nodes_) {
      if (!passed) break;
      const bool holds = reports_.count(key(name, volume)) != 0 || name == fenced;
      passed = !holds || obs.report.applied_generation >= f->second;
    }
    f = passed ? fences_.erase(f) : std::next(f);
  }
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

void ObservedState::index(const std::string& node, NodeObservation& obs) {
  // A volume reported twice: the later entry wins.
  for (auto& r : obs.report.replicas) reports_.insert_or_assign(key(node, r.volume_uuid), &r);
}

}  // namespace tandem::controller
