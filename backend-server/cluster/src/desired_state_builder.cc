#include "tandem/controller/desired_state_builder.h"

#include <algorithm>
#include <map>
#include <unordered_map>

namespace tandem::controller {
namespace {

// The DRBD resource of a drbd-engine volume from its allocation: one host per allocated replica
// (its node's address, the replica's port and node-id; diskful as the replica). Hosts whose
// node is gone are left out.
nodeapi::DesiredDrbd drbdResource(const VolumeRecord& v, const DrbdVolumeAllocation& allocation,
                                  const std::vector<const ReplicaRecord*>& replicas,
                                  const std::map<std::string, const NodeRecord*>& nodes) {
  nodeapi::DesiredDrbd d;
  d.resource = v.name;
  d.minor = allocation.minor;
  d.shared_secret = allocation.shared_secret;
  for (const auto& a : allocation.replicas) {
    auto node = nodes.find(a.node);
    if (node == nodes.end()) continue;
    bool diskful = true;
    for (const ReplicaRecord* r : replicas) {
      if (r->node_name == a.node) diskful = r->diskful;
    }
    d.hosts.push_back({a.node, node->second->address, static_cast<uint16_t>(a.port), a.node_id, diskful});
  }
  // Spare peer slots so peers can be added without growing the metadata.
  d.max_peers = std::max<uint32_t>(kDrbdMaxPeers, static_cast<uint32_t>(d.hosts.size()));
  return d;
}

}  // namespace

Result<DesiredState> buildDesiredState(const std::string& node, const DeclaredState& declared) {
  std::map<std::string, const NodeRecord*> nodes;
  for (const auto& n : declared.nodes) nodes[n.name] = &n;
  if (!nodes.count(node)) {
    return Status(ErrorCode::kNotFound, "node '" + node + "' does not exist").withReason("node_not_found");
  }
  std::map<std::string, const GroupRecord*> groups;
  for (const auto& g : declared.groups) groups[g.name] = &g;
  std::unordered_map<std::string, const DrbdVolumeAllocation*> drbd;
  for (const auto& a : declared.drbd) drbd[a.volume_uuid] = &a;
  auto isDrbd = [&](const VolumeRecord& v) {
    auto g = groups.find(v.group);
    return g != groups.end() && g->second->engine == "drbd";
  };
  std::unordered_map<std::string, std::vector<const ReplicaRecord*>> by_volume;
  for (const auto& r : declared.replicas) by_volume[r.volume_uuid].push_back(&r);
  std::unordered_map<std::string, std::vector<const SnapshotRecord*>> snapshots;
  std::unordered_map<std::string, const SnapshotRecord*> snapshot_by_uuid;
  for (const auto& s : declared.snapshots) {
    snapshots[s.volume_uuid].push_back(&s);
    snapshot_by_uuid[s.uuid] = &s;
  }

  DesiredState state;
  state.generation = declared.generation;
  state.cluster_id = declared.cluster_id;
  state.node = node;
  for (const auto& v : declared.volumes) {
    const std::vector<const ReplicaRecord*>& of_volume = by_volume[v.uuid];
    const ReplicaRecord* mine = nullptr;
    for (const ReplicaRecord* r : of_volume) {
      if (r->node_name == node) mine = r;
    }
    if (mine == nullptr) continue;
    DesiredReplica d;
    if (isDrbd(v)) {
      auto allocation = drbd.find(v.uuid);
      if (allocation == drbd.end()) continue;  // not allocated yet: nothing the node could make
      d.drbd = drbdResource(v, *allocation->second, of_volume, nodes);
    }
    d.volume_name = v.name;
    d.volume_uuid = v.uuid;
    d.size_bytes = v.size_bytes;
    d.epoch = v.epoch;
    d.pool = mine->pool_name;
    auto group = groups.find(v.group);
    d.thin = group == groups.end() || group->second->thin;
    d.quorum = group != groups.end() && group->second->quorum;
    d.primary = v.primary_node == node && v.handover_to.empty();  // a handover: the old one stops first
    d.discard_generation = mine->discard_generation;
    for (const ReplicaRecord* r : of_volume) {
      if (r->node_name == node || !r->diskful) continue;
      auto it = nodes.find(r->node_name);
      if (it == nodes.end()) continue;
      d.peers.push_back(DesiredPeer{r->node_name, it->second->address, it->second->replication_port});
    }
    for (const SnapshotRecord* s : snapshots[v.uuid]) {
      if (s->state == SnapshotState::kError) continue;
      d.snapshots.push_back(s->uuid);
      if (s->state != SnapshotState::kCreating) continue;
      if (d.drbd) {
        // A drbd volume's snapshots are taken one at a time (the oldest first), cluster-wide:
        // every diskful replica goes through the snapshot's phase (docs/drbd.md, Snapshots).
        if (mine->diskful && d.drbd_snapshot.empty()) {
          d.drbd_snapshot = s->uuid;
          d.drbd_snapshot_phase = s->drbd_phase == SnapshotPhase::kResume ? nodeapi::SnapshotPhase::kResume
                                  : s->drbd_phase == SnapshotPhase::kTake ? nodeapi::SnapshotPhase::kTake
                                                                          : nodeapi::SnapshotPhase::kSuspend;
        }
      } else if (d.primary) {
        d.take_snapshots.push_back(s->uuid);  // the native primary takes it on every up-to-date replica
      }
    }
    if (!v.source_snapshot.empty()) {
      auto source = snapshot_by_uuid.find(v.source_snapshot);
      if (d.primary && source != snapshot_by_uuid.end()) {
        d.clone_volume = source->second->volume_uuid;
        d.clone_snapshot = source->second->uuid;
      }
      d.from_primary = !d.primary;
    }
    if (d.primary && v.adopting) d.adopt_from = v.adopted_from;
    if (d.primary && !v.revert_id.empty()) {
      d.revert_snapshot = v.revert_snapshot;
      d.revert_id = v.revert_id;
    }
    state.replicas.push_back(std::move(d));
  }
  for (const auto& r : declared.releases) {
    if (r.node_name == node) state.release.push_back({r.volume_name, r.volume_uuid, r.pool_name, r.backing_name});
  }
  std::unordered_map<std::string, const VolumeRecord*> volumes;
  for (const auto& v : declared.volumes) volumes[v.uuid] = &v;
  for (const auto& a : declared.attachments) {
    if (a.host != node) continue;
    auto v = volumes.find(a.volume_uuid);
    if (v == volumes.end()) continue;
    // An nbd attachment needs nothing on its host, except for a drbd volume: the host runs the
    // resource and its NBD server exports the DRBD device (docs/drbd.md, NBD mode).
    const bool drbd_nbd = a.mode == AttachMode::kNbd && isDrbd(*v->second);
    if (a.mode != AttachMode::kBlock && !drbd_nbd) continue;
    if (a.detaching) {
      if (a.force_detach) state.force_detach.push_back(v->second->name);
      continue;
    }
    auto primary = nodes.find(v->second->primary_node);
    if (primary == nodes.end()) continue;
    nodeapi::DesiredAttachment d;
    d.volume_name = v->second->name;
    d.volume_uuid = v->second->uuid;
    d.size_bytes = v->second->size_bytes;
    d.nbd_host = primary->second->address;
    d.nbd_port = primary->second->nbd_port;
    d.nbd_export = v->second->name;
    d.primary_here = primary->first == node;
    if (isDrbd(*v->second)) {
      auto allocation = drbd.find(v->second->uuid);
      if (allocation == drbd.end()) continue;
      d.drbd = drbdResource(*v->second, *allocation->second, by_volume[v->second->uuid], nodes);
    }
    if (drbd_nbd) {
      d.nbd = true;  // served by this node's own NBD server
      d.nbd_host = nodes.at(node)->address;
      d.nbd_port = nodes.at(node)->nbd_port;
      d.primary_here = false;
    }
    state.attachments.push_back(std::move(d));
  }
  return state;
}

DesiredState narrowToDelta(DesiredState state, const std::vector<std::string>& covers) {
  auto covered = [&](const std::string& uuid) { return std::binary_search(covers.begin(), covers.end(), uuid); };
  std::erase_if(state.replicas, [&](const DesiredReplica& r) { return !covered(r.volume_uuid); });
  std::erase_if(state.attachments, [&](const nodeapi::DesiredAttachment& a) { return !covered(a.volume_uuid); });
  state.delta = true;
  state.covers = covers;
  return state;
}

}  // namespace tandem::controller
