// A change of a volume's replica count and/or resource group (PATCH /v1/volumes/{v} {replicas,
// resource_group}; Cinder's retype): which secondaries go and where new ones are placed. Pure:
// takes the declared and observed state as values; ClusterService applies the plan in one store
// transaction together with any size change (all or nothing).
//
// Rules, in order:
//   * the replica of every host the volume is attached on stays, and so does the primary's when
//     the target group allows it;
//   * under the target group a replica may stay only in an allowed pool, on a node carrying
//     every spread label, with label values distinct from the replicas kept before it;
//   * the replicas kept are: the primary, the attached hosts' replicas, then the others that the
//     primary counts up to date, then the rest (node name order within each), up to the count;
//   * the missing ones are placed by placement (placement.h) under the target group, on nodes
//     that hold no replica of the volume now, avoiding the kept replicas' label values; they start
//     empty and the primary's engine fully syncs them.
//   * when the target group does not allow the primary's replica, the primary moves: nothing is
//     removed now; the primary's replica and every replica the group excludes are marked
//     `leave_nodes` (ReplicaRecord::leaving), the count is made of kept and new replicas only,
//     and regroup.h moves the primary to one of them once they are synced, then deletes the
//     leaving ones.
//   * a replica on an evacuating node may not stay either, and it always leaves that way
//     (`leave_nodes`), never at once: the volume keeps its copies while the new ones sync.
// Refusals: 409 volume_attached when an attached host's replica would have to go (the primary's
// node attached and excluded by the group, fewer replicas than primary + attached hosts, or an
// attached host's pool/labels do not satisfy the target group); placement's 422 errors
// (not_enough_nodes, volume_too_large) when new replicas find no room.
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "tandem/common/status.h"
#include "tandem/controller/observed_state.h"
#include "tandem/controller/placement.h"
#include "tandem/controller/records.h"

namespace tandem::controller {

struct LayoutInput {
  VolumeRecord volume;
  GroupRecord group;                         // the target group (the current one when unchanged)
  uint32_t replicas = 0;                     // the target count of diskful replicas
  uint64_t size_bytes = 0;                   // the volume's size after the change
  std::vector<ReplicaRecord> current;        // the volume's replicas now
  std::vector<AttachmentRecord> attachments; // the volume's attachments
  std::vector<NodeRecord> nodes;             // for their labels
  std::vector<PoolCandidate> candidates;     // see placementCandidates()
  // Nodes being evacuated: a replica there may not stay, and it leaves (like the primary's
  // replica above) only once the replicas placed instead hold the data.
  std::set<std::string> evacuating{};
};

struct LayoutPlan {
  std::vector<std::string> remove_nodes;  // secondaries to delete
  std::vector<std::string> leave_nodes;   // replicas deleted once the primary has moved off them
  std::vector<Placement> add;             // new replicas
  bool empty() const { return remove_nodes.empty() && leave_nodes.empty() && add.empty(); }
};

Result<LayoutPlan> planLayout(const LayoutInput& in, const ObservedState& observed);

}  // namespace tandem::controller
