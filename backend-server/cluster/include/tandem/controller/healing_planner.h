// Self-healing planner: which secondary replicas to move off lost nodes, and where. Pure: takes
// the declared state, the observed state and the placement candidates as values and returns
// moves; ClusterService applies each move in one store transaction (see docs/architecture.md,
// "Self-healing").
//
// A secondary replica on a lost node is moved when (1) the volume's primary is online and
// reports its own copy up to date without error (it is the sync source) and (2) the primary does
// not count the lost replica's node as an up-to-date peer (a node cut off from the controller but
// still replicating is not lost). The target comes from placement with the group's rules,
// excluding the volume's nodes and avoiding the label values of the replicas that stay. At most
// one move per volume per plan; each planned move's space is taken from the candidates before
// the next volume is planned.
#pragma once

#include <set>
#include <string>
#include <vector>

#include "tandem/controller/observed_state.h"
#include "tandem/controller/placement.h"
#include "tandem/controller/records.h"

namespace tandem::controller {

struct HealingInput {
  std::vector<VolumeRecord> volumes;
  std::vector<ReplicaRecord> replicas;
  std::vector<GroupRecord> groups;
  std::vector<NodeRecord> nodes;          // for their labels
  std::set<std::string> lost_nodes;       // offline for at least the replace-after delay
  std::vector<PoolCandidate> candidates;  // see placementCandidates()
};

struct ReplicaMove {
  VolumeRecord volume;
  std::string from_node;  // the lost replica's node
  Placement to;
  std::string key;  // "<volume>/<lost node>": the subject of warnings
};

// A replica that could not be moved, and why (to be logged once per key).
struct HealingSkip {
  std::string key;  // "<volume>/<lost node>:primary" or ":placement"
  std::string message;
};

struct HealingPlan {
  std::vector<ReplicaMove> moves;
  std::vector<HealingSkip> skipped;
};

HealingPlan planReplicaMoves(HealingInput input, const ObservedState& observed);

}  // namespace tandem::controller
