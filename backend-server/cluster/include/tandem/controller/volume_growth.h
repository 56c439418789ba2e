// Whether a volume may grow: a pure check of the new size against the pools its replicas
// already live in (growing never moves a replica). Tested on plain structs.
#pragma once

#include <cstdint>
#include <vector>

#include "tandem/common/status.h"
#include "tandem/controller/placement.h"
#include "tandem/controller/records.h"

namespace tandem::controller {

// OK when every replica's pool can take the volume growing from `old_size` to `new_size` under
// the group's rules (the same ones placement applies to a new replica of the added bytes):
//   - the pool is at least `new_size` large, else kUnprocessable reason volume_too_large;
//   - thick: the added bytes are free; thin: provisioned + added <= total × overprovision and
//     added <= free × overprovision; else kUnprocessable reason no_space.
// Messages name the node and pool. A replica whose pool has no known capacity (its node has not
// reported it) is not checked: its node grows it when it returns, or reports the failure.
// kInvalidArgument (reason invalid_field) if `new_size` is not a multiple of 512;
// kUnprocessable (reason volume_shrink) if it is smaller than `old_size`.
Status checkGrowth(const GroupRecord& group, const std::vector<ReplicaRecord>& replicas, uint64_t old_size,
                   uint64_t new_size, const std::vector<PoolCandidate>& candidates);

}  // namespace tandem::controller
