#include "tandem/controller/cluster_service.h"

#include "tandem/controller/drbd_snapshot.h"

#include <algorithm>
#include <cstdio>
#include <optional>
#include <unordered_map>
#include <unordered_set>

#include "tandem/common/log.h"
#include "tandem/common/object_name.h"
#include "tandem/controller/attachments.h"
#include "tandem/common/uuid.h"
#include "tandem/controller/desired_state_builder.h"
#include "tandem/controller/drbd_snapshot.h"
#include "tandem/controller/healing_planner.h"
#include "tandem/controller/placement_inputs.h"
#include "tandem/controller/promotion.h"
#include "tandem/controller/regroup.h"
#include "tandem/controller/replica_layout.h"
#include "tandem/controller/split_brain.h"
#include "tandem/controller/tokens.h"
#include "tandem/controller/volume_growth.h"
#include "tandem/controller/volume_state.h"

namespace tandem::controller {
namespace {

// A volume's size: a positive multiple of 512 bytes.
Status checkVolumeSize(uint64_t size_bytes) {
  if (size_bytes == 0 || size_bytes % 512 != 0) {
    return Status(ErrorCode::kInvalidArgument, "size_bytes must be a positive multiple of 512")
        .withReason("invalid_field");
  }
  return Status::ok();
}

int64_t unixSeconds(std::chrono::system_clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
}

bool sameGroup(const GroupRecord& a, const GroupRecord& b) {
  return a.replicas == b.replicas && a.engine == b.engine && a.thin == b.thin && a.pools == b.pools &&
         a.replicas_on_different == b.replicas_on_different && a.overprovision == b.overprovision &&
         a.quorum == b.quorum && a.allow_multiattach == b.allow_multiattach;
}

}  // namespace

ClusterService::ClusterService(Store& store, Clock& clock, ClusterOptions options)
    : store_(store), clock_(clock), options_(options), started_(clock.steadyNow()), observed_(started_) {}

ClusterService::~ClusterService() {
  answers_.stop();  // answers what was already due
  for (auto& w : watch_.takeAll()) w.done(Status(ErrorCode::kUnavailable, "controller is shutting down"));
  for (auto& p : pending_detaches_) p.done(Status(ErrorCode::kUnavailable, "controller is shutting down"));
}

Result<RegisterNodeResult> ClusterService::registerNode(const RegisterNodeRequest& request) {
  RegisterNodeResult result;
  {
    std::lock_guard lock(mu_);
    auto existing = store_.getNode(request.name);
    if (existing.isOk()) {
      if (request.uuid != existing->uuid) {
        return Status(ErrorCode::kAlreadyExists, "node '" + request.name +
                                                     "' is already registered with another identity (uuid " +
                                                     existing->uuid + ")")
            .withReason("node_exists");
      }
      result.node = *existing;
    } else if (existing.status().code() == ErrorCode::kNotFound) {
      if (!request.uuid.empty() && !isUuid(request.uuid)) {
        return Status(ErrorCode::kInvalidArgument, "field 'uuid' must be a UUID").withReason("invalid_field");
      }
      result.node.uuid = request.uuid.empty() ? newUuid() : request.uuid;
      result.node.name = request.name;
      result.created = true;
    } else {
      return existing.status();
    }
    result.node.address = request.address;
    result.node.nbd_port = request.nbd_port;
    result.node.replication_port = request.replication_port;
    result.node.labels = request.labels;
    ASSIGN_OR_RETURN(result.token, newToken());
    result.node.token_hash = hashToken(result.token);
    result.node.registered_at = unixSeconds(clock_.wallNow());
    result.cluster_id = store_.clusterId();

    std::vector<PoolRecord> pools;
    for (const auto& p : request.pools)
      pools.push_back(PoolRecord{request.name, p.name, p.provider, p.thin, p.snapshots});
    node_rows_.reset();  // whatever the outcome: read again at the next placement
    RETURN_IF_ERROR(store_.upsertNode(result.node, pools));
    if (const NodeObservation* before = observed_.find(request.name)) {
      std::vector<std::string> dropped;
      for (const auto& r : before->report.replicas) dropped.push_back(r.volume_uuid);
      ledgerReportsLocked(request.name, {}, dropped);
    }
    observed_.registered(request.name, request.pools, clock_.steadyNow(), unixSeconds(clock_.wallNow()));
  }
  log::info("cluster", (result.created ? "registered node " : "re-registered node ") + request.name + " (" +
                           result.node.uuid + ") at " + request.address);
  // Registration changes addresses other nodes use: wake their long-polls.
  notifyWatchers();
  return result;
}

bool ClusterService::authenticateNode(const std::string& name, std::string_view token) {
  auto node = store_.getNode(name);
  return node.isOk() && tokensEqual(node->token_hash, hashToken(token));
}

bool ClusterService::isNodeToken(std::string_view token) {
  auto nodes = store_.listNodes();
  if (!nodes.isOk()) return false;
  std::string hash = hashToken(token);
  for (const auto& n : *nodes) {
    if (tokensEqual(n.token_hash, hash)) return true;
  }
  return false;
}

Result<nodeapi::StatusAck> ClusterService::receiveReport(const std::string& name, NodeStatusReport report) {
  RETURN_IF_ERROR(store_.getNode(name).status());
  bool changed = false;
  nodeapi::StatusAck ack;
  std::vector<std::pair<std::function<void(Status)>, Status>> settled;
  std::vector<std::function<void()>> clones;
  {
    std::lock_guard lock(mu_);
    const auto now = clock_.steadyNow();
    const int64_t wall = unixSeconds(clock_.wallNow());
    bool came_online = false;
    bool applied = false;  // the report (full or delta) is now the node's observed state
    if (report.liveness_only) {
      const NodeObservation* before = observed_.find(name);
      if (before == nullptr || before->report_error != report.report_error) {
        log::error("cluster", "node " + name + " is alive but its status reports are refused: " +
                                  report.report_error + "; its last accepted report is kept and its replicas "
                                  "are not moved");
      }
      came_online = observed_.alive(name, report.report_error, now, wall);
    } else if (report.base_seq != 0) {
      std::vector<std::string> appeared, vanished;
      for (const auto& r : report.replicas) {
        if (observed_.replicaReport(name, r.volume_uuid) == nullptr) appeared.push_back(r.volume_uuid);
      }
      for (const auto& uuid : report.removed_replicas) {
        if (observed_.replicaReport(name, uuid) != nullptr) vanished.push_back(uuid);
      }
      if (!observed_.reportedDelta(name, report, now, wall, came_online)) {
        log::info("cluster", "node " + name + " sent a delta against report " + std::to_string(report.base_seq) +
                                 ", which this controller does not hold: asking for a full report");
        ack.send_full = true;
      } else {
        ack.acknowledged = report.report_seq;
        applied = true;
        ledgerReportsLocked(name, appeared, vanished);
      }
    } else {
      ack.acknowledged = report.report_seq;
      applied = true;
      std::unordered_set<std::string> before, after;
      if (const NodeObservation* obs = observed_.find(name)) {
        for (const auto& r : obs->report.replicas) before.insert(r.volume_uuid);
      }
      for (const auto& r : report.replicas) after.insert(r.volume_uuid);
      came_online = observed_.reported(name, std::move(report), now, wall);
      report = NodeStatusReport{};  // moved from; the full report is the observed one now
      std::vector<std::string> appeared, vanished;
      for (const auto& uuid : after) {
        if (!before.count(uuid)) appeared.push_back(uuid);
      }
      for (const auto& uuid : before) {
        if (!after.count(uuid)) vanished.push_back(uuid);
      }
      ledgerReportsLocked(name, appeared, vanished);
    }
    if (came_online) log::info("cluster", "node " + name + " is online");
    const NodeObservation* obs = observed_.find(name);
    if (applied && obs != nullptr) {
      // A delta's replicas are what changed; a full report's are all of them.
      const std::vector<ReplicaReport>& replicas = report.base_seq != 0 ? report.replicas : obs->report.replicas;
      if (recordSnapshotsLocked(name, replicas)) changed = true;
      if (coordinateDrbdSnapshotsLocked()) changed = true;
      if (finishRevertsLocked(name, replicas)) changed = true;
      if (finishAdoptionsLocked(name, replicas)) changed = true;
      if (finishReleasesLocked(name, obs->report)) changed = true;
      if (finishSourcesLocked()) changed = true;
    }
    settled = settleDetachesLocked(name);
    // After the report is recorded: a clone is placed where the report says the snapshot is.
    for (auto& call : settleClonesLocked()) {
      clones.push_back(std::move(call));
      changed = true;
    }
  }
  if (changed || !settled.empty()) notifyWatchers();
  for (auto& [done, status] : settled) done(status);
  for (auto& call : clones) call();
  return ack;
}

bool ClusterService::recordSnapshotsLocked(const std::string& node, const std::vector<ReplicaReport>& replicas) {
  const bool any = std::any_of(replicas.begin(), replicas.end(), [](const ReplicaReport& r) {
    return r.primary && (!r.snapshots.empty() || !r.failed_snapshots.empty());
  });
  if (!any) return false;
  bool changed = false;
  for (const auto& r : replicas) {
    if (!r.primary || (r.snapshots.empty() && r.failed_snapshots.empty())) continue;
    // Indexed reads of this volume only (a report costs O(its replicas), not O(the cluster)).
    auto volume = store_.getVolumeByUuid(r.volume_uuid);
    // Only the volume's declared primary decides (a stale report of a demoted one does not).
    if (!volume.isOk() || volume->primary_node != node) continue;
    // A drbd volume's snapshots are decided cluster-wide (coordinateDrbdSnapshotsLocked).
    if (auto group = store_.getGroup(volume->group); group.isOk() && group->engine == "drbd") continue;
    auto snapshots = store_.listSnapshotsOf(r.volume_uuid);
    if (!snapshots.isOk()) continue;
    for (const auto& s : *snapshots) {
      if (s.state != SnapshotState::kCreating) continue;
      const bool taken = std::find(r.snapshots.begin(), r.snapshots.end(), s.uuid) != r.snapshots.end();
      const bool failed =
          std::find(r.failed_snapshots.begin(), r.failed_snapshots.end(), s.uuid) != r.failed_snapshots.end();
      if (!taken && !failed) continue;
      const std::string message = taken ? "" : "the primary " + node + " could not take it (see its log)";
      Status st = store_.setSnapshotState(s.uuid, taken ? SnapshotState::kAvailable : SnapshotState::kError, message);
      if (!st.isOk()) {
        log::warn("cluster", "snapshot " + s.name + ": recording its state failed: " + st.toString());
        continue;
      }
      log::info("cluster", "snapshot " + s.name + " of volume " + volume->name +
                               (taken ? " taken" : " failed: " + message));
      changed = true;
    }
  }
  return changed;
}

bool ClusterService::coordinateDrbdSnapshotsLocked() {
  if (!drbd_snapshots_pending_) return false;  // the common case costs nothing
  auto snapshots = store_.listSnapshots();
  if (!snapshots.isOk()) return false;
  const auto now = clock_.steadyNow();
  bool any = false, changed = false;
  std::set<std::string> driven;   // volumes whose oldest creating snapshot is driven now
  std::set<std::string> creating;
  for (const auto& s : *snapshots) {  // by volume, oldest first: one snapshot per volume at a time
    if (s.state != SnapshotState::kCreating) continue;
    auto volume = store_.getVolumeByUuid(s.volume_uuid);
    if (!volume.isOk()) continue;
    auto group = store_.getGroup(volume->group);
    if (!group.isOk() || group->engine != "drbd") continue;
    any = true;
    creating.insert(s.uuid);
    if (!driven.insert(s.volume_uuid).second) continue;
    const auto deadline = drbd_snapshot_deadlines_.try_emplace(s.uuid, now + options_.drbd_snapshot_timeout).first->second;
    auto replicas = store_.listReplicasOf(s.volume_uuid);
    if (!replicas.isOk()) continue;
    std::vector<std::pair<std::string, const ReplicaReport*>> hosts;
    for (const auto& r : *replicas) {
      if (!r.diskful) continue;
      hosts.emplace_back(r.node_name,
                         observed_.online(r.node_name) ? observed_.replicaReport(r.node_name, s.volume_uuid) : nullptr);
    }
    DrbdSnapshotStep step = nextDrbdSnapshotStep(s, hosts);
    if (step.kind == DrbdSnapshotStep::Kind::kWait && now >= deadline) {
      step.kind = DrbdSnapshotStep::Kind::kFail;
      step.message = "timed out in phase " + std::string(name(s.drbd_phase)) + " after " +
                     std::to_string(options_.drbd_snapshot_timeout.count()) +
                     " ms (every diskful replica must report it); every replica resumed I/O";
    }
    Status st;
    switch (step.kind) {
      case DrbdSnapshotStep::Kind::kWait: continue;
      case DrbdSnapshotStep::Kind::kAdvance: st = store_.setSnapshotPhase(s.uuid, step.phase); break;
      case DrbdSnapshotStep::Kind::kAvailable: st = store_.setSnapshotState(s.uuid, SnapshotState::kAvailable, ""); break;
      case DrbdSnapshotStep::Kind::kFail: st = store_.setSnapshotState(s.uuid, SnapshotState::kError, step.message); break;
    }
    if (!st.isOk()) {
      log::warn("cluster", "snapshot " + s.name + ": recording its progress failed: " + st.toString());
      continue;
    }
    changed = true;
    log::info("cluster", "snapshot " + s.name + " of drbd volume " + volume->name + ": " +
                             (step.kind == DrbdSnapshotStep::Kind::kAdvance ? "every diskful replica is ready: " +
                                                                                   std::string(name(step.phase))
                              : step.kind == DrbdSnapshotStep::Kind::kAvailable ? "taken at one point on every replica"
                                                                                : "failed: " + step.message));
  }
  for (auto it = drbd_snapshot_deadlines_.begin(); it != drbd_snapshot_deadlines_.end();) {
    it = creating.count(it->first) ? std::next(it) : drbd_snapshot_deadlines_.erase(it);
  }
  // Keep looking while one is creating (also for the one that just finished: a next may follow).
  drbd_snapshots_pending_ = any;
  return changed;
}

bool ClusterService::finishAdoptionsLocked(const std::string& node, const std::vector<ReplicaReport>& replicas) {
  std::unordered_map<std::string, const ReplicaReport*> held;  // up-to-date primaries, by volume uuid
  for (const auto& r : replicas) {
    if (r.primary && r.disk == nodeapi::DiskState::kUpToDate && r.error.empty()) held[r.volume_uuid] = &r;
  }
  if (held.empty() || !adoptions_pending_) return false;  // the common case costs nothing
  auto volumes = store_.listVolumes();
  if (!volumes.isOk()) return false;
  bool changed = false;
  adoptions_pending_ = false;
  for (const auto& v : *volumes) {
    if (!v.adopting) continue;
    adoptions_pending_ = true;
    if (v.primary_node != node || !held.count(v.uuid)) continue;
    if (Status st = store_.finishAdoption(v.uuid); !st.isOk()) {
      log::warn("cluster", "volume " + v.name + ": " + st.toString());
      continue;
    }
    log::info("cluster", "volume " + v.name + ": " + node + " has adopted backing volume '" + v.adopted_from + "'");
    changed = true;
  }
  return changed;
}

bool ClusterService::finishReleasesLocked(const std::string& node, const NodeStatusReport& report) {
  auto releases = store_.listReleases();
  if (!releases.isOk()) return false;
  bool changed = false;
  for (const auto& r : *releases) {
    if (r.node_name != node || report.applied_generation < r.generation) continue;
    const bool held = std::any_of(report.replicas.begin(), report.replicas.end(),
                                  [&](const ReplicaReport& rep) { return rep.volume_uuid == r.volume_uuid; });
    if (held) continue;  // still in its engine, or the release failed (the report says why)
    if (Status st = store_.removeRelease(r.volume_uuid); !st.isOk()) {
      log::warn("cluster", "release of volume " + r.volume_name + ": " + st.toString());
      continue;
    }
    log::info("cluster", "node " + node + " released forgotten volume " + r.volume_name + " as '" + r.backing_name +
                             "' in pool " + r.pool_name);
    changed = true;
  }
  return changed;
}

Status ClusterService::deleteNode(const std::string& name) {
  std::lock_guard lock(mu_);
  if (observed_.online(name)) {
    return Status(ErrorCode::kConflict, "node '" + name + "' is online; stop its node worker first")
        .withReason("node_online");
  }
  node_rows_.reset();
  RETURN_IF_ERROR(store_.deleteNode(name));
  if (const NodeObservation* before = observed_.find(name)) {
    std::vector<std::string> dropped;
    for (const auto& r : before->report.replicas) dropped.push_back(r.volume_uuid);
    ledgerReportsLocked(name, {}, dropped);
  }
  observed_.forget(name);
  log::info("cluster", "removed node " + name);
  return Status::ok();
}

Result<std::vector<NodeView>> ClusterService::listNodes() {
  ASSIGN_OR_RETURN(auto nodes, store_.listNodes());
  std::lock_guard lock(mu_);
  std::vector<NodeView> out;
  for (auto& n : nodes) {
    NodeView v;
    if (const NodeObservation* obs = observed_.find(n.name)) {
      v.online = obs->online;
      v.last_heartbeat = obs->last_seen_wall;
      v.pools = obs->report.pools;
      v.report_error = obs->report_error;
      v.drbd = obs->report.drbd;
    }
    if (n.evacuating) {
      NodeView::Evacuation e;
      auto replicas = store_.listReplicasOnNode(n.name);
      if (replicas.isOk()) {
        for (const auto& r : *replicas) {
          if (!r.diskful) continue;
          ++e.replicas_left;
          if (r.leaving) ++e.moving;
        }
      }
      if (auto b = evacuation_blocked_.find(n.name); b != evacuation_blocked_.end()) e.blocked = b->second;
      v.evacuation = std::move(e);
    }
    v.node = std::move(n);
    out.push_back(std::move(v));
  }
  return out;
}

Result<NodeView> ClusterService::evacuateNode(const std::string& name, bool evacuate) {
  {
    std::lock_guard lock(mu_);
    RETURN_IF_ERROR(store_.setNodeEvacuating(name, evacuate));
    node_rows_.reset();  // placement reads the flag with the node rows
    if (evacuate) {
      evacuations_pending_ = true;
      log::info("cluster", "node " + name + " is being evacuated: its replicas move to other nodes");
    } else {
      evacuation_blocked_.erase(name);
      log::info("cluster", "node " + name + ": evacuation cancelled (moves already started finish)");
    }
    advanceEvacuationsLocked();
  }
  notifyWatchers();
  return getNode(name);
}

bool ClusterService::advanceEvacuationsLocked() {
  if (!evacuations_pending_) return false;  // the common case costs nothing
  auto nodes = store_.listNodes();
  if (!nodes.isOk()) return false;
  bool changed = false;
  evacuations_pending_ = false;
  for (const auto& n : *nodes) {
    if (!n.evacuating) continue;
    evacuations_pending_ = true;
    auto replicas = store_.listReplicasOnNode(n.name);
    if (!replicas.isOk()) continue;
    uint32_t moving = 0;
    for (const auto& r : *replicas) moving += r.leaving ? 1 : 0;
    std::map<std::string, std::string> blocked;
    for (const auto& r : *replicas) {
      if (r.leaving || !r.diskful) continue;
      if (moving >= kEvacuationBatch) break;
      Status s = moveOffLocked(r.volume_uuid, n.name);
      if (s.isOk()) {
        ++moving;
        changed = true;
        continue;
      }
      auto volume = store_.getVolumeByUuid(r.volume_uuid);
      blocked[volume.isOk() ? volume->name : r.volume_uuid] = s.message();
    }
    auto& before = evacuation_blocked_[n.name];
    for (const auto& [volume, why] : blocked) {
      auto b = before.find(volume);
      if (b == before.end() || b->second != why) {
        log::warn("cluster", "evacuating node " + n.name + ": volume " + volume + " cannot move now: " + why);
      }
    }
    before = std::move(blocked);
    if (replicas->empty() && moving == 0) evacuation_blocked_.erase(n.name);
  }
  return changed;
}

Status ClusterService::moveOffLocked(const std::string& volume_uuid, const std::string& node) {
  ASSIGN_OR_RETURN(VolumeRecord volume, store_.getVolumeByUuid(volume_uuid));
  ASSIGN_OR_RETURN(GroupRecord group, store_.getGroup(volume.group));
  if (group.engine == "drbd") {
    return Status(ErrorCode::kUnprocessable, "drbd volumes are not evacuated yet (move it with a resource-group change)")
        .withReason("not_implemented");
  }
  if (!volume.handover_to.empty()) {
    return Status(ErrorCode::kConflict, "its primary is being handed over to " + volume.handover_to)
        .withReason("handover_in_progress");
  }
  ASSIGN_OR_RETURN(auto replicas, store_.listReplicasOf(volume.uuid));
  if (std::any_of(replicas.begin(), replicas.end(), [](const ReplicaRecord& r) { return r.leaving; })) {
    return Status(ErrorCode::kConflict, "it is still moving (a resource-group change)").withReason("regroup_in_progress");
  }
  LayoutInput in;
  in.volume = volume;
  in.group = group;
  in.replicas = static_cast<uint32_t>(
      std::count_if(replicas.begin(), replicas.end(), [](const ReplicaRecord& r) { return r.diskful; }));
  in.size_bytes = volume.size_bytes;
  in.current = replicas;
  ASSIGN_OR_RETURN(in.attachments, store_.listAttachmentsOf(volume.uuid));
  ASSIGN_OR_RETURN(in.nodes, store_.listNodes());
  ASSIGN_OR_RETURN(in.candidates, candidatesLocked());
  in.evacuating = {node};
  ASSIGN_OR_RETURN(LayoutPlan plan, planLayout(in, observed_));
  std::vector<std::string> going = plan.remove_nodes;
  going.insert(going.end(), plan.leave_nodes.begin(), plan.leave_nodes.end());
  RETURN_IF_ERROR(checkSnapshotsKeepACopyLocked(volume, going));
  VolumeChange change;
  change.volume_uuid = volume.uuid;
  change.remove_nodes = plan.remove_nodes;
  change.leave_nodes = plan.leave_nodes;
  for (const auto& p : plan.add) change.add.push_back(ReplicaRecord{volume.uuid, p.node, p.pool, true, "", false});
  RETURN_IF_ERROR(applyReplicaChangeLocked(volume, change));
  std::string added;
  for (const auto& r : change.add) added += (added.empty() ? "" : ", ") + r.node_name + "/" + r.pool_name;
  log::info("cluster", "volume " + volume.name + ": moving off " + node + " (evacuation): replica added on " + added +
                           "; the one on " + node + (node == volume.primary_node ? " (the primary)" : "") +
                           " leaves once the others hold the data");
  return Status::ok();
}

Status ClusterService::applyReplicaChangeLocked(const VolumeRecord& volume, const VolumeChange& change) {
  Status stored = store_.changeVolume(change);
  ledgerVolumeLocked(volume.uuid);
  RETURN_IF_ERROR(stored);
  if (!change.leave_nodes.empty()) regroups_pending_ = true;
  // A node that held a replica of the volume a moment ago may still report it: not this one.
  if (auto generation = store_.generation(); generation.isOk()) {
    for (const auto& r : change.add) observed_.replicaPlaced(r.node_name, volume.uuid, *generation);
  }
  return Status::ok();
}

Result<NodeView> ClusterService::getNode(const std::string& name) {
  ASSIGN_OR_RETURN(auto nodes, listNodes());
  for (auto& n : nodes) {
    if (n.node.name == name) return n;
  }
  return Status(ErrorCode::kNotFound, "node '" + name + "' does not exist").withReason("node_not_found");
}

Result<std::vector<PoolView>> ClusterService::listPools() {
  ASSIGN_OR_RETURN(auto pools, store_.listPools());
  std::lock_guard lock(mu_);
  std::vector<PoolView> out;
  for (const auto& p : pools) {
    PoolView v;
    v.node = p.node_name;
    v.pool.name = p.name;
    v.pool.provider = p.provider;
    v.pool.thin = p.thin;
    v.pool.snapshots = p.snapshots;
    if (const NodeObservation* obs = observed_.find(p.node_name)) {
      v.node_online = obs->online;
      for (const auto& r : obs->report.pools) {
        if (r.name == p.name) {
          v.pool = r;
          v.reported = true;
        }
      }
    }
    out.push_back(std::move(v));
  }
  return out;
}

Result<std::pair<GroupRecord, bool>> ClusterService::createGroup(GroupRecord spec) {
  std::lock_guard lock(mu_);
  auto existing = store_.getGroup(spec.name);
  if (existing.isOk()) {
    if (sameGroup(*existing, spec)) return std::make_pair(*existing, false);
    return Status(ErrorCode::kAlreadyExists,
                  "resource group '" + spec.name + "' already exists with different settings")
        .withReason("resource_group_exists");
  }
  if (existing.status().code() != ErrorCode::kNotFound) return existing.status();
  spec.uuid = newUuid();
  RETURN_IF_ERROR(store_.createGroup(spec));
  return std::make_pair(spec, true);
}

Result<GroupRecord> ClusterService::getGroup(const std::string& name) { return store_.getGroup(name); }
Result<std::vector<GroupRecord>> ClusterService::listGroups() { return store_.listGroups(); }

Status ClusterService::deleteGroup(const std::string& name) {
  std::lock_guard lock(mu_);
  return store_.deleteGroup(name);
}

std::string cloneSnapshotName(const std::string& clone) {
  const std::string prefix = "clone-for-";
  if (prefix.size() + clone.size() <= kMaxObjectNameLength) return prefix + clone;
  uint64_t hash = 1469598103934665603ull;  // FNV-1a: stable across builds and platforms
  for (unsigned char c : clone) hash = (hash ^ c) * 1099511628211ull;
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(hash));
  std::string kept = clone.substr(0, kMaxObjectNameLength - prefix.size() - 17);
  return prefix + kept + "-" + hex;
}

