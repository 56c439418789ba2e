// The desired state of one node, built from the declared state: every replica placed on it, with
// its volume, its resource group's provisioning and quorum, its role (primary or not) and its
// peers' replication addresses (the volume's other diskful replicas); and every block attachment
// on it that is not being detached, with the primary's NBD endpoint (and the names of those being
// detached with force). Pure.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "tandem/common/status.h"
#include "tandem/controller/cluster_views.h"
#include "tandem/controller/drbd_allocation.h"
#include "tandem/controller/records.h"

namespace tandem::controller {

// The declared state at one generation, as read from the store.
struct DeclaredState {
  uint64_t generation = 0;
  std::string cluster_id;
  std::vector<VolumeRecord> volumes;
  std::vector<ReplicaRecord> replicas;
  std::vector<NodeRecord> nodes;
  std::vector<GroupRecord> groups;
  std::vector<AttachmentRecord> attachments;
  std::vector<SnapshotRecord> snapshots;
  std::vector<ReleaseRecord> releases{};
  std::vector<DrbdVolumeAllocation> drbd{};  // the drbd-engine volumes' allocations
};

// Peer slots a DRBD volume's metadata gets at least (spares let peers be added later).
inline constexpr uint32_t kDrbdMaxPeers = 7;

// An adopting volume's primary is asked to adopt (adopt_from); a node's pending releases are
// listed (release). A volume of a drbd-engine group carries its DRBD resource (replicas and block
// attachments: `drbd`, from its allocation); until it has an allocation it is left out.
// Each replica keeps its volume's snapshots that are not in error; the primary is also asked to
// take those still creating.
// kNotFound (node_not_found) when `node` is not registered. A volume whose group is gone is thin
// and without quorum; a peer whose node is gone is left out, and so is an attachment whose volume
// or primary node is gone.
Result<DesiredState> buildDesiredState(const std::string& node, const DeclaredState& declared);

// Which form a node's desired state is answered in (ClusterService::watchDesiredState).
enum class DesiredForm {
  kFull,   // every entry
  kDelta,  // only the volumes whose part changed, when the store can say which
};

// `state` (built from a declared state that holds at least the volumes in `covers`) as a delta
// over `covers` (sorted): only the replica and attachment entries of those volumes are kept;
// `release` and `force_detach` stay whole. nodeapi::applyDesiredDelta() undoes it.
DesiredState narrowToDelta(DesiredState state, const std::vector<std::string>& covers);

}  // namespace tandem::controller
