#include "tandem/controller/replica_layout.h"

#include <algorithm>
#include <set>

#include "tandem/controller/placement_inputs.h"

namespace tandem::controller {
namespace {

// Why a replica on `node` in `pool` cannot stay under `group` next to replicas with `kept`
// labels ("" when it can).
std::string misfit(const GroupRecord& group, const std::string& pool, const std::map<std::string, std::string>& labels,
                   const std::vector<std::map<std::string, std::string>>& kept) {
  if (!group.pools.empty() && std::find(group.pools.begin(), group.pools.end(), pool) == group.pools.end()) {
    return "pool '" + pool + "' is not allowed by resource group '" + group.name + "'";
  }
  for (const auto& key : group.replicas_on_different) {
    auto value = labels.find(key);
    if (value == labels.end()) return "its node has no label '" + key + "' (resource group '" + group.name + "')";
    for (const auto& other : kept) {
      auto o = other.find(key);
      if (o != other.end() && o->second == value->second) {
        return "another replica kept is on " + key + "=" + value->second + " too";
      }
    }
  }
  return "";
}

}  // namespace

Result<LayoutPlan> planLayout(const LayoutInput& in, const ObservedState& observed) {
  std::map<std::string, std::map<std::string, std::string>> labels;
  for (const auto& n : in.nodes) labels[n.name] = n.labels;
  std::set<std::string> attached;
  for (const auto& a : in.attachments) attached.insert(a.host);
  std::set<std::string> up_to_date;
  if (const ReplicaReport* primary = observed.replicaReport(in.volume.primary_node, in.volume.uuid)) {
    for (const auto& p : primary->peers) {
      if (p.state == nodeapi::PeerState::kUpToDate) up_to_date.insert(p.node);
    }
  }

  // The order in which replicas are considered for keeping.
  auto rank = [&](const ReplicaRecord& r) {
    if (r.node_name == in.volume.primary_node) return 0;
    if (attached.count(r.node_name)) return 1;
    if (up_to_date.count(r.node_name)) return 2;
    return 3;
  };
  std::vector<const ReplicaRecord*> order;
  for (const auto& r : in.current) {
    if (r.diskful) order.push_back(&r);
  }
  std::stable_sort(order.begin(), order.end(), [&](const ReplicaRecord* a, const ReplicaRecord* b) {
    if (rank(*a) != rank(*b)) return rank(*a) < rank(*b);
    return a->node_name < b->node_name;
  });

  LayoutPlan plan;
  std::vector<std::map<std::string, std::string>> kept_labels;
  uint32_t kept = 0;
  bool primary_leaves = false;
  std::vector<std::string> evacuated;  // secondaries on evacuating nodes: they leave
  for (const ReplicaRecord* r : order) {
    const int r_rank = rank(*r);
    const bool evacuating = in.evacuating.count(r->node_name) != 0;
    const std::string why = evacuating ? "node " + r->node_name + " is being evacuated"
                                       : misfit(in.group, r->pool_name, labels[r->node_name], kept_labels);
    if (r_rank == 0 && !why.empty()) {
      if (attached.count(r->node_name)) {
        return Status(ErrorCode::kConflict, "volume '" + in.volume.name + "' is attached on " + r->node_name +
                                                ", the primary's node, whose replica would have to go (" + why +
                                                "); detach it first")
            .withReason("volume_attached");
      }
      primary_leaves = true;  // it stays until the primary has moved to a replica the group allows
      continue;
    }
    const bool room = kept < in.replicas;
    if (r_rank == 1 && (!why.empty() || !room)) {
      return Status(ErrorCode::kConflict, "volume '" + in.volume.name + "' is attached on " + r->node_name +
                                              ", whose replica would have to go (" +
                                              (why.empty() ? "fewer replicas than the primary and the attached hosts"
                                                           : why) +
                                              "); detach it first")
          .withReason("volume_attached");
    }
    if (why.empty() && room) {
      ++kept;
      kept_labels.push_back(labels[r->node_name]);
    } else if (evacuating) {
      evacuated.push_back(r->node_name);
    } else {
      plan.remove_nodes.push_back(r->node_name);
    }
  }
  if (!evacuated.empty() && !primary_leaves) {
    plan.leave_nodes = std::move(evacuated);
    evacuated.clear();
  }
  if (primary_leaves) {
    // Every excluded replica stays until the primary has moved: the copies are not thinned
    // out while the new ones sync.
    plan.leave_nodes = std::move(plan.remove_nodes);
    plan.remove_nodes.clear();
    plan.leave_nodes.insert(plan.leave_nodes.end(), evacuated.begin(), evacuated.end());
    plan.leave_nodes.push_back(in.volume.primary_node);
    std::sort(plan.leave_nodes.begin(), plan.leave_nodes.end());
  }
  std::sort(plan.remove_nodes.begin(), plan.remove_nodes.end());
  std::sort(plan.leave_nodes.begin(), plan.leave_nodes.end());
  if (kept < in.replicas) {
    PlacementRequest request = placementRequestFor(in.group, in.size_bytes, in.replicas - kept);
    for (const auto& r : in.current) request.exclude_nodes.push_back(r.node_name);
    request.kept_labels = kept_labels;
    ASSIGN_OR_RETURN(plan.add, placeReplicas(request, in.candidates));
  }
  return plan;
}

}  // namespace tandem::controller
