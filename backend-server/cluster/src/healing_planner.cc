#include "tandem/controller/healing_planner.h"

#include <map>
#include <unordered_map>

#include "tandem/controller/placement_inputs.h"

namespace tandem::controller {

HealingPlan planReplicaMoves(HealingInput in, const ObservedState& observed) {
  HealingPlan plan;
  if (in.lost_nodes.empty()) return plan;
  std::unordered_map<std::string, std::vector<const ReplicaRecord*>> by_volume;
  for (const auto& r : in.replicas) by_volume[r.volume_uuid].push_back(&r);
  std::map<std::string, const GroupRecord*> groups;
  for (const auto& g : in.groups) groups[g.name] = &g;
  std::map<std::string, std::map<std::string, std::string>> labels;
  for (const auto& n : in.nodes) labels[n.name] = n.labels;

  for (const auto& v : in.volumes) {
    const std::vector<const ReplicaRecord*>& mine = by_volume[v.uuid];
    for (const ReplicaRecord* lost : mine) {
      // Diskless replicas (a DRBD tie-breaker or client) hold no copy: nothing to re-create. A
      // leaving replica (a group change moving the primary, regroup.h) is not replaced: it goes.
      if (lost->node_name == v.primary_node || !lost->diskful || lost->leaving ||
          !in.lost_nodes.count(lost->node_name)) {
        continue;
      }
      const std::string key = v.name + "/" + lost->node_name;
      const ReplicaReport* report =
          observed.online(v.primary_node) ? observed.replicaReport(v.primary_node, v.uuid) : nullptr;
      if (report == nullptr || report->disk != nodeapi::DiskState::kUpToDate || !report->error.empty()) {
        plan.skipped.push_back({key + ":primary", "volume " + v.name +
                                                      ": cannot replace the replica on offline node " +
                                                      lost->node_name + ": its primary " + v.primary_node +
                                                      " is not online and up to date (no failover yet)"});
        continue;
      }
      bool peer_up = false;
      for (const auto& p : report->peers) {
        peer_up = peer_up || (p.node == lost->node_name && p.state == nodeapi::PeerState::kUpToDate);
      }
      if (peer_up) continue;
      auto group = groups.find(v.group);
      if (group == groups.end()) continue;
      PlacementRequest request = placementRequestFor(*group->second, v.size_bytes, 1, v.name);
      for (const ReplicaRecord* r : mine) {
        request.exclude_nodes.push_back(r->node_name);
        if (r != lost && !r->leaving) request.kept_labels.push_back(labels[r->node_name]);
      }
      auto placement = placeReplicas(request, in.candidates);
      if (!placement.isOk()) {
        plan.skipped.push_back(
            {key + ":placement", "volume " + v.name + ": no node can take the replica lost with " +
                                     lost->node_name + ": " + placement.status().message()});
        continue;
      }
      const Placement& target = placement->front();
      addPlaced(in.candidates, target, v.size_bytes, group->second->thin);
      plan.moves.push_back(ReplicaMove{v, lost->node_name, target, key});
      break;  // one move per volume: the next plan handles any other lost replica of this volume
    }
  }
  return plan;
}

}  // namespace tandem::controller
