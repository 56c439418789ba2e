// The inputs of placement (placement.h) built from the declared and observed state: one builder
// of the request for both volume creation and self-healing, and the candidate pools with the
// capacity that replicas placed but not yet reported will take. Pure functions.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "tandem/controller/observed_state.h"
#include "tandem/controller/placement.h"
#include "tandem/controller/records.h"

namespace tandem::controller {

// A request for `replicas` replicas of `size_bytes` under `group`'s rules (pools, thin,
// overprovision, spread keys, weights) for the volume named `volume` (the key of placement's
// tie-breaking hash). Healing adds exclude_nodes and kept_labels.
PlacementRequest placementRequestFor(const GroupRecord& group, uint64_t size_bytes, uint32_t replicas,
                                     const std::string& volume = "");

// Per (node, pool): the bytes of replicas placed there that their node has not reported yet —
// all of them (to add to provisioned) and the thick ones (to deduct from free).
struct PendingBytes {
  uint64_t provisioned = 0;
  uint64_t thick = 0;
};
using PendingByPool = std::map<std::pair<std::string, std::string>, PendingBytes>;

PendingByPool pendingBytes(const std::vector<VolumeRecord>& volumes,
                           const std::vector<ReplicaRecord>& replicas, const std::vector<GroupRecord>& groups,
                           const ObservedState& observed);

// Every pool of every node as a placement candidate: its node's liveness and labels, and its last
// reported capacity corrected by `pending` (so creates between two heartbeats cannot overcommit).
// A pool never reported has no capacity (0).
std::vector<PoolCandidate> placementCandidates(const std::vector<PoolRecord>& pools,
                                               const std::vector<NodeRecord>& nodes,
                                               const ObservedState& observed, const PendingByPool& pending);

// Sets each candidate's node_replicas: the diskful replicas declared on its node (reported or not,
// so creates between two heartbeats see each other).
void addReplicaCounts(std::vector<PoolCandidate>& candidates, const std::vector<ReplicaRecord>& replicas);

// Accounts for a replica of `size_bytes` just placed on `target` (as pendingBytes and addReplicaCounts
// would once stored).
void addPlaced(std::vector<PoolCandidate>& candidates, const Placement& target, uint64_t size_bytes,
               bool thin);

}  // namespace tandem::controller