Result<std::pair<VolumeView, bool>> ClusterService::createVolume(const CreateVolumeRequest& request) {
  std::unique_lock lock(mu_);
  auto created = createVolumeLocked(request);
  lock.unlock();
  if (created.isOk() && created->second) notifyWatchers();
  return created;
}

Result<VolumePlan> ClusterService::planVolume(const CreateVolumeRequest& request) {
  std::lock_guard lock(mu_);
  if (!request.source_volume.empty()) {
    return Status(ErrorCode::kInvalidArgument, "a dry run places new empty volumes only (without 'source')")
        .withReason("invalid_field");
  }
  auto existing = store_.getVolume(request.name);
  if (existing.isOk()) {
    return Status(ErrorCode::kAlreadyExists, "volume '" + request.name + "' already exists; nothing to place")
        .withReason("volume_exists");
  }
  if (existing.status().code() != ErrorCode::kNotFound) return existing.status();
  ASSIGN_OR_RETURN(GroupRecord group, store_.getGroup(request.group));
  RETURN_IF_ERROR(checkVolumeSize(request.size_bytes));
  ASSIGN_OR_RETURN(auto candidates, candidatesLocked());
  ASSIGN_OR_RETURN(auto placements,
                   placeReplicas(placementRequestFor(group, request.size_bytes, group.replicas, request.name),
                                 candidates));
  return VolumePlan{request.name, request.size_bytes, std::move(group), std::move(placements)};
}

