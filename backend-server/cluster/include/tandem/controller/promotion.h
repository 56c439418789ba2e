// Promotion check: may the replica on `node` become `volume`'s primary? Pure: takes the declared
// replicas and the observed state, returns a Status (see docs/architecture.md, "Promotion").
//
// OK when `node` already is the primary (promotion is idempotent) or when every rule below holds.
// Errors:
//  - kUnprocessable (replica_not_found): `node` holds no diskful replica of the volume;
//  - kConflict (primary_online): the current primary's node is online;
//  - kConflict (node_offline): `node` is offline;
//  - kConflict (replica_not_up_to_date): `node` does not report its copy up to date without error
//    (never overridable: an inconsistent or failed copy is not the volume's data);
//  - kConflict (promotion_unsafe), unless `force`: the volume's group has no quorum (`group_quorum`
//    false): the controller cannot tell a dead primary from one cut off from the network that
//    still acknowledges its local clients' writes, so only the operator, who can make sure the
//    old host is down, may promote; or (with quorum) the old primary's last report did not count
//    `node` as an up-to-date peer (or there is none since the controller started), or another
//    online replica reports an up-to-date copy with a different generation.
#pragma once

#include <string>
#include <vector>

#include "tandem/common/status.h"
#include "tandem/controller/observed_state.h"
#include "tandem/controller/records.h"

namespace tandem::controller {

Status checkPromotion(const VolumeRecord& volume, const std::vector<ReplicaRecord>& replicas,
                      const std::string& node, bool force, bool group_quorum, const ObservedState& observed);

}  // namespace tandem::controller
