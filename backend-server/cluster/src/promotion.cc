#include "tandem/controller/promotion.h"

#include <algorithm>

namespace tandem::controller {
namespace {

// Whether the old primary's last report counted `node` up to date; else why not.
std::string missingEvidence(const VolumeRecord& volume, const std::string& node,
                            const ObservedState& observed) {
  const ReplicaReport* last = observed.replicaReport(volume.primary_node, volume.uuid);
  if (last == nullptr) return "the controller has no report from the old primary since it started";
  for (const auto& p : last->peers) {
    if (p.node == node && p.state == nodeapi::PeerState::kUpToDate) return "";
  }
  return "the old primary's last report did not count this replica up to date";
}

}  // namespace

Status checkPromotion(const VolumeRecord& volume, const std::vector<ReplicaRecord>& replicas,
                      const std::string& node, bool force, bool group_quorum, const ObservedState& observed) {
  bool holds = std::any_of(replicas.begin(), replicas.end(),
                           [&](const ReplicaRecord& r) { return r.node_name == node && r.diskful; });
  if (!holds) {
    return Status(ErrorCode::kUnprocessable,
                  "node '" + node + "' holds no replica of volume '" + volume.name + "'")
        .withReason("replica_not_found");
  }
  if (volume.primary_node == node) return Status::ok();
  auto conflict = [&](const std::string& reason, const std::string& message) {
    return Status(ErrorCode::kConflict,
                  "cannot promote " + node + " for volume " + volume.name + ": " + message)
        .withReason(reason);
  };
  if (observed.online(volume.primary_node)) {
    return conflict("primary_online", "its primary " + volume.primary_node +
                                          " is online; promotion is for a primary whose node is gone");
  }
  if (!observed.online(node)) return conflict("node_offline", "that node is offline");
  const ReplicaReport* own = observed.replicaReport(node, volume.uuid);
  if (own == nullptr || own->disk != nodeapi::DiskState::kUpToDate || !own->error.empty()) {
    return conflict("replica_not_up_to_date",
                    "its replica is " +
                        (own == nullptr ? std::string("not reported") : std::string(name(own->disk))) +
                        (own != nullptr && !own->error.empty() ? " (" + own->error + ")" : std::string()));
  }
  if (force) return Status::ok();
  if (!group_quorum) {
    return conflict("promotion_unsafe",
                    "the resource group '" + volume.group + "' has no quorum, so the controller cannot tell a dead "
                    "primary from one cut off from the network that still acknowledges its local clients' "
                    "writes (they would be missing here); make sure " + volume.primary_node +
                    " is really down (powered off or fenced), then pass force to promote");
  }
  std::string unsafe = missingEvidence(volume, node, observed);
  for (const auto& r : replicas) {
    if (r.node_name == node || r.node_name == volume.primary_node || !unsafe.empty()) continue;
    if (!observed.online(r.node_name)) continue;
    const ReplicaReport* rep = observed.replicaReport(r.node_name, volume.uuid);
    if (rep != nullptr && rep->disk == nodeapi::DiskState::kUpToDate && rep->generation != own->generation) {
      unsafe = "the replica on " + r.node_name + " has another generation (" + rep->generation + " vs " +
               own->generation + "): the copies diverged";
    }
  }
  if (!unsafe.empty()) {
    return conflict("promotion_unsafe", unsafe +
                                            "; writes acknowledged only by the old primary could be "
                                            "lost: pass force to promote anyway");
  }
  return Status::ok();
}

}  // namespace tandem::controller