void ClusterService::cloneVolume(const CreateVolumeRequest& request,
                                 std::function<void(Result<std::pair<VolumeView, bool>>)> done) {
  std::unique_lock lock(mu_);
  bool snapshot_made = false;
  auto start = [&]() -> Result<std::optional<std::pair<VolumeView, bool>>> {
    using Answer = std::optional<std::pair<VolumeView, bool>>;
    if (store_.getVolume(request.name).isOk()) {  // a repeat of a finished clone
      ASSIGN_OR_RETURN(auto made, createVolumeLocked(request));
      return Answer(std::move(made));
    }
    ASSIGN_OR_RETURN(VolumeRecord source, store_.getVolume(request.source_volume));
    ASSIGN_OR_RETURN(GroupRecord group, store_.getGroup(request.group));
    (void)group;
    if (request.size_bytes < source.size_bytes) {
      return Status(ErrorCode::kUnprocessable, "the volume must be at least as large as volume '" + source.name +
                                                   "' (" + std::to_string(source.size_bytes) + " bytes)")
          .withReason("volume_too_small");
    }
    const std::string snapshot_name = cloneSnapshotName(request.name);
    auto existing = store_.getSnapshot(snapshot_name);
    SnapshotRecord snapshot;
    if (existing.isOk()) {
      if (existing->volume_uuid != source.uuid) {
        return Status(ErrorCode::kAlreadyExists, "snapshot '" + snapshot_name +
                                                     "', which a clone named '" + request.name +
                                                     "' needs, already exists for another volume")
            .withReason("snapshot_exists");
      }
      snapshot = *existing;
    } else if (existing.status().code() != ErrorCode::kNotFound) {
      return existing.status();
    } else {
      snapshot.uuid = newUuid();
      snapshot.name = snapshot_name;
      snapshot.volume_uuid = source.uuid;
      snapshot.size_bytes = source.size_bytes;
      snapshot.created_at = unixSeconds(clock_.wallNow());
      RETURN_IF_ERROR(store_.createSnapshot(snapshot));
      snapshot_made = true;
      log::info("cluster", "volume " + request.name + " clones volume " + source.name + ": snapshot " +
                               snapshot_name + " requested from " + source.primary_node);
    }
    CreateVolumeRequest from_snapshot = request;
    from_snapshot.source_snapshot = snapshot_name;
    pending_clones_.push_back(
        PendingClone{from_snapshot, snapshot.uuid, clock_.steadyNow() + options_.clone_snapshot_wait, std::move(done)});
    return Answer();
  };
  auto started = start();
  std::vector<std::function<void()>> settled;
  if (started.isOk() && !started->has_value()) settled = settleClonesLocked();  // already taken (a retry)
  lock.unlock();
  if (snapshot_made || !settled.empty()) notifyWatchers();
  for (auto& call : settled) call();
  if (!started.isOk()) return done(started.status());
  if (started->has_value()) return done(std::move(**started));
}

std::vector<std::function<void()>> ClusterService::settleClonesLocked() {
  std::vector<std::function<void()>> out;
  const auto now = clock_.steadyNow();
  for (auto it = pending_clones_.begin(); it != pending_clones_.end();) {
    PendingClone& p = *it;
    std::optional<Result<std::pair<VolumeView, bool>>> result;
    auto snapshot = store_.getSnapshot(p.request.source_snapshot);
    if (!snapshot.isOk() || snapshot->uuid != p.snapshot_uuid) {
      result = Status(ErrorCode::kConflict, "the snapshot of volume '" + p.request.source_volume +
                                                "' that the clone was made from was deleted meanwhile; retry")
                   .withReason("snapshot_not_found");
    } else if (snapshot->state == SnapshotState::kAvailable) {
      result = createVolumeLocked(p.request);
      if (!result->isOk() && !store_.getVolume(p.request.name).isOk()) {
        // Refused (no room, no node...): the snapshot taken for it goes too, nothing is left.
        (void)store_.deleteSnapshot(snapshot->name);
      }
    } else if (snapshot->state == SnapshotState::kError) {
      (void)store_.deleteSnapshot(snapshot->name);  // retrying takes a new one
      result = Status(ErrorCode::kInternal, "the primary of volume '" + p.request.source_volume +
                                                "' could not take the snapshot to clone it from: " + snapshot->message)
                   .withReason("snapshot_failed");
    } else if (now >= p.deadline) {
      result = Status(ErrorCode::kUnavailable, "the primary of volume '" + p.request.source_volume +
                                                   "' has not taken the snapshot to clone it from yet; retry "
                                                   "(the same request continues where this one stopped)")
                   .withReason("clone_timeout");
    }
    if (!result) {
      ++it;
      continue;
    }
    out.push_back([done = std::move(p.done), r = std::move(*result)]() mutable { done(std::move(r)); });
    it = pending_clones_.erase(it);
  }
  return out;
}

Result<std::pair<VolumeView, bool>> ClusterService::createVolumeLocked(const CreateVolumeRequest& request) {
  auto existing = store_.getVolume(request.name);
  if (existing.isOk()) {
    if (existing->size_bytes != request.size_bytes || existing->group != request.group) {
      return Status(ErrorCode::kAlreadyExists, "volume '" + request.name + "' already exists with size " +
                                                   std::to_string(existing->size_bytes) +
                                                   " bytes in resource group '" + existing->group + "'")
          .withReason("volume_exists");
    }
    ASSIGN_OR_RETURN(auto views, viewsLocked(&request.name));
    return std::make_pair(views.at(0), false);
  }
  if (existing.status().code() != ErrorCode::kNotFound) return existing.status();
  ASSIGN_OR_RETURN(GroupRecord group, store_.getGroup(request.group));
  RETURN_IF_ERROR(checkVolumeSize(request.size_bytes));

  std::string source_snapshot;
  Result<std::vector<Placement>> placements = std::vector<Placement>{};
  ASSIGN_OR_RETURN(auto candidates, candidatesLocked());
  if (!request.source_volume.empty() && group.engine == "drbd") {
    return Status(ErrorCode::kUnprocessable, "volumes of drbd-engine groups cannot be made from a snapshot yet")
        .withReason("not_implemented");
  }
  if (!request.source_volume.empty()) {
    if (request.source_snapshot.empty()) {
      return Status(ErrorCode::kInternal, "a clone of a live volume goes through cloneVolume");
    }
    ASSIGN_OR_RETURN(auto found, findSnapshotLocked(request.source_volume, request.source_snapshot));
    const auto& [source, snapshot] = found;
    if (snapshot.state != SnapshotState::kAvailable) {
      return Status(ErrorCode::kConflict, "snapshot '" + snapshot.name + "' is " + std::string(name(snapshot.state)))
          .withReason("snapshot_not_ready");
    }
    if (request.size_bytes < snapshot.size_bytes) {
      return Status(ErrorCode::kUnprocessable, "the volume must be at least as large as snapshot '" + snapshot.name +
                                                   "' (" + std::to_string(snapshot.size_bytes) + " bytes)")
          .withReason("volume_too_small");
    }
    source_snapshot = snapshot.uuid;
    placements = placeFromSnapshotLocked(group, request.size_bytes, source, snapshot);
  } else {
    placements = placeReplicas(placementRequestFor(group, request.size_bytes, group.replicas, request.name), candidates);
  }
  if (!placements.isOk()) {
    // Observed state is in memory: just after a controller (re)start, nodes that have not sent
    // their first heartbeat yet look absent. That is not the request's fault: ask to retry.
    std::set<std::string> unreported;
    for (const auto& c : candidates) {
      if (observed_.find(c.node) == nullptr) unreported.insert(c.node);
    }
    auto up_for = clock_.steadyNow() - started_;
    if (!unreported.empty() && up_for < options_.heartbeat_timeout) {
      return Status(
                 ErrorCode::kUnavailable,
                 "the controller started " +
                     std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(up_for).count()) +
                     " ms ago and " + std::to_string(unreported.size()) +
                     " node(s) have not reported yet; retry in a few seconds (" +
                     placements.status().message() + ")")
          .withReason("controller_starting");
    }
  }
  RETURN_IF_ERROR(placements.status());

  VolumeRecord volume;
  volume.uuid = newUuid();
  volume.name = request.name;
  volume.size_bytes = request.size_bytes;
  volume.group = request.group;
  volume.primary_node = placements->front().node;
  volume.epoch = 1;
  volume.created_at = unixSeconds(clock_.wallNow());
  volume.source_snapshot = source_snapshot;
  std::vector<ReplicaRecord> replicas;
  for (const auto& p : *placements) replicas.push_back(ReplicaRecord{volume.uuid, p.node, p.pool, true, "", false});
  if (group.engine == "drbd" && replicas.size() == 2) {
    // DRBD quorum needs three voters: a diskless tie-breaker on a third DRBD node, when there is one.
    if (auto tie = placeTieBreaker(candidates, {replicas[0].node_name, replicas[1].node_name})) {
      replicas.push_back(ReplicaRecord{volume.uuid, *tie, kDrbdTieBreakerPool, false, "", false});
    }
  }
  RETURN_IF_ERROR(store_.createVolume(volume, replicas));
  std::vector<std::string> replica_nodes;
  for (const auto& r : replicas) replica_nodes.push_back(r.node_name);
  RETURN_IF_ERROR(allocateDrbdLocked(volume, group, replica_nodes, /*new_volume=*/true));
  if (ledger_ready_) ledger_.setVolume(volume.uuid, volume.size_bytes, group.thin, replicas, observed_);
  if (!source_snapshot.empty()) sources_pending_ = true;
  log::info("cluster", "created volume " + volume.name + " (" + std::to_string(volume.size_bytes) +
                           " bytes, " + group.engine + " engine) with primary " + volume.primary_node);
  ASSIGN_OR_RETURN(auto views, viewsLocked(&request.name));
  return std::make_pair(views.at(0), true);
}

