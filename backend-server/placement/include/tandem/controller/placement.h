// Placement: chooses where a volume's replicas live. A pure function of its inputs
// (deterministic for the same inputs), so it is tested without a cluster.
//
// Filter: the node is online; the pool is allowed by the resource group and at least as large
// as the volume; it has room:
//   - thick: `size_bytes` free (free space already net of thick replicas placed but not reported);
//   - thin:  provisioned + size <= total × overprovision, and size <= free × overprovision;
// and, when the group spreads by labels, the node has every `spread_keys` label; and, for a drbd
// volume (needs_drbd), the node can run DRBD 9 (drbd_missing is "").
// Spread: at most one replica per node, and for each spread key no two replicas on nodes with the
// same value of that label.
//
// Score (higher first; each term in [0, 1], weighted by the group's PlacementWeights):
//   free_space    = free after the replica / total (thick: free - size; thin: free, which
//                   moves only as data is written);
//   provisioned   = 1 - (provisioned + size) / (total × overprovision), the promised ratio after
//                   the replica (thick: overprovision 1), with replicas placed but not yet
//                   reported counted in `provisioned` (see placement_inputs.h);
//   replica_count = 1 - node_replicas / the most replicas on any eligible node (1 when none);
//   score = the weighted sum of the three. Thin groups therefore rank chiefly by promised ratio,
//   thick ones by free space (for them both capacity terms measure it).
// Scores are compared in steps of 0.001 (smaller differences are noise: a few bytes written
// between two reports, one small volume on a large pool). Ties: fewer replicas on the node, then
// a stable hash of (volume key, node): equal nodes share
// volumes out evenly rather than by name. A node's best-scored pool stands for the node.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "tandem/common/status.h"
#include "tandem/controller/placement_weights.h"

namespace tandem::controller {

struct PoolCandidate {
  std::string node;
  std::string pool;
  bool node_online = false;
  uint64_t total_bytes = 0;
  uint64_t free_bytes = 0;
  uint64_t provisioned_bytes = 0;                 // sizes of the volumes the pool holds or will hold
  uint32_t node_replicas = 0;                     // replicas the node holds or will hold (all pools)
  std::map<std::string, std::string> node_labels;
  // Why the node cannot run the drbd engine (no DRBD 9 module loaded, drbd-utils missing, no
  // report yet); "" when it can.
  std::string drbd_missing = std::string();
};

struct PlacementRequest {
  uint64_t size_bytes = 0;
  uint32_t replicas = 1;
  std::vector<std::string> allowed_pools;  // empty: any pool
  bool thin = false;
  double overprovision = 1.0;              // thin only; >= 1
  std::vector<std::string> spread_keys;    // node label keys whose values must differ
  // Replacing replicas of an existing volume: nodes never to use (those holding or having held a
  // replica), and the labels of the replicas that stay, whose values the new ones must avoid.
  std::vector<std::string> exclude_nodes;
  std::vector<std::map<std::string, std::string>> kept_labels;
  PlacementWeights weights;
  std::string volume;  // the tie-breaking hash's key (the volume's name); any stable string
  bool needs_drbd = false;  // engine drbd: only nodes whose drbd_missing is "" qualify
};

// Why a placement was chosen: the score and its terms (before weighting).
struct PlacementScore {
  double score = 0;
  double free_space = 0;
  double provisioned = 0;
  double replica_count = 0;
  uint32_t node_replicas = 0;
};

struct Placement {
  std::string node;
  std::string pool;
  PlacementScore score = {};
};

// Returns `replicas` placements on distinct nodes (and distinct values of every spread key), best
// first: the best-ranked set that satisfies the spread keys. Deterministic: the same request and
// candidates (in any order) give the same placements. Errors (kUnprocessable): reason "volume_too_large" when no allowed pool is that large at
// all (and some allowed pool of an online node has a known size); "not_enough_nodes" when too few eligible nodes have room, or they cannot be spread;
// "drbd_not_available" instead when nodes were left out for lacking DRBD 9 (the message names
// each such node with its reason). The message says how many were found and why the others were
// left out.
Result<std::vector<Placement>> placeReplicas(const PlacementRequest& request,
                                             const std::vector<PoolCandidate>& candidates);

// The diskless tie-breaker of a two-replica drbd volume (a third DRBD voter, so the volume can
// run `quorum majority`): an online node that can run DRBD (drbd_missing "") and is not in
// `exclude`, the one with the fewest replicas (then by name). Needs no pool space. nullopt when
// there is none (the volume then runs without quorum).
std::optional<std::string> placeTieBreaker(const std::vector<PoolCandidate>& candidates,
                                           const std::vector<std::string>& exclude);

}  // namespace tandem::controller
