// Volume-state derivation: a volume's view from its declared replicas and what their nodes
// report. Pure (no store, no clock, no lock); the caller holds whatever guards `observed`.
//
// Each replica: offline when its node is; creating until its node reports it; error when the node
// reports an error for it. The primary is up to date or outdated by its own disk state. A
// secondary's state comes from the primary's view of it when the primary is online and has
// reported (a secondary cannot know whether it missed writes): up_to_date, syncing (with
// progress), creating or syncing while connecting (by its own disk), else outdated; without the
// primary's view it is syncing (inconsistent disk) or outdated, with the reason. The volume is
// available when every replica is up to date; creating when some are creating and none is
// syncing or bad; resyncing when some are syncing and none is bad; else degraded, with a reason
// naming each bad replica — except that a volume with a replica the primary reports as split brain
// (its copy diverged: it took writes the primary lacks) is split_brain, whatever the others are,
// with a reason naming those replicas and the command that resolves it.
#pragma once

#include <vector>

#include "tandem/controller/cluster_views.h"
#include "tandem/controller/observed_state.h"
#include "tandem/controller/records.h"

namespace tandem::controller {

// `replicas`: the volume's replicas. `primary_node`: the record of the volume's primary node
// (for the NBD URI), or null.
VolumeView deriveVolumeView(const VolumeRecord& volume, const std::vector<const ReplicaRecord*>& replicas,
                            const NodeRecord* primary_node, const ObservedState& observed);

// Sets the view's engine (its resource group's). A drbd volume attached in nbd mode is served by
// the export of its (first) nbd attachment's host, `nbd_attached_host` (the host that runs the
// resource and opens the device while clients are connected); otherwise by its primary's
// export, as a native volume (docs/drbd.md, NBD mode).
void setEngine(VolumeView& view, const std::string& engine, const NodeRecord* nbd_attached_host = nullptr);

}  // namespace tandem::controller
