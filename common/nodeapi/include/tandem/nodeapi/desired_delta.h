// Desired-state deltas (messages.h, DesiredState::delta): the controller sends a node that has
// the state of generation G only the entries of the volumes whose part of its state changed
// since G (`covers`). The node applies the delta to the state of G it holds. Pure, thread-safe.
#pragma once

#include "tandem/common/status.h"
#include "tandem/nodeapi/messages.h"

namespace tandem::nodeapi {

// `base` (a full state) with `delta` applied: a full state (delta false, covers empty) with the
// delta's generation, `release` and `force_detach`; of the replica and attachment entries, those
// of covered volumes are the delta's (in place of the base's, new ones last; a covered volume
// without an entry in the delta is gone), the others the base's. A `delta` that is not one is
// returned as it is. kProtocol when the delta is for another node or cluster, is older than
// `base`, or carries an entry of a volume it does not cover.
Result<DesiredState> applyDesiredDelta(const DesiredState& base, const DesiredState& delta);

}  // namespace tandem::nodeapi