Status ClusterService::allocateDrbdLocked(const VolumeRecord& volume, const GroupRecord& group,
                                          const std::vector<std::string>& nodes, bool new_volume) {
  if (group.engine != "drbd" || nodes.empty()) return Status::ok();
  Status result = [&]() -> Status {
    ASSIGN_OR_RETURN(auto in_use, store_.listDrbdAllocations());
    if (new_volume) {
      ASSIGN_OR_RETURN(DrbdVolumeAllocation a, allocateDrbdVolume(volume.uuid, nodes, in_use, options_.drbd_ranges));
      std::string secret = newUuid();
      secret.erase(std::remove(secret.begin(), secret.end(), '-'), secret.end());
      a.shared_secret = secret;
      return store_.addDrbdVolumeAllocation(a);
    }
    for (const auto& node : nodes) {
      ASSIGN_OR_RETURN(DrbdReplicaAllocation r, allocateDrbdReplica(volume.uuid, node, in_use, options_.drbd_ranges));
      RETURN_IF_ERROR(store_.addDrbdReplicaAllocation(r));
      for (auto& v : in_use) {
        if (v.volume_uuid == volume.uuid) v.replicas.push_back(r);
      }
    }
    return Status::ok();
  }();
  if (!result.isOk()) {
    log::warn("cluster", "volume " + volume.name + ": DRBD allocation failed: " + result.toString());
    if (new_volume) {
      Status undo = store_.deleteVolume(volume.name);
      if (!undo.isOk()) log::warn("cluster", "volume " + volume.name + ": undoing its creation failed: " + undo.toString());
    }
  }
  return result;
}

AttachmentView ClusterService::attachmentViewLocked(const VolumeRecord& volume, bool drbd, const AttachmentRecord& a,
                                                   const NodeRecord* primary_node, uint64_t generation) {
  if (drbd && a.mode == AttachMode::kNbd) {
    auto host = store_.getNode(a.host);
    return deriveAttachmentView(volume, a, host.isOk() ? &host.value() : nullptr, observed_, generation, true);
  }
  return deriveAttachmentView(volume, a, primary_node, observed_, generation, drbd);
}

void ClusterService::dropDrbdClientLocked(const std::string& volume_uuid, const std::string& host) {
  auto replicas = store_.listReplicasOf(volume_uuid);
  if (!replicas.isOk()) return;
  for (const auto& r : *replicas) {
    if (r.node_name != host || r.diskful || r.pool_name != kDrbdClientPool) continue;
    VolumeChange change;
    change.volume_uuid = volume_uuid;
    change.remove_nodes = {host};
    Status s = store_.changeVolume(change);
    if (!s.isOk()) log::warn("cluster", "volume " + volume_uuid + ": removing the DRBD client on " + host + ": " + s.toString());
  }
}

Result<std::vector<Placement>> ClusterService::placeFromSnapshotLocked(const GroupRecord& group, uint64_t size,
                                                                      const VolumeRecord& source,
                                                                      const SnapshotRecord& snapshot) {
  ASSIGN_OR_RETURN(auto candidates, candidatesLocked());
  ASSIGN_OR_RETURN(auto source_replicas, store_.listReplicasOf(source.uuid));
  Status last = Status(ErrorCode::kUnprocessable, "no online node holds a copy of snapshot '" + snapshot.name + "'")
                    .withReason("not_enough_nodes");
  for (const auto& r : source_replicas) {
    const ReplicaReport* report = observed_.online(r.node_name) ? observed_.replicaReport(r.node_name, source.uuid)
                                                                 : nullptr;
    if (report == nullptr ||
        std::find(report->snapshots.begin(), report->snapshots.end(), snapshot.uuid) == report->snapshots.end()) {
      continue;
    }
    // The clone lives in the pool of the copy: that one pool must satisfy the group's rules.
    std::vector<PoolCandidate> here;
    for (const auto& c : candidates) {
      if (c.node == r.node_name && c.pool == r.pool_name) here.push_back(c);
    }
    auto primary = placeReplicas(placementRequestFor(group, size, 1), here);
    if (!primary.isOk()) {
      last = primary.status();
      continue;
    }
    std::vector<Placement> out = *primary;
    if (group.replicas > 1) {
      PlacementRequest rest = placementRequestFor(group, size, group.replicas - 1);
      rest.exclude_nodes = {r.node_name};
      for (const auto& c : here) rest.kept_labels.push_back(c.node_labels);
      auto others = placeReplicas(rest, candidates);
      if (!others.isOk()) {
        last = others.status();
        continue;
      }
      out.insert(out.end(), others->begin(), others->end());
    }
    return out;
  }
  return last;
}

Status ClusterService::checkDetachedLocked(const VolumeRecord& volume) {
  ASSIGN_OR_RETURN(auto attachments, store_.listAttachmentsOf(volume.uuid));
  if (attachments.empty()) return Status::ok();
  std::string hosts;
  for (const auto& a : attachments) hosts += (hosts.empty() ? "" : ", ") + a.host;
  return Status(ErrorCode::kConflict, "volume '" + volume.name + "' is attached on " + hosts + "; detach it first")
      .withReason("volume_attached");
}

bool ClusterService::finishRevertsLocked(const std::string& node, const std::vector<ReplicaReport>& replicas) {
  bool changed = false;
  for (const auto& r : replicas) {
    if (!r.primary || r.reverted.empty()) continue;
    auto v = store_.getVolumeByUuid(r.volume_uuid);
    if (!v.isOk() || v->primary_node != node || v->revert_id != r.reverted) continue;
    if (Status st = store_.setVolumeRevert(v->uuid, "", ""); !st.isOk()) {
      log::warn("cluster", "volume " + v->name + ": " + st.toString());
      continue;
    }
    log::info("cluster", "volume " + v->name + ": reverted on " + node + "; the other replicas resync from it");
    changed = true;
  }
  return changed;
}

Result<VolumeView> ClusterService::revertSnapshot(const std::string& volume, const std::string& snapshot) {
  std::unique_lock lock(mu_);
  ASSIGN_OR_RETURN(auto found, findSnapshotLocked(volume, snapshot));
  const auto& [v, s] = found;
  if (auto group = store_.getGroup(v.group); group.isOk() && group->engine == "drbd") {
    // Each replica's copy is its own (docs/drbd.md, Snapshots): reverting would need every copy
    // replaced and DRBD told the data changed under it.
    return Status(ErrorCode::kUnprocessable, "volume '" + volume + "' uses the drbd engine: reverting it to a "
                                             "snapshot is not implemented yet")
        .withReason("not_implemented");
  }
  RETURN_IF_ERROR(checkDetachedLocked(v));
  if (!v.revert_id.empty()) {
    return Status(ErrorCode::kConflict, "volume '" + volume + "' is being reverted already").withReason("revert_in_progress");
  }
  if (s.state != SnapshotState::kAvailable) {
    return Status(ErrorCode::kConflict, "snapshot '" + snapshot + "' is " + std::string(name(s.state)))
        .withReason("snapshot_not_ready");
  }
  if (!observed_.online(v.primary_node)) {
    return Status(ErrorCode::kConflict, "the primary's node " + v.primary_node + " is offline").withReason("node_offline");
  }
  const ReplicaReport* primary = observed_.replicaReport(v.primary_node, v.uuid);
  if (primary == nullptr ||
      std::find(primary->snapshots.begin(), primary->snapshots.end(), s.uuid) == primary->snapshots.end()) {
    return Status(ErrorCode::kConflict, "the primary " + v.primary_node + " holds no copy of snapshot '" + snapshot + "'")
        .withReason("snapshot_not_on_primary");
  }
  RETURN_IF_ERROR(store_.setVolumeRevert(v.uuid, s.uuid, newUuid()));
  log::info("cluster", "volume " + volume + ": reverting to snapshot " + snapshot + " on " + v.primary_node);
  ASSIGN_OR_RETURN(auto views, viewsLocked(&volume));
  lock.unlock();
  notifyWatchers();
  return views.at(0);
}

Status ClusterService::checkNotASourceLocked(const std::vector<SnapshotRecord>& snapshots) {
  if (snapshots.empty()) return Status::ok();
  ASSIGN_OR_RETURN(auto volumes, store_.listVolumes());
  for (const auto& v : volumes) {
    for (const auto& s : snapshots) {
      if (v.source_snapshot == s.uuid || v.revert_snapshot == s.uuid) {
        return Status(ErrorCode::kConflict, "snapshot '" + s.name + "' is in use: volume '" + v.name +
                                                "' is being made from it or reverted to it")
            .withReason("snapshot_in_use");
      }
    }
  }
  return Status::ok();
}

bool ClusterService::finishSourcesLocked() {
  if (!sources_pending_) return false;  // the common case costs nothing
  auto volumes = store_.listVolumes();
  if (!volumes.isOk()) return false;
  bool changed = false;
  sources_pending_ = false;
  for (const auto& v : *volumes) {
    if (v.source_snapshot.empty()) continue;
    sources_pending_ = true;
    auto views = viewsLocked(&v.name);
    if (!views.isOk() || views->empty()) continue;
    const auto& replicas = views->front().replicas;
    const bool all = !replicas.empty() && std::all_of(replicas.begin(), replicas.end(), [](const ReplicaView& r) {
      return r.state == ReplicaState::kUpToDate;
    });
    if (!all) continue;
    if (Status st = store_.clearVolumeSource(v.uuid); !st.isOk()) {
      log::warn("cluster", "volume " + v.name + ": " + st.toString());
      continue;
    }
    log::info("cluster", "volume " + v.name + ": every replica has the data of its source snapshot");
    // A clone of a live volume: the snapshot it was made from was its own.
    auto snapshot = store_.getSnapshot(cloneSnapshotName(v.name));
    if (snapshot.isOk() && snapshot->uuid == v.source_snapshot) {
      if (Status st = store_.deleteSnapshot(snapshot->name); !st.isOk()) {
        log::warn("cluster", "volume " + v.name + ": deleting snapshot " + snapshot->name + ": " + st.toString());
      } else {
        log::info("cluster", "volume " + v.name + ": deleted snapshot " + snapshot->name + ", which it was cloned from");
      }
    }
    changed = true;
  }
  return changed;
}

Result<std::vector<PoolCandidate>> ClusterService::candidatesLocked() {
  if (!node_rows_) {
    NodeRows rows;
    ASSIGN_OR_RETURN(rows.pools, store_.listPools());
    ASSIGN_OR_RETURN(rows.nodes, store_.listNodes());
    node_rows_ = std::move(rows);
  }
  RETURN_IF_ERROR(ledgerReadyLocked());
  auto candidates = placementCandidates(node_rows_->pools, node_rows_->nodes, observed_, ledger_.pending());
  for (auto& c : candidates) c.node_replicas = ledger_.replicasOn(c.node);
  // Nothing new goes to a node being evacuated.
  std::set<std::string> evacuating;
  for (const auto& n : node_rows_->nodes) {
    if (n.evacuating) evacuating.insert(n.name);
  }
  if (!evacuating.empty()) {
    std::erase_if(candidates, [&](const PoolCandidate& c) { return evacuating.count(c.node) != 0; });
  }
  return candidates;
}

Status ClusterService::warmUp() {
  // Read without mu_ and in pages of volumes (the store serialises its calls: one read of every
  // replica would hold it for about a second at 100 000 volumes, and health, reports and creates
  // with it). Installed only when no change landed in between (every change that moves the
  // ledger's inputs, volumes and replicas, bumps the generation); else read again, and after a
  // few tries left to the first create.
  constexpr size_t kPage = 2000;
  for (int attempt = 0; attempt < 3; ++attempt) {
    ASSIGN_OR_RETURN(uint64_t generation, store_.generation());
    std::vector<VolumeRecord> volumes;
    std::vector<ReplicaRecord> replicas;
    for (std::string after;;) {
      ASSIGN_OR_RETURN(NodeSlice page, store_.volumePageSlice(after, kPage));
      if (page.volumes.empty()) break;
      after = page.volumes.back().name;
      const bool last = page.volumes.size() < kPage;
      volumes.insert(volumes.end(), std::make_move_iterator(page.volumes.begin()),
                     std::make_move_iterator(page.volumes.end()));
      replicas.insert(replicas.end(), std::make_move_iterator(page.replicas.begin()),
                      std::make_move_iterator(page.replicas.end()));
      if (last) break;
    }
    ASSIGN_OR_RETURN(auto groups, store_.listGroups());
    std::lock_guard lock(mu_);
    if (ledger_ready_) return Status::ok();
    ASSIGN_OR_RETURN(uint64_t now, store_.generation());
    if (now != generation) continue;
    ledger_.rebuild(volumes, replicas, groups, observed_);
    ledger_ready_ = true;
    return Status::ok();
  }
  return Status::ok();  // the state kept changing: the first use builds it
}

