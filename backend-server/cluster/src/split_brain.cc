#include "tandem/controller/split_brain.h"

#include <algorithm>

namespace tandem::controller {

Result<SplitBrainResolution> planSplitBrainResolution(const VolumeRecord& volume,
                                                      const std::vector<ReplicaRecord>& replicas,
                                                      const std::string& keep, const ObservedState& observed) {
  bool holds = std::any_of(replicas.begin(), replicas.end(),
                           [&](const ReplicaRecord& r) { return r.node_name == keep && r.diskful; });
  if (!holds) {
    return Status(ErrorCode::kUnprocessable,
                  "node '" + keep + "' holds no replica of volume '" + volume.name + "'")
        .withReason("replica_not_found");
  }
  auto conflict = [&](const std::string& reason, const std::string& message) {
    return Status(ErrorCode::kConflict,
                  "cannot resolve volume " + volume.name + " by keeping " + keep + ": " + message)
        .withReason(reason);
  };
  const ReplicaReport* primary = observed.replicaReport(volume.primary_node, volume.uuid);
  bool diverged = primary != nullptr && observed.online(volume.primary_node) &&
                  std::any_of(primary->peers.begin(), primary->peers.end(), [](const PeerReport& p) {
                    return p.state == nodeapi::PeerState::kSplitBrain;
                  });
  if (!diverged) {
    return conflict("not_split_brain", "the primary " + volume.primary_node +
                                           " reports no diverged copy; there is nothing to resolve");
  }
  if (!observed.online(keep)) return conflict("node_offline", "that node is offline");
  const ReplicaReport* own = observed.replicaReport(keep, volume.uuid);
  if (own == nullptr || own->disk != nodeapi::DiskState::kUpToDate || !own->error.empty()) {
    return conflict("replica_not_up_to_date",
                    "its copy is " +
                        (own == nullptr ? std::string("not reported") : std::string(name(own->disk))) +
                        (own != nullptr && !own->error.empty() ? " (" + own->error + ")" : std::string()));
  }

  SplitBrainResolution plan;
  plan.primary = keep;
  plan.epoch = volume.primary_node == keep ? volume.epoch : volume.epoch + 1;
  for (const auto& r : replicas) {
    if (r.node_name == keep || !r.diskful) continue;
    const ReplicaReport* report = observed.replicaReport(r.node_name, volume.uuid);
    if (report != nullptr && !report->generation.empty()) plan.discard[r.node_name] = report->generation;
  }
  return plan;
}

}  // namespace tandem::controller
