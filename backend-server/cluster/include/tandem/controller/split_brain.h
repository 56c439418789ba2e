// Split-brain resolution: which copy of a volume an operator keeps when copies diverged (a primary
// cut off from the network went on acknowledging writes after another copy was promoted). Pure:
// takes the declared replicas and the observed state, returns the plan or why not
// (see docs/architecture.md, "Split brain").
//
// The kept copy becomes (or stays) the primary — at the next writer epoch when it changes — and
// every other diskful replica that reported a generation is told to discard exactly that
// generation, so the engine lets the kept primary fully resync it (and nothing else: a copy whose
// generation has moved on since is not touched). Replicas that have not reported are left out;
// if they too diverged they show as split brain again when they return.
//
// Errors:
//  - kUnprocessable (replica_not_found): `keep` holds no diskful replica of the volume;
//  - kConflict (not_split_brain): the primary does not report any replica as diverged;
//  - kConflict (node_offline): `keep` is offline;
//  - kConflict (replica_not_up_to_date): `keep` does not report its own copy up to date without
//    error (an inconsistent copy is not data anyone can keep).
#pragma once

#include <map>
#include <string>
#include <vector>

#include "tandem/common/status.h"
#include "tandem/controller/observed_state.h"
#include "tandem/controller/records.h"

namespace tandem::controller {

struct SplitBrainResolution {
  std::string primary;                        // the kept copy's node
  uint64_t epoch = 0;                         // the volume's writer epoch after the resolution
  std::map<std::string, std::string> discard; // node -> the generation of its copy to discard
};

Result<SplitBrainResolution> planSplitBrainResolution(const VolumeRecord& volume,
                                                      const std::vector<ReplicaRecord>& replicas,
                                                      const std::string& keep, const ObservedState& observed);

}  // namespace tandem::controller