Status ClusterService::ledgerReadyLocked() {
  if (ledger_ready_) return Status::ok();
  ASSIGN_OR_RETURN(auto volumes, store_.listVolumes());
  ASSIGN_OR_RETURN(auto replicas, store_.listReplicas());
  ASSIGN_OR_RETURN(auto groups, store_.listGroups());
  ledger_.rebuild(volumes, replicas, groups, observed_);
  ledger_ready_ = true;
  return Status::ok();
}

void ClusterService::ledgerVolumeLocked(const std::string& uuid) {
  if (!ledger_ready_) return;  // the rebuild will see the change
  auto volume = store_.getVolumeByUuid(uuid);
  if (!volume.isOk() && volume.status().code() == ErrorCode::kNotFound) return ledger_.removeVolume(uuid, observed_);
  auto replicas = volume.isOk() ? store_.listReplicasOf(uuid) : Result<std::vector<ReplicaRecord>>(volume.status());
  auto group = volume.isOk() ? store_.getGroup(volume->group) : Result<GroupRecord>(volume.status());
  if (!replicas.isOk() || (!group.isOk() && group.status().code() != ErrorCode::kNotFound)) {
    ledger_ready_ = false;  // unsure what changed: rebuilt at the next use
    return;
  }
  ledger_.setVolume(uuid, volume->size_bytes, group.isOk() && group->thin, *replicas, observed_);
}

void ClusterService::ledgerReportsLocked(const std::string& node, const std::vector<std::string>& appeared,
                                         const std::vector<std::string>& vanished) {
  if (!ledger_ready_) return;
  for (const auto& uuid : appeared) ledger_.reported(node, uuid, true);
  for (const auto& uuid : vanished) ledger_.reported(node, uuid, false);
}

bool ClusterService::replaceLostReplicasLocked() {
  if (options_.replace_after.count() <= 0) return false;
  // Runs every tick, but looks only at nodes whose liveness changed: the suspects (offline since
  // the start, or marked offline since). Without one silent for long enough it costs nothing;
  // with one, O(that node's replicas).
  if (!suspects_ready_) {
    auto nodes = store_.listNodes();
    if (!nodes.isOk()) return false;
    for (const auto& n : *nodes) {
      if (!observed_.online(n.name)) suspects_.insert(n.name);
    }
    suspects_ready_ = true;
  }
  if (suspects_.empty()) return false;
  HealingInput input;
  const auto now = clock_.steadyNow();
  for (auto it = suspects_.begin(); it != suspects_.end();) {
    if (observed_.online(*it)) {
      it = suspects_.erase(it);  // back: nothing to heal
      continue;
    }
    if (observed_.offlineFor(*it, now) >= options_.replace_after) input.lost_nodes.insert(*it);
    ++it;
  }
  if (input.lost_nodes.empty()) return false;
  std::set<std::string> uuids;
  for (const auto& lost : input.lost_nodes) {
    auto held = store_.listReplicasOnNode(lost);
    if (!held.isOk()) return false;
    if (held->empty()) suspects_.erase(lost);  // nothing left on it (moved, deleted, or a new node)
    for (const auto& r : *held) uuids.insert(r.volume_uuid);
  }
  if (uuids.empty()) return false;
  for (const auto& uuid : uuids) {
    auto volume = store_.getVolumeByUuid(uuid);
    auto replicas = store_.listReplicasOf(uuid);
    if (!volume.isOk() || !replicas.isOk()) continue;
    input.volumes.push_back(std::move(volume).value());
    input.replicas.insert(input.replicas.end(), replicas->begin(), replicas->end());
  }
  auto groups = store_.listGroups();
  auto nodes = store_.listNodes();
  auto candidates = candidatesLocked();
  if (!groups.isOk() || !nodes.isOk() || !candidates.isOk()) return false;
  input.candidates = std::move(candidates).value();
  input.groups = std::move(groups).value();
  input.nodes = std::move(nodes).value();
  HealingPlan plan = planReplicaMoves(std::move(input), observed_);

  auto warnOnce = [&](const std::string& key, const std::string& message) {
    if (heal_warned_.insert(key).second) log::warn("cluster", message);
  };
  for (const auto& skip : plan.skipped) warnOnce(skip.key, skip.message);
  bool changed = false;
  for (const auto& move : plan.moves) {
    const VolumeRecord& v = move.volume;
    Status s = store_.replaceReplica(v.uuid, move.from_node,
                                     ReplicaRecord{v.uuid, move.to.node, move.to.pool, true, "", false});
    ledgerVolumeLocked(v.uuid);
    if (!s.isOk()) {
      warnOnce(move.key + ":store", "volume " + v.name + ": replacing the replica on " + move.from_node +
                                        " failed: " + s.message());
      continue;
    }
    auto group = store_.getGroup(v.group);
    if (group.isOk()) {
      Status allocated = allocateDrbdLocked(v, *group, {move.to.node}, /*new_volume=*/false);
      if (!allocated.isOk()) warnOnce(move.key + ":drbd", "volume " + v.name + ": " + allocated.message());
    }
    if (auto generation = store_.generation(); generation.isOk()) {
      observed_.replicaPlaced(move.to.node, v.uuid, *generation);
    }
    log::warn("cluster", "volume " + v.name + ": node " + move.from_node + " offline for over " +
                             std::to_string(options_.replace_after.count() / 1000) +
                             " s; its replica is re-created on " + move.to.node + "/" + move.to.pool +
                             " and resynced from " + v.primary_node);
    heal_warned_.erase(move.key + ":placement");
    ++replicas_replaced_;
    changed = true;
  }
  return changed;
}

Result<VolumeView> ClusterService::getVolume(const std::string& name) {
  RETURN_IF_ERROR(store_.getVolume(name).status());
  std::lock_guard lock(mu_);
  ASSIGN_OR_RETURN(auto views, viewsLocked(&name));
  if (views.empty())
    return Status(ErrorCode::kNotFound, "volume '" + name + "' does not exist")
        .withReason("volume_not_found");
  return views.front();
}

Result<std::vector<VolumeView>> ClusterService::listVolumes() {
  std::lock_guard lock(mu_);
  return viewsLocked(nullptr);
}

Result<ClusterService::VolumePage> ClusterService::listVolumesPage(const std::string& after, size_t limit) {
  std::lock_guard lock(mu_);
  ASSIGN_OR_RETURN(NodeSlice rows, store_.volumePageSlice(after, limit + 1));
  VolumePage page;
  if (rows.volumes.size() > limit) {
    rows.volumes.resize(limit);
    page.next = rows.volumes.back().name;
  }
  ASSIGN_OR_RETURN(auto node_list, store_.listNodes());
  std::unordered_map<std::string, const NodeRecord*> nodes;
  for (const auto& n : node_list) nodes[n.name] = &n;
  std::unordered_map<std::string, std::vector<const ReplicaRecord*>> replicas;
  for (const auto& r : rows.replicas) replicas[r.volume_uuid].push_back(&r);
  std::unordered_map<std::string, std::vector<std::string>> hosts;
  std::unordered_map<std::string, const NodeRecord*> nbd_hosts;  // a volume's first nbd attachment's host
  for (const auto& a : rows.attachments) {
    hosts[a.volume_uuid].push_back(a.host);
    if (auto n = nodes.find(a.host); a.mode == AttachMode::kNbd && n != nodes.end()) nbd_hosts.emplace(a.volume_uuid, n->second);
  }
  ASSIGN_OR_RETURN(auto group_list, store_.listGroups());
  std::unordered_map<std::string, std::string> engines;
  for (const auto& g : group_list) engines[g.name] = g.engine;
  page.volumes.reserve(rows.volumes.size());
  for (const auto& v : rows.volumes) {
    auto primary = nodes.find(v.primary_node);
    page.volumes.push_back(
        deriveVolumeView(v, replicas[v.uuid], primary == nodes.end() ? nullptr : primary->second, observed_));
    if (auto e = engines.find(v.group); e != engines.end()) {
      auto n = nbd_hosts.find(v.uuid);
      setEngine(page.volumes.back(), e->second, n == nbd_hosts.end() ? nullptr : n->second);
    }
    markAttached(page.volumes.back(), hosts[v.uuid]);
  }
  return page;
}

Status ClusterService::deleteVolume(const std::string& name, bool cascade) {
  {
    std::lock_guard lock(mu_);
    ASSIGN_OR_RETURN(VolumeRecord volume, store_.getVolume(name));
    ASSIGN_OR_RETURN(auto snapshots, store_.listSnapshotsOf(volume.uuid));
    if (!snapshots.empty() && !cascade) {
      return Status(ErrorCode::kConflict, "volume '" + name + "' has " + std::to_string(snapshots.size()) +
                                              " snapshot(s); delete them first or use ?cascade=true")
          .withReason("volume_has_snapshots");
    }
    RETURN_IF_ERROR(checkNotASourceLocked(snapshots));
    RETURN_IF_ERROR(store_.deleteVolume(name));  // its snapshot records go with it
    ledgerVolumeLocked(volume.uuid);
    // A clone of a live volume deleted before it had its data: its own snapshot of the source goes too.
    auto own = store_.getSnapshot(cloneSnapshotName(name));
    if (!volume.source_snapshot.empty() && own.isOk() && own->uuid == volume.source_snapshot) {
      if (Status st = store_.deleteSnapshot(own->name); !st.isOk()) {
        log::warn("cluster", "deleting snapshot " + own->name + " of clone " + name + ": " + st.toString());
      }
    }
  }
  log::info("cluster", "deleted volume " + name + "; nodes remove their replicas");
  notifyWatchers();
  return Status::ok();
}

SnapshotView ClusterService::snapshotViewLocked(const SnapshotRecord& snapshot, const VolumeRecord& volume) {
  SnapshotView view{snapshot, volume.name, {}};
  auto replicas = store_.listReplicasOf(volume.uuid);
  if (!replicas.isOk()) return view;
  for (const auto& r : *replicas) {
    const ReplicaReport* report = observed_.replicaReport(r.node_name, volume.uuid);
    if (report != nullptr &&
        std::find(report->snapshots.begin(), report->snapshots.end(), snapshot.uuid) != report->snapshots.end()) {
      view.copies.push_back(r.node_name);
    }
  }
  return view;
}

Status ClusterService::checkSnapshotsKeepACopyLocked(const VolumeRecord& volume,
                                                     const std::vector<std::string>& going) {
  if (going.empty()) return Status::ok();
  ASSIGN_OR_RETURN(auto snapshots, store_.listSnapshotsOf(volume.uuid));
  for (const auto& s : snapshots) {
    const SnapshotView view = snapshotViewLocked(s, volume);
    const bool kept = std::any_of(view.copies.begin(), view.copies.end(), [&](const std::string& node) {
      return std::find(going.begin(), going.end(), node) == going.end();
    });
    if (view.copies.empty() || kept) continue;
    std::string holders;
    for (const auto& n : view.copies) holders += (holders.empty() ? "" : ", ") + n;
    return Status(ErrorCode::kConflict, "snapshot '" + s.name + "' of volume '" + volume.name +
                                            "' has copies only on " + holders +
                                            ", whose replicas this change removes (snapshots are not copied to "
                                            "new replicas); delete the snapshot first")
        .withReason("volume_has_snapshots");
  }
  return Status::ok();
}

Result<std::pair<VolumeRecord, SnapshotRecord>> ClusterService::findSnapshotLocked(const std::string& volume,
                                                                                   const std::string& snapshot) {
  ASSIGN_OR_RETURN(VolumeRecord v, store_.getVolume(volume));
  ASSIGN_OR_RETURN(SnapshotRecord s, store_.getSnapshot(snapshot));
  if (s.volume_uuid != v.uuid) {
    return Status(ErrorCode::kNotFound, "volume '" + volume + "' has no snapshot '" + snapshot + "'")
        .withReason("snapshot_not_found");
  }
  return std::make_pair(std::move(v), std::move(s));
}

