// Maps a DRBD resource's state (events2.h) onto the node's typed replica report, the same one the
// native engine sends, so the controller derives the same volume states from it.
//
// Own disk: UpToDate → up to date; Inconsistent (and Attaching/Negotiating) → inconsistent;
// Outdated/Consistent/DUnknown → outdated; Diskless (not a client), Failed, Detaching → failed,
// with the error naming the DRBD state; no device or no resource → failed ("not running").
// Peers (the report's peers, named by their DRBD host names): a split-brain helper call, until the
// connection is Connected again → split brain; Connected and replicating SyncSource/SyncTarget/
// PausedSync* → syncing with done:% of the volume size as progress; Connected, Established and
// the peer's disk UpToDate → up to date; Connecting → connecting; anything else (StandAlone,
// Disconnecting, Connected with an outdated peer) → disconnected. Diskless peers are left out
// (they hold no copy).
#pragma once

#include <cstdint>
#include <string>

#include "tandem/drbd/events2.h"
#include "tandem/nodeapi/messages.h"

namespace tandem::drbd {

nodeapi::ReplicaReport drbdReplicaReport(const std::string& volume_uuid, uint64_t size_bytes,
                                         const DrbdResourceState* state);

}  // namespace tandem::drbd
