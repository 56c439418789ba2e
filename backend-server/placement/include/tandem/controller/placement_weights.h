// The weights placement gives to each term of a candidate's score (see placement.h). Stored per
// resource group. The defaults rank by capacity alone (free space and promised ratio, equally);
// the replica count per node then only breaks ties, unless given a weight.
#pragma once

namespace tandem::controller {

struct PlacementWeights {
  double free_space = 1.0;     // the pool's free fraction after the replica
  double provisioned = 1.0;    // 1 - its promised ratio after the replica
  double replica_count = 0.0;  // fewer replicas on the node than the busiest eligible node

  bool operator==(const PlacementWeights&) const = default;
};

// The largest weight accepted (weights are numbers from 0 to this).
inline constexpr double kMaxPlacementWeight = 1000.0;

}  // namespace tandem::controller
