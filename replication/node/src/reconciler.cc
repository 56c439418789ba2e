#include "tandem/node/reconciler.h"

#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <set>

#include "tandem/common/log.h"
#include "tandem/common/uuid.h"
#include "tandem/node/drbd_volumes.h"
#include "tandem/node/revert_marker.h"

namespace tandem::node {
namespace {

// The engine's states as the controller knows them. No default: a new engine state fails the
// build here until it is given its meaning for the controller.
nodeapi::DiskState reportedState(replication::DiskState s) {
  switch (s) {
    case replication::DiskState::kUpToDate: return nodeapi::DiskState::kUpToDate;
    case replication::DiskState::kInconsistent: return nodeapi::DiskState::kInconsistent;
    case replication::DiskState::kOutdated: return nodeapi::DiskState::kOutdated;
  }
  return nodeapi::DiskState::kOutdated;
}

nodeapi::PeerState reportedState(replication::PeerState s) {
  switch (s) {
    case replication::PeerState::kConnecting: return nodeapi::PeerState::kConnecting;
    case replication::PeerState::kSyncing: return nodeapi::PeerState::kSyncing;
    case replication::PeerState::kUpToDate: return nodeapi::PeerState::kUpToDate;
    case replication::PeerState::kDisconnected: return nodeapi::PeerState::kDisconnected;
    case replication::PeerState::kSplitBrain: return nodeapi::PeerState::kSplitBrain;
  }
  return nodeapi::PeerState::kDisconnected;
}

replication::VolumeConfig engineConfig(const DesiredReplica& d) {
  replication::VolumeConfig config;
  config.volume_uuid = d.volume_uuid;
  config.name = d.volume_name;
  config.size_bytes = d.size_bytes;
  config.primary = d.primary;
  config.epoch = d.epoch;
  config.quorum = d.quorum;
  config.discard_generation = d.discard_generation;
  for (const auto& p : d.peers) config.peers.push_back({p.node, p.host, p.port});
  return config;
}

}  // namespace

Reconciler::Reconciler(ReconcilerOptions options, std::map<std::string, Pool>& pools,
                       replication::ReplicationService& engine, nbd::StaticExportRegistry& exports,
                       std::function<void(const std::string&)> on_unexport)
    : options_(std::move(options)), pools_(pools), engine_(engine), exports_(exports),
      on_unexport_(std::move(on_unexport)) {}

std::string Reconciler::metadataPath(const std::string& uuid) const {
  return options_.metadata_dir + "/" + uuid + ".meta";
}

void Reconciler::unexport(const std::string& name) {
  exported_.erase(name);
  if (exports_.remove(name) && on_unexport_) on_unexport_(name);
}

Status Reconciler::apply(const DesiredState& desired) {
  std::lock_guard lock(mu_);
  std::set<std::string> wanted;
  for (const auto& d : desired.replicas) wanted.insert(d.volume_uuid);
  std::set<std::string> released;
  for (const auto& r : desired.release) released.insert(r.volume_uuid);
  Status first;
  // The drbd engine's volumes first (it takes down what goes before its backing is deleted); the
  // backing volumes it holds are not the native side's to remove.
  std::set<std::string> drbd_held;
  if (drbd_ != nullptr) {
    first = drbd_->apply(desired.replicas, desired.attachments);
    drbd_held = drbd_->held();
  }

  // First everything local that is not wanted goes — replicas the engine holds and backing
  // volumes left from before a restart (named by uuid) — so that a volume re-created under the
  // same name finds its export name free.
  std::set<std::string> unwanted;
  for (const auto& [uuid, _] : active_) {
    if (!wanted.count(uuid) && !released.count(uuid)) unwanted.insert(uuid);
  }
  for (auto& [name, pool] : pools_) {
    auto list = pool.provider->list();
    if (!list.isOk()) continue;
    for (const auto& v : *list) {
      if (!v.is_snapshot && isUuid(v.name) && !wanted.count(v.name) && !released.count(v.name) &&
          !drbd_held.count(v.name)) {
        unwanted.insert(v.name);
      }
    }
  }
  // Forgotten volumes: their backing volumes are kept (renamed), never deleted.
  for (const auto& r : desired.release) {
    if (wanted.count(r.volume_uuid)) continue;
    Status s = releaseReplica(r);
    if (!s.isOk()) {
      log::error("reconcile", "release " + r.volume_name + ": " + s.toString());
      errors_[r.volume_uuid] = s.message();
      if (first.isOk()) first = s;
    } else {
      errors_.erase(r.volume_uuid);
    }
  }
  for (const auto& uuid : unwanted) {
    Status s = removeReplica(uuid);
    if (!s.isOk()) {
      log::error("reconcile", "remove replica " + uuid + ": " + s.toString());
      errors_[uuid] = s.message();
      if (first.isOk()) first = s;
    } else {
      errors_.erase(uuid);
    }
  }

  for (const auto& d : desired.replicas) {
    if (d.drbd) {
      if (drbd_ == nullptr) {
        errors_[d.volume_uuid] = "volume " + d.volume_name + " uses the drbd engine, which this node worker does not run";
      }
      continue;
    }
    Status s = ensureReplica(d);
    if (s.isOk()) {
      errors_.erase(d.volume_uuid);
    } else {
      log::error("reconcile", "volume " + d.volume_name + ": " + s.toString());
      errors_[d.volume_uuid] = s.message();
      if (first.isOk()) first = s;
    }
  }
  if (attachments_ != nullptr) {
    std::vector<nodeapi::DesiredAttachment> native;
    for (const auto& a : desired.attachments) {
      if (!a.drbd) native.push_back(a);
    }
    Status s = attachments_->apply(native, desired.force_detach);
    if (first.isOk()) first = s;
  }
  applied_generation_ = desired.generation;
  return first;
}

Status Reconciler::ensureReplica(const DesiredReplica& d) {
  auto pool_it = pools_.find(d.pool);
  if (pool_it == pools_.end()) {
    return Status(ErrorCode::kNotFound, "pool '" + d.pool + "' is not configured on this node");
  }
  devices::StorageProvider& provider = *pool_it->second.provider;

  bool reverted = false;
  if (d.primary && !d.revert_id.empty()) {
    ASSIGN_OR_RETURN(std::string done, revertedId(d.volume_uuid));
    if (done != d.revert_id) {
      RETURN_IF_ERROR(revertReplica(provider, d));
      reverted = true;
    }
  }

  auto active = active_.find(d.volume_uuid);
  if (active == active_.end()) {
    bool adopted = false;
    if (d.primary && !d.adopt_from.empty() && !std::filesystem::exists(metadataPath(d.volume_uuid))) {
      // Adoption: the backing volume is the operator's, with its data. Renamed first (a pass
      // interrupted after the rename finds it under the uuid), then added as new to the engine
      // with its data; its metadata, once saved, makes every later pass an ordinary one.
      if (provider.info(d.volume_uuid).status().code() == ErrorCode::kNotFound) {
        RETURN_IF_ERROR(provider.rename(d.adopt_from, d.volume_uuid)
                            .withContext("adopt backing volume '" + d.adopt_from + "' of pool " + d.pool));
        log::info("reconcile", "adopted " + provider.pathOf(d.adopt_from) + " as volume " + d.volume_name);
      }
      adopted = true;
    }
    auto info = provider.info(d.volume_uuid);
    replication::VolumeConfig config = engineConfig(d);
    config.data_replaced = reverted || adopted;
    // Binds the engine's metadata to the device (an adopted one is new to the engine, with data).
    config.new_device = adopted || info.status().code() == ErrorCode::kNotFound;
    if (adopted) {
      RETURN_IF_ERROR(info.status());
      if (info->size_bytes < d.size_bytes) RETURN_IF_ERROR(growBacking(provider, d));
    } else if (config.new_device && !d.clone_volume.empty()) {
      // Made from a snapshot: this copy is the source of the others.
      RETURN_IF_ERROR(provider.clone(d.clone_volume, d.clone_snapshot, d.volume_uuid)
                          .withContext("clone snapshot " + d.clone_snapshot + " in pool " + d.pool));
      log::info("reconcile", "cloned snapshot " + d.clone_snapshot + " into " + d.volume_name);
      RETURN_IF_ERROR(growBacking(provider, d));
    } else if (config.new_device) {
      RETURN_IF_ERROR(provider.create(d.volume_uuid, d.size_bytes,
                                      d.thin ? devices::Provisioning::kThin : devices::Provisioning::kThick)
                          .withContext("create backing volume in pool " + d.pool));
      log::info("reconcile", "created backing volume for " + d.volume_name + " in pool " + d.pool);
      // A copy of a volume made from a snapshot elsewhere: empty, so Inconsistent (no metadata
      // beside a device not new to the engine) until the primary has fully synced it.
      if (d.from_primary) config.new_device = false;
    } else if (!info.isOk()) {
      return info.status();
    } else if (info->size_bytes > d.size_bytes) {
      return Status(ErrorCode::kConflict, "backing volume has " + std::to_string(info->size_bytes) +
                                              " bytes, desired " + std::to_string(d.size_bytes));
    } else if (info->size_bytes < d.size_bytes) {
      // The volume grew while this replica was not held (the node was down or just restarted).
      RETURN_IF_ERROR(growBacking(provider, d));
    }
    ASSIGN_OR_RETURN(std::unique_ptr<devices::BlockDevice> device, provider.open(d.volume_uuid));
    RETURN_IF_ERROR(engine_.addVolume(config, std::shared_ptr<devices::BlockDevice>(std::move(device)),
                                      metadataPath(d.volume_uuid)));
    active = active_.emplace(d.volume_uuid, d).first;
  } else if (!(active->second == d)) {
    // Online grow: the backing store first, then the engine (which re-reads the device's size
    // and, as primary, tells the peers); new NBD connections see the new size.
    if (d.size_bytes > active->second.size_bytes) RETURN_IF_ERROR(growBacking(provider, d));
    // A primary that stops serving (a planned handover) is unexported while its engine is still
    // primary: its NBD clients lose the connection, and a write in flight is sent again to the
    // next primary, instead of being answered with an error by a demoted engine.
    if (active->second.primary && (!d.primary || active->second.volume_name != d.volume_name)) {
      unexport(active->second.volume_name);
    }
    RETURN_IF_ERROR(engine_.updateVolume(engineConfig(d)));
    active->second = d;
  }
  RETURN_IF_ERROR(reconcileSnapshots(provider, d));
  auto exported = exported_.find(d.volume_name);
  if (d.primary && (exported == exported_.end() || exported->second != d.volume_uuid)) {
    auto device = engine_.primaryDevice(d.volume_uuid);
    if (!device) return Status(ErrorCode::kInternal, "engine has no primary device for " + d.volume_name);
    unexport(d.volume_name);  // a stale export of another volume under this name
    exports_.add(d.volume_name, device);
    exported_[d.volume_name] = d.volume_uuid;
    log::info("reconcile", "exporting " + d.volume_name + " over NBD");
  }
  return Status::ok();
}

std::vector<std::string> Reconciler::localSnapshots(devices::StorageProvider& provider, const std::string& uuid) {
  std::vector<std::string> out;
  auto list = provider.list();
  if (!list.isOk()) return out;
  for (const auto& v : *list) {
    if (v.is_snapshot && v.parent == uuid) out.push_back(v.name);
  }
  return out;
}

Status Reconciler::reconcileSnapshots(devices::StorageProvider& provider, const DesiredReplica& d) {
  auto held = localSnapshots(provider, d.volume_uuid);
  for (const auto& s : held) {
    if (std::find(d.snapshots.begin(), d.snapshots.end(), s) != d.snapshots.end()) continue;
    RETURN_IF_ERROR(provider.removeSnapshot(d.volume_uuid, s).withContext("remove snapshot " + s));
    log::info("reconcile", "deleted snapshot " + s + " of " + d.volume_name);
  }
  if (!d.primary) return Status::ok();
  auto& failed = failed_snapshots_[d.volume_uuid];
  for (const auto& s : d.take_snapshots) {
    if (std::find(held.begin(), held.end(), s) != held.end() || failed.count(s)) continue;
    // Taken once: a failure is reported, not retried at a later point of the write order.
    auto copies = engine_.snapshotVolume(d.volume_uuid, s);
    if (!copies.isOk()) {
      failed.insert(s);
      log::error("reconcile", "snapshot " + s + " of " + d.volume_name + ": " + copies.status().toString());
      continue;
    }
    std::string nodes;
    for (const auto& n : *copies) nodes += (nodes.empty() ? "" : ", ") + n;
    log::info("reconcile", "snapshot " + s + " of " + d.volume_name + " taken on " + nodes);
  }
  return Status::ok();
}

Result<std::string> Reconciler::revertedId(const std::string& uuid) {
  auto known = reverted_.find(uuid);
  if (known != reverted_.end()) return known->second;
  ASSIGN_OR_RETURN(std::string id, loadRevertMarker(options_.metadata_dir, uuid));
  reverted_[uuid] = id;
  return id;
}

Status Reconciler::revertReplica(devices::StorageProvider& provider, const DesiredReplica& d) {
  // Out of service first: the export closes (NBD clients are disconnected), the engine lets go of
  // the device, then the provider replaces its contents and the volume is added back (by the
  // caller) at a new generation, from which every peer is fully synced.
  auto active = active_.find(d.volume_uuid);
  if (active != active_.end()) {
    auto exported = exported_.find(active->second.volume_name);
    if (exported != exported_.end() && exported->second == d.volume_uuid) unexport(active->second.volume_name);
    Status s = engine_.removeVolume(d.volume_uuid);
    if (!s.isOk() && s.code() != ErrorCode::kNotFound) return s;
    active_.erase(active);
  }
  RETURN_IF_ERROR(provider.revert(d.volume_uuid, d.revert_snapshot)
                      .withContext("revert " + d.volume_name + " to snapshot " + d.revert_snapshot));
  RETURN_IF_ERROR(growBacking(provider, d));  // a snapshot older than a grow: the size stays
  RETURN_IF_ERROR(saveRevertMarker(options_.metadata_dir, d.volume_uuid, d.revert_id));
  reverted_[d.volume_uuid] = d.revert_id;
  log::info("reconcile", "reverted " + d.volume_name + " to snapshot " + d.revert_snapshot);
  return Status::ok();
}

Status Reconciler::growBacking(devices::StorageProvider& provider, const DesiredReplica& d) {
  ASSIGN_OR_RETURN(devices::VolumeInfo info, provider.info(d.volume_uuid));
  if (info.size_bytes >= d.size_bytes) return Status::ok();  // grown by an earlier, interrupted pass
  RETURN_IF_ERROR(provider.resize(d.volume_uuid, d.size_bytes, /*force=*/false)
                      .withContext("grow backing volume in pool " + d.pool));
  log::info("reconcile", "grew backing volume of " + d.volume_name + " to " + std::to_string(d.size_bytes) +
                             " bytes");
  return Status::ok();
}

Status Reconciler::releaseReplica(const nodeapi::DesiredRelease& r) {
  auto active = active_.find(r.volume_uuid);
  if (active != active_.end()) {
    auto exported = exported_.find(active->second.volume_name);
    if (exported != exported_.end() && exported->second == r.volume_uuid) unexport(active->second.volume_name);
    Status s = engine_.removeVolume(r.volume_uuid);
    if (!s.isOk() && s.code() != ErrorCode::kNotFound) return s;
    active_.erase(active);
  }
  auto pool = pools_.find(r.pool);
  if (pool == pools_.end()) {
    return Status(ErrorCode::kNotFound, "pool '" + r.pool + "' is not configured on this node");
  }
  devices::StorageProvider& provider = *pool->second.provider;
  if (provider.info(r.volume_uuid).isOk()) {
    // The name first, then the metadata: a pass interrupted between them finds the name done.
    RETURN_IF_ERROR(provider.rename(r.volume_uuid, r.backing_name)
                        .withContext("release volume " + r.volume_name + " as '" + r.backing_name + "'"));
    log::info("reconcile", "released volume " + r.volume_name + ": its data stays in " +
                               provider.pathOf(r.backing_name));
  }
  RETURN_IF_ERROR(engine_.deleteMetadata(metadataPath(r.volume_uuid)));
  failed_snapshots_.erase(r.volume_uuid);
  reverted_.erase(r.volume_uuid);
  return removeRevertMarker(options_.metadata_dir, r.volume_uuid);
}

Status Reconciler::removeReplica(const std::string& uuid) {
  auto active = active_.find(uuid);
  std::string pool_name;
  if (active != active_.end()) {
    pool_name = active->second.pool;
    auto exported = exported_.find(active->second.volume_name);
    if (exported != exported_.end() && exported->second == uuid) unexport(active->second.volume_name);
    Status s = engine_.removeVolume(uuid);
    if (!s.isOk() && s.code() != ErrorCode::kNotFound) return s;
    active_.erase(active);
  }
  for (auto& [name, pool] : pools_) {
    if (!pool_name.empty() && name != pool_name) continue;
    for (const auto& snapshot : localSnapshots(*pool.provider, uuid)) {  // a volume with snapshots cannot go
      Status s = pool.provider->removeSnapshot(uuid, snapshot);
      if (!s.isOk() && s.code() != ErrorCode::kNotFound) return s;
    }
    Status s = pool.provider->remove(uuid);
    if (s.isOk()) {
      log::info("reconcile", "deleted replica " + uuid + " from pool " + name);
    } else if (s.code() != ErrorCode::kNotFound) {
      return s;
    }
  }
  RETURN_IF_ERROR(engine_.deleteMetadata(metadataPath(uuid)));
  failed_snapshots_.erase(uuid);
  reverted_.erase(uuid);
  RETURN_IF_ERROR(removeRevertMarker(options_.metadata_dir, uuid));
  return Status::ok();
}

std::vector<nodeapi::PoolReport> Reconciler::pools() {
  std::vector<nodeapi::PoolReport> out;
  for (auto& [name, pool] : pools_) {
    auto caps = pool.provider->capabilities();
    auto cap = pool.provider->capacity();
    nodeapi::PoolReport p;
    p.name = name;
    p.provider = caps.provider;
    p.thin = caps.thin;
    p.snapshots = caps.snapshots;
    if (cap.isOk()) {
      p.total_bytes = cap->total_bytes;
      p.free_bytes = cap->free_bytes;
      p.provisioned_bytes = cap->provisioned_bytes;
    }
    out.push_back(std::move(p));
  }
  return out;
}

nodeapi::StatusReport Reconciler::report() {
  nodeapi::DrbdCapabilityReport drbd{false, "", "this node worker does not probe DRBD"};
  if (drbd_probe_) drbd = drbd_probe_();
  std::lock_guard lock(mu_);
  nodeapi::StatusReport report;
  report.drbd = std::move(drbd);
  report.applied_generation = applied_generation_;
  report.pools = pools();
  // Every snapshot held and each backing volume's allocation, by volume uuid, and the volumes
  // Tandem does not manage: one listing per pool.
  std::map<std::string, std::vector<std::string>> snapshots;
  std::map<std::string, uint64_t> allocated;
  for (auto& [name, pool] : pools_) {
    auto list = pool.provider->list();
    if (!list.isOk()) continue;
    nodeapi::PoolReport* pool_report = nullptr;
    for (auto& p : report.pools) {
      if (p.name == name) pool_report = &p;
    }
    for (const auto& v : *list) {
      if (v.is_snapshot) {
        snapshots[v.parent].push_back(v.name);
      } else if (!isUuid(v.name)) {
        if (pool_report != nullptr) pool_report->unmanaged.push_back({v.name, v.size_bytes, pool.provider->pathOf(v.name)});
      } else {
        allocated[v.name] = v.allocated_bytes;
      }
    }
  }
  std::set<std::string> reported;
  for (const auto& v : engine_.status()) {
    reported.insert(v.volume_uuid);
    nodeapi::ReplicaReport r;
    r.volume_uuid = v.volume_uuid;
    r.disk = reportedState(v.disk);
    r.primary = v.primary;
    r.generation = v.generation;
    auto err = errors_.find(v.volume_uuid);
    if (err != errors_.end()) r.error = err->second;
    for (const auto& p : v.peers) {
      r.peers.push_back(nodeapi::PeerReport{p.node, reportedState(p.state), p.sync_done_bytes, p.sync_total_bytes});
    }
    auto snaps = snapshots.find(v.volume_uuid);
    if (snaps != snapshots.end()) r.snapshots = snaps->second;
    if (auto a = allocated.find(v.volume_uuid); a != allocated.end()) r.allocated_bytes = a->second;
    if (auto done = reverted_.find(v.volume_uuid); done != reverted_.end()) r.reverted = done->second;
    if (auto held = active_.find(v.volume_uuid); held != active_.end()) {
      if (auto pool = pools_.find(held->second.pool); pool != pools_.end()) {
        r.backing_path = pool->second.provider->pathOf(v.volume_uuid);
      }
    }
    if (auto f = failed_snapshots_.find(v.volume_uuid); f != failed_snapshots_.end()) {
      // Not in r.error: that marks the replica itself failed. The node's log has the cause.
      r.failed_snapshots.assign(f->second.begin(), f->second.end());
    }
    report.replicas.push_back(std::move(r));
  }
  for (const auto& [uuid, message] : errors_) {
    if (reported.count(uuid)) continue;
    nodeapi::ReplicaReport r;
    r.volume_uuid = uuid;
    r.disk = nodeapi::DiskState::kFailed;
    r.error = message;
    report.replicas.push_back(std::move(r));
  }
  if (drbd_ != nullptr) {
    for (auto& r : drbd_->replicaReports()) report.replicas.push_back(std::move(r));
  }
  if (attachments_ != nullptr) {
    report.attachments = attachments_->report();
    report.nbd_socket = attachments_->nbdSocket();
    report.device_link_root = attachments_->linkRoot();
  } else {
    report.no_block_devices = no_block_devices_;
  }
  if (drbd_ != nullptr) {
    for (auto& a : drbd_->attachmentReports()) report.attachments.push_back(std::move(a));
  }
  return report;
}

}  // namespace tandem::node