Result<std::pair<SnapshotView, bool>> ClusterService::createSnapshot(const std::string& volume,
                                                                     const std::string& snapshot) {
  std::unique_lock lock(mu_);
  ASSIGN_OR_RETURN(VolumeRecord v, store_.getVolume(volume));
  auto existing = store_.getSnapshot(snapshot);
  if (existing.isOk()) {
    if (existing->volume_uuid != v.uuid) {
      return Status(ErrorCode::kAlreadyExists, "snapshot '" + snapshot + "' already exists for another volume")
          .withReason("snapshot_exists");
    }
    return std::make_pair(snapshotViewLocked(*existing, v), false);
  }
  if (existing.status().code() != ErrorCode::kNotFound) return existing.status();
  SnapshotRecord record;
  record.uuid = newUuid();
  record.name = snapshot;
  record.volume_uuid = v.uuid;
  record.size_bytes = v.size_bytes;
  record.created_at = unixSeconds(clock_.wallNow());
  RETURN_IF_ERROR(store_.createSnapshot(record));
  drbd_snapshots_pending_ = true;
  log::info("cluster", "snapshot " + snapshot + " of volume " + volume + " requested from " + v.primary_node);
  SnapshotView view = snapshotViewLocked(record, v);
  lock.unlock();
  notifyWatchers();
  return std::make_pair(std::move(view), true);
}

Result<std::vector<SnapshotView>> ClusterService::listSnapshots(const std::string& volume) {
  std::lock_guard lock(mu_);
  ASSIGN_OR_RETURN(VolumeRecord v, store_.getVolume(volume));
  ASSIGN_OR_RETURN(auto snapshots, store_.listSnapshotsOf(v.uuid));
  std::vector<SnapshotView> out;
  for (const auto& s : snapshots) out.push_back(snapshotViewLocked(s, v));
  return out;
}

Result<SnapshotView> ClusterService::getSnapshot(const std::string& volume, const std::string& snapshot) {
  std::lock_guard lock(mu_);
  ASSIGN_OR_RETURN(auto found, findSnapshotLocked(volume, snapshot));
  return snapshotViewLocked(found.second, found.first);
}

Status ClusterService::deleteSnapshot(const std::string& volume, const std::string& snapshot) {
  {
    std::lock_guard lock(mu_);
    ASSIGN_OR_RETURN(auto found, findSnapshotLocked(volume, snapshot));
    RETURN_IF_ERROR(checkNotASourceLocked({found.second}));
    RETURN_IF_ERROR(store_.deleteSnapshot(found.second.name));
  }
  log::info("cluster", "deleted snapshot " + snapshot + " of volume " + volume + "; nodes remove their copies");
  notifyWatchers();
  return Status::ok();
}

Result<VolumeView> ClusterService::updateVolume(const std::string& name, const UpdateVolumeRequest& request) {
  std::unique_lock lock(mu_);
  ASSIGN_OR_RETURN(VolumeRecord volume, store_.getVolume(name));
  ASSIGN_OR_RETURN(GroupRecord group, store_.getGroup(request.group.value_or(volume.group)));
  ASSIGN_OR_RETURN(auto replicas, store_.listReplicasOf(volume.uuid));
  // Leaving replicas (a group change moving the primary, regroup.h) are not counted: they go.
  const auto diskful = static_cast<uint32_t>(std::count_if(
      replicas.begin(), replicas.end(), [](const ReplicaRecord& r) { return r.diskful && !r.leaving; }));
  const bool moving = std::any_of(replicas.begin(), replicas.end(), [](const ReplicaRecord& r) { return r.leaving; });
  const bool regroup = group.name != volume.group;
  if (regroup) {
    // A volume's data lives in its engine's format (DRBD keeps its metadata inside the backing
    // device): moving between engines would need a migration that does not exist.
    ASSIGN_OR_RETURN(GroupRecord current, store_.getGroup(volume.group));
    if (current.engine != group.engine) {
      return Status(ErrorCode::kUnprocessable, "volume '" + name + "' uses the " + current.engine +
                                                   " engine (resource group '" + current.name + "'); group '" +
                                                   group.name + "' uses " + group.engine +
                                                   ": moving a volume between engines is not supported")
          .withReason("engine_change_unsupported");
    }
  }
  const uint32_t count = request.replicas.value_or(diskful);
  const uint64_t size = request.size_bytes.value_or(volume.size_bytes);

  VolumeChange change;
  change.volume_uuid = volume.uuid;
  std::vector<PoolCandidate> candidates;
  if (regroup || count != diskful || size != volume.size_bytes) {
    ASSIGN_OR_RETURN(candidates, candidatesLocked());
  }
  if (regroup || count != diskful) {
    if (!volume.handover_to.empty()) {
      return Status(ErrorCode::kConflict, "volume '" + name + "' is handing its primary over to " +
                                              volume.handover_to + "; retry when it is done")
          .withReason("handover_in_progress");
    }
    if (moving) {
      return Status(ErrorCode::kConflict, "volume '" + name + "' is still moving to resource group '" + volume.group +
                                              "' (its primary moves, then the replicas the group excludes go); "
                                              "retry when it is done")
          .withReason("regroup_in_progress");
    }
    LayoutInput in;
    in.volume = volume;
    in.group = group;
    in.replicas = count;
    in.size_bytes = size;
    in.current = replicas;
    ASSIGN_OR_RETURN(in.attachments, store_.listAttachmentsOf(volume.uuid));
    ASSIGN_OR_RETURN(in.nodes, store_.listNodes());
    in.candidates = candidates;
    ASSIGN_OR_RETURN(LayoutPlan plan, planLayout(in, observed_));
    if (!plan.leave_nodes.empty() && group.engine == "drbd") {
      // Moving the primary is a planned handover, which DRBD volumes do not have (DRBD promotes
      // whichever host opens the device).
      return Status(ErrorCode::kUnprocessable, "volume '" + name + "': group '" + group.name +
                                                   "' excludes the primary's node " + volume.primary_node +
                                                   ", and a drbd volume's primary cannot be moved by a group change")
          .withReason("not_implemented");
    }
    change.remove_nodes = plan.remove_nodes;
    change.leave_nodes = plan.leave_nodes;
    std::vector<std::string> going = plan.remove_nodes;
    going.insert(going.end(), plan.leave_nodes.begin(), plan.leave_nodes.end());
    RETURN_IF_ERROR(checkSnapshotsKeepACopyLocked(volume, going));
    for (const auto& p : plan.add) change.add.push_back(ReplicaRecord{volume.uuid, p.node, p.pool, true, "", false});
    if (regroup) change.group = group.name;
  }
  if (size != volume.size_bytes) {
    // Growth is checked in the pools of the replicas that stay (new ones are placed at the new size).
    std::vector<ReplicaRecord> staying;
    for (const auto& r : replicas) {
      if (std::find(change.remove_nodes.begin(), change.remove_nodes.end(), r.node_name) == change.remove_nodes.end()) {
        staying.push_back(r);
      }
    }
    RETURN_IF_ERROR(checkGrowth(group, staying, volume.size_bytes, size, candidates));
    change.size_bytes = size;
  }
  const bool changed = change.size_bytes || change.group || !change.remove_nodes.empty() ||
                       !change.leave_nodes.empty() || !change.add.empty();
  if (changed) {
    RETURN_IF_ERROR(applyReplicaChangeLocked(volume, change));
    std::vector<std::string> added;
    for (const auto& r : change.add) added.push_back(r.node_name);
    // The replicas are stored; a failed allocation leaves them without DRBD numbers (the nodes
    // are not asked to make them) and is reported.
    RETURN_IF_ERROR(allocateDrbdLocked(volume, group, added, /*new_volume=*/false));
    std::string what;
    if (change.size_bytes) {
      what += "grown from " + std::to_string(volume.size_bytes) + " to " + std::to_string(size) + " bytes";
    }
    if (change.group) what += std::string(what.empty() ? "" : "; ") + "moved to resource group " + group.name;
    for (const auto& r : change.add) {
      what += std::string(what.empty() ? "" : "; ") + "replica added on " + r.node_name + "/" + r.pool_name +
              " (synced from " + volume.primary_node + ")";
    }
    for (const auto& n : change.remove_nodes) what += std::string(what.empty() ? "" : "; ") + "replica on " + n + " removed";
    for (const auto& n : change.leave_nodes) {
      what += std::string(what.empty() ? "" : "; ") + "replica on " + n +
              (n == volume.primary_node ? " (the primary)" : "") + " leaves once the primary has moved";
    }
    log::info("cluster", "volume " + name + ": " + what);
  }
  ASSIGN_OR_RETURN(auto views, viewsLocked(&name));
  lock.unlock();
  if (changed) notifyWatchers();
  return views.at(0);
}

Result<std::pair<VolumeView, bool>> ClusterService::adoptVolume(const AdoptRequest& request) {
  std::unique_lock lock(mu_);
  auto existing = store_.getVolume(request.name);
  if (existing.isOk()) {
    ASSIGN_OR_RETURN(auto replicas, store_.listReplicasOf(existing->uuid));
    if (!sameAdoption(*existing, replicas, request)) {
      return Status(ErrorCode::kAlreadyExists, "volume '" + request.name + "' already exists" +
                                                   (existing->adopted_from.empty()
                                                        ? std::string()
                                                        : " (adopted from '" + existing->adopted_from + "')"))
          .withReason("volume_exists");
    }
    ASSIGN_OR_RETURN(auto views, viewsLocked(&request.name));
    return std::make_pair(views.at(0), false);
  }
  if (existing.status().code() != ErrorCode::kNotFound) return existing.status();
  AdoptionInput in;
  ASSIGN_OR_RETURN(in.group, store_.getGroup(request.group));
  if (in.group.engine == "drbd") {
    return Status(ErrorCode::kUnprocessable, "adopting into a drbd-engine group is not supported (DRBD's internal "
                                             "metadata would overwrite the end of the adopted data)")
        .withReason("not_implemented");
  }
  ASSIGN_OR_RETURN(in.nodes, store_.listNodes());
  ASSIGN_OR_RETURN(in.pools, store_.listPools());
  ASSIGN_OR_RETURN(in.volumes, store_.listVolumes());
  ASSIGN_OR_RETURN(in.replicas, store_.listReplicas());
  ASSIGN_OR_RETURN(in.releases, store_.listReleases());
  ASSIGN_OR_RETURN(auto planned, planAdoption(request, in, observed_, newUuid(), unixSeconds(clock_.wallNow())));
  auto& [volume, replica] = planned;
  if (request.dry_run) {
    std::vector<const ReplicaRecord*> mine{&replica};
    auto node = store_.getNode(volume.primary_node);
    return std::make_pair(deriveVolumeView(volume, mine, node.isOk() ? &node.value() : nullptr, observed_), false);
  }
  RETURN_IF_ERROR(store_.createVolume(volume, {replica}));
  ledgerVolumeLocked(volume.uuid);
  adoptions_pending_ = true;
  log::info("cluster", "volume " + volume.name + ": adopting backing volume '" + request.backing_name + "' (" +
                           std::to_string(volume.size_bytes) + " bytes) of pool " + request.pool + " on " +
                           request.node);
  ASSIGN_OR_RETURN(auto views, viewsLocked(&request.name));
  lock.unlock();
  notifyWatchers();
  return std::make_pair(views.at(0), true);
}

Result<ForgetResult> ClusterService::forgetVolume(const std::string& name) {
  ForgetResult result;
  {
    std::lock_guard lock(mu_);
    ASSIGN_OR_RETURN(VolumeRecord volume, store_.getVolume(name));
    ASSIGN_OR_RETURN(auto snapshots, store_.listSnapshotsOf(volume.uuid));
    if (!snapshots.empty()) {
      return Status(ErrorCode::kConflict, "volume '" + name + "' has " + std::to_string(snapshots.size()) +
                                              " snapshot(s); delete them before forgetting it")
          .withReason("volume_has_snapshots");
    }
    RETURN_IF_ERROR(checkDetachedLocked(volume));
    if (!volume.revert_id.empty()) {
      return Status(ErrorCode::kConflict, "volume '" + name + "' is being reverted").withReason("revert_in_progress");
    }
    ASSIGN_OR_RETURN(auto replicas, store_.listReplicasOf(volume.uuid));
    const ReplicaRecord* primary = nullptr;
    for (const auto& r : replicas) {
      if (r.node_name == volume.primary_node) primary = &r;
    }
    if (primary == nullptr) {
      return Status(ErrorCode::kInternal, "volume '" + name + "' has no replica on its primary " + volume.primary_node);
    }
    ReleaseRecord release;
    release.volume_uuid = volume.uuid;
    release.volume_name = volume.name;
    release.node_name = primary->node_name;
    release.pool_name = primary->pool_name;
    release.backing_name = releaseName(volume);
    if (const NodeObservation* obs = observed_.find(release.node_name)) {
      for (const auto& p : obs->report.pools) {
        if (p.name != release.pool_name) continue;
        for (const auto& u : p.unmanaged) {
          if (u.name == release.backing_name && !(volume.adopting && volume.adopted_from == u.name)) {
            return Status(ErrorCode::kConflict, "pool " + release.pool_name + " on " + release.node_name +
                                                    " already holds a volume '" + u.name + "' (" + u.path +
                                                    "); move it away, then forget again")
                .withReason("backing_exists");
          }
        }
      }
    }
    result = ForgetResult{volume.name,       volume.uuid,
                          release.node_name, release.pool_name,
                          release.backing_name, releasedPath(volume, release.backing_name, observed_)};
    if (volume.adopting && result.backing_path.empty()) {
      // Not taken yet: the backing volume never left its name; the report says where it is.
      if (const NodeObservation* obs = observed_.find(release.node_name)) {
        for (const auto& p : obs->report.pools) {
          for (const auto& u : p.unmanaged) {
            if (p.name == release.pool_name && u.name == release.backing_name) result.backing_path = u.path;
          }
        }
      }
    }
    auto forgotten = store_.forgetVolume(release);
    ledgerVolumeLocked(volume.uuid);
    RETURN_IF_ERROR(forgotten.status());
  }
  log::info("cluster", "forgot volume " + name + "; node " + result.node + " keeps its data as '" +
                           result.backing_name + "' in pool " + result.pool);
  notifyWatchers();
  return result;
}

