// ObservedState: what nodes report — liveness, pool capacity, replica states — kept in memory,
// never in the store (nodes resend it every heartbeat). A plain value with no clock and no lock:
// callers pass the time, and ClusterService holds its mutex around every use.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "tandem/controller/cluster_views.h"

namespace tandem::controller {

struct NodeObservation {
  bool online = false;
  std::chrono::steady_clock::time_point last_seen{};
  int64_t last_seen_wall = 0;  // unix seconds
  NodeStatusReport report;     // the last one (a registration sets only its pools), always full
  uint64_t report_seq = 0;     // report_seq of the last full or delta report applied (0: none)
  std::string report_error;    // the node says its reports are refused, and why ("" when not)
};

class ObservedState {
 public:
  using TimePoint = std::chrono::steady_clock::time_point;

  // `started`: when the controller started; a node never seen is counted offline since then.
  explicit ObservedState(TimePoint started) : started_(started) {}
  ObservedState(const ObservedState&) = delete;  // holds pointers into itself
  ObservedState& operator=(const ObservedState&) = delete;

  // A registration: the node is online now, with the pools it registered with. Its last replica
  // reports are dropped: a registering node (re)starts and has made nothing real yet, so what it
  // reported before must not keep a volume `available` until it reports again.
  void registered(const std::string& node, std::vector<PoolReport> pools, TimePoint now,
                  int64_t wall_seconds);
  // A heartbeat: the node is online now and `report` replaces its last one. True when the node
  // was offline or unknown before.
  bool reported(const std::string& node, NodeStatusReport report, TimePoint now, int64_t wall_seconds);
  // A delta report (StatusReport::base_seq > 0): applied to the node's last report when that is
  // report base_seq (the node is online now and its report_seq is the delta's), else only the
  // node's liveness is recorded and false returned (the node must send a full report).
  // `came_online` is set when the node was offline or unknown before.
  bool reportedDelta(const std::string& node, const NodeStatusReport& delta, TimePoint now, int64_t wall_seconds,
                     bool& came_online);
  // A liveness heartbeat: the node is online now; its last report stays; `error` is why its
  // reports are refused. True when the node was offline or unknown before.
  bool alive(const std::string& node, std::string error, TimePoint now, int64_t wall_seconds);
  // Marks offline every online node silent for longer than `timeout`; returns their names.
  std::vector<std::string> markSilentOffline(TimePoint now, std::chrono::milliseconds timeout);
  // Forgets a node (deleted): it is unknown again.
  void forget(const std::string& node);
  // A replica of `volume_uuid` was placed on `node` by state generation `generation` (a replica
  // added, possibly where an earlier one was just removed). Until every report about it is made
  // at or past that generation, reports made before it describe the earlier replica: `node`'s
  // report of the volume from before `generation` is dropped (the replica is `creating`), and so
  // is any other node's peer entry about `node` for that volume from before it (a primary's
  // stale "up to date"). Applies to the reports held now and to those still arriving.
  void replicaPlaced(const std::string& node, const std::string& volume_uuid, uint64_t generation);

  // The node's observation, or null when it has not registered or reported since the start.
  // Valid until the next change to this object.
  const NodeObservation* find(const std::string& node) const;
  bool online(const std::string& node) const;
  // How long `node` has been offline: zero while online, else since its last heartbeat (or
  // since the controller's start, if later or if it was never seen).
  std::chrono::steady_clock::duration offlineFor(const std::string& node, TimePoint now) const;
  // The last report of `node` about volume `volume_uuid` (whether or not the node is still
  // online), or null. Constant time; valid until the next change to this object.
  const ReplicaReport* replicaReport(const std::string& node, const std::string& volume_uuid) const;

 private:
  static std::string key(const std::string& node, const std::string& volume_uuid) {
    return node + '\n' + volume_uuid;
  }
  void unindex(const std::string& node, const NodeObservation& obs);
  void index(const std::string& node, NodeObservation& obs);
  // Drops from `obs` (node `node`'s) what a fence says is stale (replicaPlaced).
  void dropStale(const std::string& node, NodeObservation& obs) const;
  // Lifts the fences on `node` that every held report has passed.
  void liftFences(const std::string& node);

  TimePoint started_;
  std::map<std::string, NodeObservation> nodes_;
  // Every replica report by (node, volume): deriving N volume views costs O(N), not O(N × reports).
  std::unordered_map<std::string, ReplicaReport*> reports_;
  // replicaPlaced() fences by (node, volume): the generation reports must have reached. Few, short-lived.
  std::map<std::string, uint64_t> fences_;
};

}  // namespace tandem::controller
