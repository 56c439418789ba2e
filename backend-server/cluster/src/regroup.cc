#include "tandem/controller/regroup.h"

#include <algorithm>

namespace tandem::controller {
namespace {

RegroupStep wait(std::string why) {
  RegroupStep step;
  step.action = RegroupAction::kWait;
  step.reason = std::move(why);
  return step;
}

bool countedUpToDate(const ReplicaReport& primary, const std::string& node) {
  for (const auto& p : primary.peers) {
    if (p.node == node) return p.state == nodeapi::PeerState::kUpToDate;
  }
  return false;
}

bool holdsUpToDateCopy(const ObservedState& observed, const std::string& node, const std::string& volume_uuid) {
  if (!observed.online(node)) return false;
  const ReplicaReport* r = observed.replicaReport(node, volume_uuid);
  return r != nullptr && r->error.empty() && r->disk == nodeapi::DiskState::kUpToDate;
}

}  // namespace

RegroupStep planRegroupStep(const VolumeRecord& volume, const std::vector<ReplicaRecord>& replicas,
                            const std::vector<AttachmentRecord>& attachments, const ObservedState& observed) {
  std::vector<std::string> leaving, staying;
  bool primary_leaves = false;
  for (const auto& r : replicas) {
    if (!r.diskful || r.volume_uuid != volume.uuid) continue;
    if (r.leaving) {
      leaving.push_back(r.node_name);
      primary_leaves = primary_leaves || r.node_name == volume.primary_node;
    } else if (r.node_name != volume.primary_node) {
      staying.push_back(r.node_name);
    }
  }
  if (leaving.empty()) return RegroupStep{};
  if (!volume.handover_to.empty()) return wait("the primary moves to " + volume.handover_to);

  const ReplicaReport* primary =
      observed.online(volume.primary_node) ? observed.replicaReport(volume.primary_node, volume.uuid) : nullptr;
  if (primary == nullptr || !primary->primary || !primary->error.empty() ||
      primary->disk != nodeapi::DiskState::kUpToDate) {
    return wait("the primary " + volume.primary_node + " is not online, serving and up to date");
  }
  for (const auto& node : staying) {
    if (!countedUpToDate(*primary, node) || !holdsUpToDateCopy(observed, node, volume.uuid)) {
      return wait("the replica on " + node + " is not up to date yet");
    }
  }
  std::sort(leaving.begin(), leaving.end());
  if (!primary_leaves) {
    RegroupStep step;
    step.action = RegroupAction::kRemoveLeaving;
    step.remove = leaving;
    return step;
  }
  if (staying.empty()) return wait("no replica the resource group allows");  // the layout placed at least one
  std::sort(staying.begin(), staying.end());
  RegroupStep step;
  step.action = RegroupAction::kHandOver;
  step.target = staying.front();
  for (const auto& a : attachments) {
    if (a.volume_uuid == volume.uuid && std::find(staying.begin(), staying.end(), a.host) != staying.end()) {
      step.target = a.host;
      break;
    }
  }
  return step;
}

}  // namespace tandem::controller