Result<VolumeView> ClusterService::promoteVolume(const std::string& name, const std::string& node,
                                                 bool force) {
  std::unique_lock lock(mu_);
  ASSIGN_OR_RETURN(VolumeRecord volume, store_.getVolume(name));
  ASSIGN_OR_RETURN(auto replicas, store_.listReplicasOf(volume.uuid));
  ASSIGN_OR_RETURN(GroupRecord group, store_.getGroup(volume.group));
  RETURN_IF_ERROR(checkPromotion(volume, replicas, node, force, group.quorum, observed_));
  if (volume.primary_node != node) {
    RETURN_IF_ERROR(store_.setPrimary(volume.uuid, node, volume.epoch + 1));
    log::warn("cluster", "volume " + name + ": promoted " + node + " (epoch " +
                             std::to_string(volume.epoch + 1) + ") in place of " + volume.primary_node +
                             (force ? " (forced)" : ""));
  }
  ASSIGN_OR_RETURN(auto views, viewsLocked(&name));
  lock.unlock();
  notifyWatchers();
  return views.at(0);
}

Result<std::pair<AttachmentView, bool>> ClusterService::attachVolume(const std::string& name,
                                                                     const AttachRequest& request) {
  std::unique_lock lock(mu_);
  ASSIGN_OR_RETURN(VolumeRecord volume, store_.getVolume(name));
  ASSIGN_OR_RETURN(GroupRecord group, store_.getGroup(volume.group));
  ASSIGN_OR_RETURN(auto attachments, store_.listAttachmentsOf(volume.uuid));
  auto host = store_.getNode(request.host);
  if (!host.isOk() && host.status().code() != ErrorCode::kNotFound) return host.status();
  ASSIGN_OR_RETURN(auto existing, checkAttach(volume, group, attachments, request, host.isOk(), observed_));
  auto primary = store_.getNode(volume.primary_node);
  const NodeRecord* primary_node = primary.isOk() ? &primary.value() : nullptr;
  // What the host must have applied: the last change to its own desired state.
  ASSIGN_OR_RETURN(uint64_t generation, store_.nodeGeneration(request.host));
  if (existing) {
    return std::make_pair(
        attachmentViewLocked(volume, group.engine == "drbd", *existing, primary_node, generation), false);
  }

  ASSIGN_OR_RETURN(auto current_replicas, store_.listReplicasOf(volume.uuid));
  bool drbd_client = false;
  if (group.engine == "drbd") {
    // The host reaches the data as a DRBD node: a diskless client where it holds no replica. In
    // nbd mode its NBD server then exports the DRBD device.
    drbd_client = std::none_of(current_replicas.begin(), current_replicas.end(),
                               [&](const ReplicaRecord& r) { return r.node_name == request.host; });
    const NodeObservation* obs = observed_.find(request.host);
    if (drbd_client && (obs == nullptr || !obs->report.drbd.loaded)) {
      return Status(ErrorCode::kUnprocessable,
                    "volume '" + name + "' uses the drbd engine and host '" + request.host +
                        "' cannot be its diskless client: " +
                        (obs == nullptr ? std::string("the node has not reported") : obs->report.drbd.reason))
          .withReason("drbd_not_available");
    }
  }

  AttachmentRecord record;
  record.volume_uuid = volume.uuid;
  record.host = request.host;
  record.mode = request.mode;
  record.connector = request.connector;
  record.created_at = unixSeconds(clock_.wallNow());
  RETURN_IF_ERROR(store_.addAttachment(record));
  if (drbd_client) {
    VolumeChange add_client;
    add_client.volume_uuid = volume.uuid;
    add_client.add.push_back(ReplicaRecord{volume.uuid, request.host, kDrbdClientPool, false, ""});
    Status s = store_.changeVolume(add_client);
    if (s.isOk()) s = allocateDrbdLocked(volume, group, {request.host}, /*new_volume=*/false);
    if (!s.isOk()) {
      (void)store_.removeAttachment(volume.uuid, request.host);
      dropDrbdClientLocked(volume.uuid, request.host);
      return s;
    }
  }
  log::info("cluster", "volume " + name + " attached on " + request.host + " (" +
                           std::string(controller::name(request.mode)) + (drbd_client ? ", DRBD diskless client" : "") +
                           ")");
  attachments.push_back(record);
  ASSIGN_OR_RETURN(auto replicas, store_.listReplicasOf(volume.uuid));
  // DRBD promotes whichever host opens the device (auto-promote): no planned handover.
  if (group.engine != "drbd" &&
      shouldHandOver(volume, replicas, attachments, request.host, observed_, request.move_primary)) {
    RETURN_IF_ERROR(store_.setHandover(volume.uuid, request.host));
    volume.handover_to = request.host;
    handovers_pending_ = true;
    log::info("cluster", "volume " + name + ": the primary follows the attachment: " + volume.primary_node +
                             " stops serving, then " + request.host + " takes over");
  }
  ASSIGN_OR_RETURN(generation, store_.nodeGeneration(request.host));
  AttachmentView view = attachmentViewLocked(volume, group.engine == "drbd", record, primary_node, generation);
  lock.unlock();
  notifyWatchers();
  return std::make_pair(std::move(view), true);
}

Result<std::vector<AttachmentView>> ClusterService::listAttachments(const std::string& name) {
  std::lock_guard lock(mu_);
  ASSIGN_OR_RETURN(VolumeRecord volume, store_.getVolume(name));
  ASSIGN_OR_RETURN(auto attachments, store_.listAttachmentsOf(volume.uuid));
  auto primary = store_.getNode(volume.primary_node);
  auto group = store_.getGroup(volume.group);
  const bool drbd = group.isOk() && group->engine == "drbd";
  std::vector<AttachmentView> out;
  for (const auto& a : attachments) {
    ASSIGN_OR_RETURN(uint64_t generation, store_.nodeGeneration(a.host));
    out.push_back(attachmentViewLocked(volume, drbd, a, primary.isOk() ? &primary.value() : nullptr, generation));
  }
  return out;
}

void ClusterService::detachVolume(const std::string& name, const std::string& host, bool force,
                                  std::function<void(Status)> done) {
  std::unique_lock lock(mu_);
  auto decide = [&]() -> Result<bool> {  // true: wait for the host
    ASSIGN_OR_RETURN(VolumeRecord volume, store_.getVolume(name));
    ASSIGN_OR_RETURN(auto attachments, store_.listAttachmentsOf(volume.uuid));
    const AttachmentRecord* found = nullptr;
    for (const auto& a : attachments) {
      if (a.host == host) found = &a;
    }
    if (found == nullptr) return false;
    const bool online = observed_.online(host);
    if (found->mode == AttachMode::kNbd || (force && !online)) {
      RETURN_IF_ERROR(store_.removeAttachment(volume.uuid, host));
      dropDrbdClientLocked(volume.uuid, host);
      log::info("cluster", "volume " + name + " detached from " + host + (online ? "" : " (host offline, forced)"));
      followRemainingAttachmentLocked(name);
      return false;
    }
    if (!online) {
      return Status(ErrorCode::kConflict, "host '" + host + "' is offline, so its device of volume '" + name +
                                              "' cannot be removed; detach with force=true to forget it")
          .withReason("node_offline");
    }
    if (!found->detaching || found->force_detach != force) {
      RETURN_IF_ERROR(store_.setDetaching(volume.uuid, host, true, force));
    }
    // The host applies a state at least this new (it is woken only by changes that concern it).
    ASSIGN_OR_RETURN(uint64_t generation, store_.nodeGeneration(host));
    pending_detaches_.push_back(
        PendingDetach{volume.uuid, name, host, generation, clock_.steadyNow() + options_.detach_wait, std::move(done)});
    return true;
  };
  auto waiting = decide();
  lock.unlock();
  if (waiting.isOk() && *waiting) {
    notifyWatchers();
    return;
  }
  notifyWatchers();
  done(waiting.status());
}

std::vector<std::pair<std::function<void(Status)>, Status>> ClusterService::settleDetachesLocked(
    const std::string& host) {
  std::vector<std::pair<std::function<void(Status)>, Status>> settled;
  const auto now = clock_.steadyNow();
  for (auto it = pending_detaches_.begin(); it != pending_detaches_.end();) {
    PendingDetach& p = *it;
    std::optional<Status> result;
    if (host.empty() || p.host == host) {
      const NodeObservation* obs = observed_.find(p.host);
      const bool applied = obs != nullptr && obs->online && obs->report.applied_generation >= p.generation;
      const nodeapi::AttachmentReport* report = attachmentReport(observed_, p.host, p.volume_uuid);
      if (applied && report == nullptr) {
        Status s = store_.removeAttachment(p.volume_uuid, p.host);
        if (s.code() == ErrorCode::kNotFound) s = Status::ok();  // removed meanwhile (forced)
        if (s.isOk()) {
          dropDrbdClientLocked(p.volume_uuid, p.host);
          log::info("cluster", "volume " + p.volume + " detached from " + p.host);
          followRemainingAttachmentLocked(p.volume);
        }
        result = s;
      } else if (applied && report->busy) {
        (void)store_.setDetaching(p.volume_uuid, p.host, false);
        result = Status(ErrorCode::kConflict, "volume '" + p.volume + "' is in use on " + p.host +
                                                  (report->error.empty() ? "" : ": " + report->error))
                     .withReason("device_busy");
      } else if (now >= p.deadline) {
        (void)store_.setDetaching(p.volume_uuid, p.host, false);
        result = Status(ErrorCode::kUnavailable, "host '" + p.host + "' did not report the device of volume '" +
                                                     p.volume + "' removed in time; retry")
                     .withReason("detach_timeout");
      }
    }
    if (!result) {
      ++it;
      continue;
    }
    settled.emplace_back(std::move(p.done), std::move(*result));
    it = pending_detaches_.erase(it);
  }
  return settled;
}

void ClusterService::followRemainingAttachmentLocked(const std::string& volume_name) {
  auto plan = [&]() -> Status {
    ASSIGN_OR_RETURN(VolumeRecord volume, store_.getVolume(volume_name));
    ASSIGN_OR_RETURN(auto attachments, store_.listAttachmentsOf(volume.uuid));
    if (attachments.size() != 1) return Status::ok();
    const std::string& host = attachments.front().host;
    ASSIGN_OR_RETURN(auto replicas, store_.listReplicasOf(volume.uuid));
    if (!shouldHandOver(volume, replicas, attachments, host, observed_)) return Status::ok();
    RETURN_IF_ERROR(store_.setHandover(volume.uuid, host));
    handovers_pending_ = true;
    log::info("cluster", "volume " + volume_name + " is attached on " + host + " only now: " + volume.primary_node +
                             " stops serving, then " + host + " takes over as the primary");
    return Status::ok();
  };
  Status s = plan();
  if (!s.isOk()) {
    log::warn("cluster", "volume " + volume_name + ": planning the handover to its remaining attachment failed: " +
                             s.toString());
  }
}

