// Plain-struct builders shared by the cluster unit tests: records and reports as the store and
// the nodes would give them.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "tandem/controller/observed_state.h"
#include "tandem/controller/records.h"

namespace tandem::controller::fixtures {

inline const std::chrono::steady_clock::time_point kStart{std::chrono::hours(1)};

inline VolumeRecord volume(const std::string& name, const std::string& primary, uint64_t size = 1 << 20) {
  VolumeRecord v;
  v.uuid = "uuid-" + name;
  v.name = name;
  v.size_bytes = size;
  v.group = "g";
  v.primary_node = primary;
  return v;
}

inline ReplicaReport replicaReport(const VolumeRecord& v, nodeapi::DiskState disk,
                                   std::vector<PeerReport> peers = {},
                                   const std::string& generation = "gen-1") {
  ReplicaReport r;
  r.volume_uuid = v.uuid;
  r.disk = disk;
  r.generation = generation;
  r.peers = std::move(peers);
  return r;
}

inline PeerReport peer(const std::string& node, nodeapi::PeerState state, uint64_t done = 0,
                       uint64_t total = 0) {
  return PeerReport{node, state, done, total};
}

// Node `node` reports `replicas` (and one pool "p") now.
inline void report(ObservedState& observed, const std::string& node, std::vector<ReplicaReport> replicas,
                   uint64_t free_bytes = 100 << 20) {
  NodeStatusReport r;
  r.pools = {PoolReport{"p", "file", true, false, 100 << 20, free_bytes, 0}};
  r.replicas = std::move(replicas);
  observed.reported(node, std::move(r), kStart, 0);
}

inline std::vector<const ReplicaRecord*> pointers(const std::vector<ReplicaRecord>& replicas) {
  std::vector<const ReplicaRecord*> out;
  for (const auto& r : replicas) out.push_back(&r);
  return out;
}

inline std::vector<ReplicaRecord> replicasOf(const VolumeRecord& v, const std::vector<std::string>& nodes) {
  std::vector<ReplicaRecord> out;
  for (const auto& n : nodes) out.push_back(ReplicaRecord{v.uuid, n, "p", true, "", false});
  return out;
}

}  // namespace tandem::controller::fixtures