Result<VolumeView> ClusterService::resolveSplitBrain(const std::string& name, const std::string& keep) {
  std::unique_lock lock(mu_);
  ASSIGN_OR_RETURN(VolumeRecord volume, store_.getVolume(name));
  ASSIGN_OR_RETURN(auto replicas, store_.listReplicasOf(volume.uuid));
  ASSIGN_OR_RETURN(SplitBrainResolution plan, planSplitBrainResolution(volume, replicas, keep, observed_));
  RETURN_IF_ERROR(store_.resolveSplitBrain(volume.uuid, plan.primary, plan.epoch, plan.discard));
  std::string discarded;
  for (const auto& [node, generation] : plan.discard) {
    discarded += (discarded.empty() ? "" : ", ") + node + " (generation " + generation + ")";
  }
  log::warn("cluster", "volume " + name + ": split brain resolved by keeping " + keep + " (epoch " +
                           std::to_string(plan.epoch) + "); discarding the copies on " +
                           (discarded.empty() ? std::string("no reported node") : discarded));
  ASSIGN_OR_RETURN(auto views, viewsLocked(&name));
  lock.unlock();
  notifyWatchers();
  return views.at(0);
}

Result<std::vector<VolumeView>> ClusterService::viewsLocked(const std::string* only_name) {
  std::vector<VolumeRecord> volumes;
  std::vector<ReplicaRecord> replicas;
  std::vector<AttachmentRecord> attachments;
  if (only_name != nullptr) {
    // One volume: two indexed lookups instead of reading every volume and replica.
    auto volume = store_.getVolume(*only_name);
    if (!volume.isOk()) {
      if (volume.status().code() == ErrorCode::kNotFound) return std::vector<VolumeView>{};
      return volume.status();
    }
    ASSIGN_OR_RETURN(replicas, store_.listReplicasOf(volume->uuid));
    ASSIGN_OR_RETURN(attachments, store_.listAttachmentsOf(volume->uuid));
    volumes.push_back(std::move(volume).value());
  } else {
    ASSIGN_OR_RETURN(volumes, store_.listVolumes());
    ASSIGN_OR_RETURN(replicas, store_.listReplicas());
    ASSIGN_OR_RETURN(attachments, store_.listAttachments());
  }
  ASSIGN_OR_RETURN(auto node_list, store_.listNodes());
  std::unordered_map<std::string, const NodeRecord*> nodes;
  for (const auto& n : node_list) nodes[n.name] = &n;
  std::unordered_map<std::string, std::vector<std::string>> hosts_by_volume;
  std::unordered_map<std::string, const NodeRecord*> nbd_hosts;  // a volume's first nbd attachment's host
  for (const auto& a : attachments) {
    hosts_by_volume[a.volume_uuid].push_back(a.host);
    if (auto n = nodes.find(a.host); a.mode == AttachMode::kNbd && n != nodes.end()) nbd_hosts.emplace(a.volume_uuid, n->second);
  }
  std::unordered_map<std::string, std::vector<const ReplicaRecord*>> by_volume;
  for (const auto& r : replicas) by_volume[r.volume_uuid].push_back(&r);
  ASSIGN_OR_RETURN(auto group_list, store_.listGroups());
  std::unordered_map<std::string, std::string> engines;
  for (const auto& g : group_list) engines[g.name] = g.engine;
  std::vector<VolumeView> out;
  out.reserve(volumes.size());
  for (const auto& v : volumes) {
    auto primary = nodes.find(v.primary_node);
    out.push_back(deriveVolumeView(v, by_volume[v.uuid], primary == nodes.end() ? nullptr : primary->second,
                                   observed_));
    if (auto e = engines.find(v.group); e != engines.end()) {
      auto n = nbd_hosts.find(v.uuid);
      setEngine(out.back(), e->second, n == nbd_hosts.end() ? nullptr : n->second);
    }
    markAttached(out.back(), hosts_by_volume[v.uuid]);
  }
  return out;
}

Result<ClusterService::DeclaredCommon> ClusterService::declaredCommon() {
  DeclaredCommon common;
  ASSIGN_OR_RETURN(common.generation, store_.generation());
  ASSIGN_OR_RETURN(common.nodes, store_.listNodes());
  ASSIGN_OR_RETURN(common.groups, store_.listGroups());
  ASSIGN_OR_RETURN(common.releases, store_.listReleases());
  for (size_t i = 0; i < common.nodes.size(); ++i) common.by_name[common.nodes[i].name] = i;
  return common;
}

Result<DesiredState> ClusterService::desiredStateFrom(const std::string& node, const DeclaredCommon& common) {
  // Only this node's part of the declared state (indexed reads): its volumes, their replicas
  // and snapshots, its attachments; of the common tables only the nodes it refers to.
  ASSIGN_OR_RETURN(NodeSlice slice, store_.nodeSlice(node));
  ASSIGN_OR_RETURN(DeclaredState declared, declaredFor(node, std::move(slice), common));
  return buildDesiredState(node, declared);
}

Result<DesiredState> ClusterService::desiredAfter(const std::string& node, uint64_t after, DesiredForm form,
                                                  const DeclaredCommon& common) {
  if (form == DesiredForm::kDelta && after != 0 && after <= common.generation) {
    // The change log is read after the generation: a change in between is in the delta and
    // sent again next time (harmless), never missed.
    ASSIGN_OR_RETURN(NodeChanges changes, store_.nodeChangesSince(node, after));
    if (!changes.full) {
      ASSIGN_OR_RETURN(NodeSlice slice, store_.nodeSliceOf(node, changes.volumes));
      ASSIGN_OR_RETURN(DeclaredState declared, declaredFor(node, std::move(slice), common));
      ASSIGN_OR_RETURN(DesiredState state, buildDesiredState(node, declared));
      return narrowToDelta(std::move(state), changes.volumes);
    }
  }
  return desiredStateFrom(node, common);
}

Result<DeclaredState> ClusterService::declaredFor(const std::string& node, NodeSlice slice,
                                                  const DeclaredCommon& common) {
  DeclaredState declared;
  declared.generation = common.generation;
  declared.volumes = std::move(slice.volumes);
  declared.replicas = std::move(slice.replicas);
  declared.attachments = std::move(slice.attachments);
  declared.snapshots = std::move(slice.snapshots);
  std::set<std::string> referred{node};
  for (const auto& r : declared.replicas) referred.insert(r.node_name);
  for (const auto& v : declared.volumes) referred.insert(v.primary_node);
  for (const auto& name : referred) {
    auto it = common.by_name.find(name);
    if (it != common.by_name.end()) declared.nodes.push_back(common.nodes[it->second]);
  }
  declared.groups = common.groups;
  for (const auto& r : common.releases) {
    if (r.node_name == node) declared.releases.push_back(r);
  }
  // DRBD allocations of the node's volumes only (the resource names every host).
  std::vector<std::string> uuids;
  for (const auto& v : declared.volumes) uuids.push_back(v.uuid);
  ASSIGN_OR_RETURN(declared.drbd, store_.drbdAllocationsOf(uuids));
  declared.cluster_id = store_.clusterId();
  return declared;
}

Result<DesiredState> ClusterService::desiredState(const std::string& node) {
  ASSIGN_OR_RETURN(DeclaredCommon common, declaredCommon());
  return desiredStateFrom(node, common);
}

void ClusterService::watchDesiredState(const std::string& node, uint64_t after,
                                       std::chrono::milliseconds wait,
                                       std::function<void(Result<DesiredState>)> done, DesiredForm form) {
  auto generation = store_.nodeGeneration(node);
  if (!generation.isOk()) return done(generation.status());
  if (*generation > after || wait.count() <= 0) {
    auto common = declaredCommon();
    return done(common.isOk() ? desiredAfter(node, after, form, *common) : Result<DesiredState>(common.status()));
  }
  // The poll waits for a change to this node's state. Every write path names the nodes it
  // concerns (the store's touch sets, conservative: unscoped changes count for every node); the
  // deadline stays the safety net: a wake that was missed costs at most one `wait`, never an
  // update, because the state answered at the deadline is the current one.
  watch_.add({node, after, clock_.steadyNow() + wait, std::move(done), form == DesiredForm::kDelta});
  // A change may have landed between reading the generation and registering.
  notifyWatchers();
}

void ClusterService::notifyWatchers() {
  auto due = watch_.takeDue([this](const std::string& node) { return store_.nodeGeneration(node); },
                            clock_.steadyNow());
  if (due.empty()) return;
  // Off the calling thread: the change's own caller (a create, a report) is not kept waiting
  // while the woken nodes' states are built, encoded and sent.
  answers_.post([this, due = std::move(due)]() mutable { answerWatchers(std::move(due)); });
}

void ClusterService::answerWatchers(std::vector<DesiredStateWatch::Watcher> due) {
  // The tables every node's state reads (nodes, groups, releases) once for all the due polls.
  auto common = declaredCommon();
  for (auto& w : due) {
    const DesiredForm form = w.delta ? DesiredForm::kDelta : DesiredForm::kFull;
    w.done(common.isOk() ? desiredAfter(w.node, w.after, form, *common) : Result<DesiredState>(common.status()));
  }
}

bool ClusterService::advanceRegroupsLocked() {
  if (!regroups_pending_) return false;  // the common case costs nothing
  auto volumes = store_.listVolumes();
  auto replicas = store_.listReplicas();
  auto attachments = store_.listAttachments();
  if (!volumes.isOk() || !replicas.isOk() || !attachments.isOk()) return false;
  std::unordered_map<std::string, std::vector<ReplicaRecord>> by_volume;
  for (auto& r : *replicas) by_volume[r.volume_uuid].push_back(std::move(r));
  bool changed = false;
  regroups_pending_ = false;
  for (const auto& v : *volumes) {
    const RegroupStep step = planRegroupStep(v, by_volume[v.uuid], *attachments, observed_);
    if (step.action == RegroupAction::kNone) continue;
    regroups_pending_ = true;
    Status s = Status::ok();
    if (step.action == RegroupAction::kHandOver) {
      s = store_.setHandover(v.uuid, step.target);
      if (s.isOk()) {
        handovers_pending_ = true;
        log::info("cluster", "volume " + v.name + ": its replicas in resource group " + v.group +
                                 " are synced: " + v.primary_node + " stops serving, then " + step.target +
                                 " takes over as the primary");
      }
    } else if (step.action == RegroupAction::kRemoveLeaving) {
      VolumeChange change;
      change.volume_uuid = v.uuid;
      change.remove_nodes = step.remove;
      s = store_.changeVolume(change);
      if (s.isOk()) {
        std::string nodes;
        for (const auto& n : step.remove) nodes += (nodes.empty() ? "" : ", ") + n;
        log::info("cluster", "volume " + v.name + " has moved to resource group " + v.group + " (primary " +
                                 v.primary_node + "): its replicas on " + nodes + " are removed");
      }
    }
    if (!s.isOk()) {
      log::warn("cluster", "volume " + v.name + ": moving to resource group " + v.group + " failed: " + s.toString());
      continue;
    }
    changed = changed || step.action != RegroupAction::kWait;
  }
  return changed;
}

bool ClusterService::completeHandoversLocked() {
  if (!handovers_pending_) return false;  // the common case costs nothing
  auto volumes = store_.listVolumes();
  if (!volumes.isOk()) return false;
  bool changed = false;
  handovers_pending_ = false;
  for (const auto& v : *volumes) {
    if (v.handover_to.empty()) continue;
    if (!handoverDemoted(v, observed_)) {
      handovers_pending_ = true;
      continue;
    }
    Status s = store_.setPrimary(v.uuid, v.handover_to, v.epoch + 1);
    if (!s.isOk()) {
      handovers_pending_ = true;
      log::warn("cluster", "volume " + v.name + ": completing the handover to " + v.handover_to + " failed: " +
                               s.toString());
      continue;
    }
    log::info("cluster", "volume " + v.name + ": " + v.primary_node + " has stopped serving; " + v.handover_to +
                             " is the primary (epoch " + std::to_string(v.epoch + 1) + ")");
    changed = true;
  }
  return changed;
}

void ClusterService::tick() {
  std::vector<std::pair<std::function<void(Status)>, Status>> settled;
  std::vector<std::function<void()>> clones;
  {
    std::lock_guard lock(mu_);
    for (const auto& name : observed_.markSilentOffline(clock_.steadyNow(), options_.heartbeat_timeout)) {
      log::warn("cluster", "node " + name + " missed its heartbeats: offline");
      suspects_.insert(name);
    }
    replaceLostReplicasLocked();
    advanceEvacuationsLocked();
    advanceRegroupsLocked();
    completeHandoversLocked();
    settled = settleDetachesLocked("");
    clones = settleClonesLocked();
    coordinateDrbdSnapshotsLocked();
  }
  notifyWatchers();
  for (auto& [done, status] : settled) done(status);
  for (auto& call : clones) call();
}

}  // namespace tandem::controller
