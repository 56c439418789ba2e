#include "tandem/node/drbd_volumes.h"

#include <algorithm>

#include "tandem/common/log.h"
#include "tandem/drbd/replica_report.h"

namespace tandem::node {
namespace {

const drbd::DrbdHost* findHost(const drbd::DrbdResourceSpec& spec, const std::string& name) {
  for (const auto& h : spec.hosts) {
    if (h.name == name) return &h;
  }
  return nullptr;
}

bool contains(const std::vector<std::string>& names, const std::string& name) {
  return std::find(names.begin(), names.end(), name) != names.end();
}

}  // namespace

DrbdVolumes::DrbdVolumes(DrbdVolumesOptions options, std::map<std::string, Pool>& pools,
                         drbd::DrbdLifecycle& lifecycle, std::function<drbd::Events2State()> state)
    : options_(std::move(options)), pools_(pools), lifecycle_(lifecycle), state_(std::move(state)),
      suspensions_(lifecycle, options_.suspend_dir, options_.suspend_deadline,
                   options_.clock != nullptr ? *options_.clock : RealClock::instance()) {
  // A previous run may have left DRBD I/O suspended (it stopped between suspend-io and
  // resume-io): resume it now; those snapshots failed here.
  failEnded(suspensions_.recover());
}

void DrbdVolumes::failEnded(const std::vector<SuspensionEnded>& ended) {
  for (const auto& e : ended) failed_snapshots_[e.volume_uuid].insert(e.snapshot);
}

void DrbdVolumes::enforceDeadlines() {
  std::lock_guard lock(mu_);
  failEnded(expireSuspensions());
}

std::vector<SuspensionEnded> DrbdVolumes::expireSuspensions() {
  std::vector<SuspensionEnded> ended = suspensions_.expire();
  for (const auto& e : ended) {
    auto h = held_.find(e.volume_uuid);
    if (h == held_.end()) continue;
    if (std::string busy = inFlightHere(h->second.spec.resource); !busy.empty()) {
      log::warn("drbd", "snapshot " + e.snapshot + ": " + h->second.spec.resource +
                            " never drained while suspended (" + busy + ")");
    }
  }
  return ended;
}

std::string DrbdVolumes::inFlightHere(const std::string& resource) const {
  if (options_.current_state) {
    auto now = options_.current_state(resource);
    if (!now.isOk()) return "unknown (" + now.status().message() + ")";
    return drbd::inFlight(*now);
  }
  if (!state_) return "no events2 state";
  drbd::Events2State state = state_();
  const drbd::DrbdResourceState* r = state.resource(resource);
  if (r == nullptr) return "no events2 state of " + resource;
  return drbd::inFlight(*r);
}

drbd::DrbdResourceSpec DrbdVolumes::specFor(const nodeapi::DesiredDrbd& d, const std::string& volume_uuid,
                                            const std::string& own_backing) const {
  // A peer's `disk` is informational for this host (drbdadm applies only its own section).
  drbd::DrbdResourceSpec spec;
  spec.resource = d.resource;
  spec.minor = d.minor;
  spec.shared_secret = d.shared_secret;
  spec.max_peers = d.max_peers;
  const std::string peer_backing = own_backing.empty() ? "/dev/tandem-peer/" + volume_uuid : own_backing;
  for (const auto& h : d.hosts) {
    std::string backing;
    if (h.diskful) backing = h.node == options_.self ? own_backing : peer_backing;
    spec.hosts.push_back({h.node, h.address, h.port, h.node_id, backing});
  }
  return spec;
}

size_t DrbdVolumes::diskfulConnected(const drbd::DrbdResourceSpec& spec) const {
  size_t connected = 1;  // this host
  if (!state_) return connected;
  drbd::Events2State state = state_();
  const drbd::DrbdResourceState* r = state.resource(spec.resource);
  if (r == nullptr) return connected;
  for (const auto& h : spec.hosts) {
    if (h.name == options_.self || h.backing_device.empty()) continue;
    auto peer = r->peers.find(h.node_id);
    if (peer != r->peers.end() && peer->second.connection == "Connected") ++connected;
  }
  return connected;
}

Status DrbdVolumes::apply(const std::vector<nodeapi::DesiredReplica>& replicas,
                          const std::vector<nodeapi::DesiredAttachment>& attachments) {
  std::lock_guard lock(mu_);
  failEnded(expireSuspensions());
  std::set<std::string> wanted_replicas, wanted_clients;
  for (const auto& d : replicas) {
    if (d.drbd) wanted_replicas.insert(d.volume_uuid);
  }
  for (const auto& a : attachments) {
    if (a.drbd && !wanted_replicas.count(a.volume_uuid)) wanted_clients.insert(a.volume_uuid);
  }
  Status first;
  auto keep = [&](const std::string& uuid, Status s, std::map<std::string, std::string>& errors) {
    if (s.isOk()) {
      errors.erase(uuid);
      return;
    }
    log::error("drbd", "volume " + uuid + ": " + s.toString());
    errors[uuid] = s.message();
    if (first.isOk()) first = s;
  };
  // First what goes: a replica no longer here, or a client no longer attached.
  for (auto it = held_.begin(); it != held_.end();) {
    const bool wanted = it->second.replica ? wanted_replicas.count(it->first) > 0
                                           : wanted_clients.count(it->first) > 0;
    if (wanted) {
      ++it;
      continue;
    }
    unexport(it->second);  // its NBD clients go before the resource can be taken down
    Status s = suspensions_.resume(it->first);
    if (s.isOk()) s = removeHeld(it->first, it->second);
    keep(it->first, s, errors_);
    if (s.isOk()) {
      attach_errors_.erase(it->first);
      it = held_.erase(it);
    } else {
      ++it;
    }
  }
  for (auto it = errors_.begin(); it != errors_.end();) {
    it = (wanted_replicas.count(it->first) || held_.count(it->first)) ? std::next(it) : errors_.erase(it);
  }
  for (auto it = failed_snapshots_.begin(); it != failed_snapshots_.end();) {
    it = wanted_replicas.count(it->first) ? std::next(it) : failed_snapshots_.erase(it);
  }
  for (const auto& d : replicas) {
    if (d.drbd) keep(d.volume_uuid, ensureReplica(d), errors_);
  }
  for (const auto& a : attachments) {
    if (!a.drbd) continue;
    if (wanted_replicas.count(a.volume_uuid)) {
      // The replica's own device serves it (once the replica is held; its error is reported).
      if (auto h = held_.find(a.volume_uuid); h != held_.end()) h->second.attachment = true;
      attach_errors_.erase(a.volume_uuid);
      continue;
    }
    keep(a.volume_uuid, ensureClient(a), attach_errors_);
  }
  for (auto& [uuid, h] : held_) {
    if (h.replica) {
      bool attached = false;
      for (const auto& a : attachments) attached = attached || (a.drbd && a.volume_uuid == uuid);
      h.attachment = attached;
    }
  }
  reconcileExports(replicas, attachments);
  for (auto it = attach_errors_.begin(); it != attach_errors_.end();) {
    bool wanted = false;
    for (const auto& a : attachments) wanted = wanted || (a.drbd && a.volume_uuid == it->first);
    it = wanted ? std::next(it) : attach_errors_.erase(it);
  }
  return first;
}

std::string DrbdVolumes::devicePath(const std::string& resource) const {
  return options_.by_res_dir + "/" + resource + "/0";
}

void DrbdVolumes::unexport(Held& h) {
  if (h.nbd_export.empty()) return;
  if (exports_ != nullptr) exports_->remove(h.nbd_export);
  log::info("drbd", "no longer exporting " + devicePath(h.spec.resource) + " over NBD as '" + h.nbd_export + "'");
  h.nbd_export.clear();
}

void DrbdVolumes::reconcileExports(const std::vector<nodeapi::DesiredReplica>& replicas,
                                   const std::vector<nodeapi::DesiredAttachment>& attachments) {
  std::map<std::string, std::string> wanted;  // volume uuid -> export name
  for (const auto& d : replicas) {
    auto h = held_.find(d.volume_uuid);
    if (d.drbd && d.primary && h != held_.end() && h->second.replica && !h->second.pool.empty()) {
      wanted[d.volume_uuid] = d.volume_name;  // the primary serves the volume's data (nbd_uri)
    }
  }
  for (const auto& a : attachments) {
    auto h = held_.find(a.volume_uuid);
    if (a.drbd && a.nbd && h != held_.end() && h->second.attachment) wanted[a.volume_uuid] = a.nbd_export;
  }
  for (auto& [uuid, h] : held_) {
    auto w = wanted.find(uuid);
    const std::string name = w == wanted.end() ? "" : w->second;
    if (h.nbd_export == name) continue;
    unexport(h);
    if (name.empty()) continue;
    if (exports_ == nullptr) {
      if (h.attachment) attach_errors_[uuid] = "this node worker does not export drbd devices over NBD";
      continue;
    }
    exports_->add(name, devicePath(h.spec.resource));
    h.nbd_export = name;
  }
}

Status DrbdVolumes::ensureReplica(const nodeapi::DesiredReplica& d) {
  for (const auto& h : d.drbd->hosts) {
    // A diskless replica (the tie-breaker of a two-replica volume, or a client the controller
    // placed for an attachment): no backing volume, no metadata.
    if (h.node == options_.self && !h.diskful) return ensureDiskless(d.volume_uuid, *d.drbd, d.size_bytes, true);
  }
  auto pool_it = pools_.find(d.pool);
  if (pool_it == pools_.end()) {
    return Status(ErrorCode::kNotFound, "pool '" + d.pool + "' is not configured on this node");
  }
  devices::StorageProvider& provider = *pool_it->second.provider;
  const std::string backing = provider.pathOf(d.volume_uuid);
  drbd::DrbdResourceSpec want = specFor(*d.drbd, d.volume_uuid, backing);
  const drbd::DrbdHost* me = findHost(want, options_.self);
  if (me == nullptr || me->backing_device.empty()) {
    return Status(ErrorCode::kInvalidArgument, "the DRBD resource " + want.resource +
                                                   " does not name this host (" + options_.self +
                                                   ") as a diskful host");
  }
  auto held = held_.find(d.volume_uuid);
  if (held == held_.end() || !held->second.replica) {
    if (held != held_.end()) {
      // A diskless client here becomes a replica: take the client down first (its NBD export
      // first; it is exported again from the replica's device).
      unexport(held->second);
      RETURN_IF_ERROR(removeHeld(d.volume_uuid, held->second));
      held_.erase(held);
    }
    bool fresh = false;
    if (!provider.info(d.volume_uuid).isOk()) {
      RETURN_IF_ERROR(provider.create(d.volume_uuid, d.size_bytes,
                                      d.thin ? devices::Provisioning::kThin : devices::Provisioning::kThick));
      fresh = true;
    }
    if (fresh) {
      RETURN_IF_ERROR(lifecycle_.create(want, options_.self));
    } else {
      // Held before a restart: its metadata exists; write the file and bring the kernel in line
      // with it (the add-peer sequence: write, adjust).
      RETURN_IF_ERROR(lifecycle_.addPeer(want));
    }
    held_[d.volume_uuid] = Held{want, d.pool, d.size_bytes, false, true, ""};
    if (fresh && d.primary) {
      drbd::InitialSyncFacts facts;
      facts.backing_fresh_thin = d.thin;
      facts.metadata_just_created = true;  // create-md ran on the backing volume made just now
      facts.ever_primary = false;
      for (const auto& h : want.hosts) facts.diskful += h.backing_device.empty() ? 0 : 1;
      facts.diskful_connected = diskfulConnected(want);
      if (drbd::checkInitialSyncSkippable(facts).isOk()) {
        RETURN_IF_ERROR(lifecycle_.skipInitialSync(want.resource, facts));
      } else {
        RETURN_IF_ERROR(lifecycle_.promote(want.resource, /*force=*/true));
      }
    }
    return reconcileSnapshots(provider, d, want);
  }
  Held& h = held->second;
  RETURN_IF_ERROR(change(h, want));
  if (d.size_bytes > h.size_bytes) {
    auto info = provider.info(d.volume_uuid);
    if (!info.isOk()) return info.status();
    if (info->size_bytes < d.size_bytes) RETURN_IF_ERROR(provider.resize(d.volume_uuid, d.size_bytes, false));
    // Every diskful host resizes after its own backing grew: DRBD grows to the smallest backing
    // device, so the host that grows last brings the volume to its full size.
    RETURN_IF_ERROR(lifecycle_.resize(want.resource));
    h.size_bytes = d.size_bytes;
  }
  return reconcileSnapshots(provider, d, want);
}

bool DrbdVolumes::upToDateHere(const std::string& resource) const {
  if (!state_) return false;
  drbd::Events2State state = state_();
  const drbd::DrbdResourceState* r = state.resource(resource);
  if (r == nullptr) return false;
  auto volume = r->devices.find(0);
  return volume != r->devices.end() && volume->second.disk == "UpToDate";
}

Status DrbdVolumes::reconcileSnapshots(devices::StorageProvider& provider, const nodeapi::DesiredReplica& d,
                                       const drbd::DrbdResourceSpec& spec) {
  const std::vector<std::string> held = Reconciler::localSnapshots(provider, d.volume_uuid);
  for (const auto& s : held) {
    if (contains(d.snapshots, s)) continue;
    RETURN_IF_ERROR(provider.removeSnapshot(d.volume_uuid, s).withContext("remove snapshot " + s));
    log::info("drbd", "deleted snapshot " + s + " of " + d.volume_name);
  }
  auto& failed = failed_snapshots_[d.volume_uuid];
  for (auto it = failed.begin(); it != failed.end();) {  // the controller has recorded it (gone from snapshots)
    it = contains(d.snapshots, *it) ? std::next(it) : failed.erase(it);
  }
  const std::string& want = d.drbd_snapshot;
  // A suspension for another snapshot, or with none desired (the controller failed it): resume.
  const std::string suspended = suspensions_.suspendedFor(d.volume_uuid);
  if (!suspended.empty() && (suspended != want || failed.count(want))) {
    RETURN_IF_ERROR(suspensions_.resume(d.volume_uuid));
  }
  if (want.empty() || failed.count(want)) return Status::ok();
  auto fail = [&](const Status& why) {
    failed.insert(want);  // reported; the controller fails the snapshot and everyone resumes
    log::error("drbd", "snapshot " + want + " of " + d.volume_name + " (phase " +
                           std::string(nodeapi::name(d.drbd_snapshot_phase)) + "): " + why.toString());
    return suspensions_.resume(d.volume_uuid);
  };
  switch (d.drbd_snapshot_phase) {
    case nodeapi::SnapshotPhase::kSuspend:
      if (suspensions_.suspendedFor(d.volume_uuid) == want || contains(held, want)) break;
      // A secondary copies only an UpToDate disk (an Inconsistent one is no image of the volume).
      if (!d.primary && !upToDateHere(spec.resource)) break;
      if (Status s = suspensions_.suspend(d.volume_uuid, spec.minor, want); !s.isOk()) return fail(s);
      // Reported suspended only once nothing is in flight (replicaReports); until then, or the
      // local deadline, I/O stays suspended.
      if (std::string busy = inFlightHere(spec.resource); !busy.empty()) {
        log::info("drbd", "snapshot " + want + " of " + d.volume_name + ": suspended, waiting for " + busy);
      }
      break;
    case nodeapi::SnapshotPhase::kTake:
      if (contains(held, want)) break;
      if (suspensions_.suspendedFor(d.volume_uuid) != want) {
        return fail(Status(ErrorCode::kConflict, "I/O is not suspended for it here (resumed on its own)"));
      }
      // Never copied with a write still in flight (the controller should not get here before
      // this host reported suspended, i.e. drained); waits, bounded by the local deadline.
      if (std::string busy = inFlightHere(spec.resource); !busy.empty()) {
        log::warn("drbd", "snapshot " + want + " of " + d.volume_name + ": not taken yet, still in flight: " + busy);
        break;
      }
      if (Status s = provider.snapshot(d.volume_uuid, want); !s.isOk()) return fail(s);
      log::info("drbd", "snapshot " + want + " of " + d.volume_name + " taken with I/O suspended on minor " +
                            std::to_string(spec.minor));
      break;
    case nodeapi::SnapshotPhase::kResume:
      RETURN_IF_ERROR(suspensions_.resume(d.volume_uuid));
      break;
  }
  return Status::ok();
}

Status DrbdVolumes::ensureClient(const nodeapi::DesiredAttachment& a) {
  return ensureDiskless(a.volume_uuid, *a.drbd, a.size_bytes, false);
}

Status DrbdVolumes::ensureDiskless(const std::string& uuid, const nodeapi::DesiredDrbd& d, uint64_t size_bytes,
                                   bool replica) {
  drbd::DrbdResourceSpec want = specFor(d, uuid, "");
  const drbd::DrbdHost* me = findHost(want, options_.self);
  if (me == nullptr || !me->backing_device.empty()) {
    return Status(ErrorCode::kUnprocessable, "the DRBD resource " + want.resource + " has no diskless host " +
                                                 options_.self + " (no DRBD allocation here)");
  }
  auto held = held_.find(uuid);
  if (held != held_.end() && held->second.replica && !held->second.pool.empty()) {
    return Status(ErrorCode::kConflict, "volume " + uuid + " has a diskful replica here; turning it diskless "
                                        "is not supported");
  }
  if (held == held_.end()) {
    RETURN_IF_ERROR(lifecycle_.create(want, options_.self));
    held_[uuid] = Held{want, "", size_bytes, !replica, replica, ""};
    return Status::ok();
  }
  held->second.replica = held->second.replica || replica;
  held->second.size_bytes = size_bytes;
  return change(held->second, want);
}

Status DrbdVolumes::change(Held& held, const drbd::DrbdResourceSpec& want) {
  if (held.spec == want) return Status::ok();
  for (const auto& h : held.spec.hosts) {
    if (h.name == options_.self || findHost(want, h.name) != nullptr) continue;
    RETURN_IF_ERROR(lifecycle_.removePeer(held.spec, h.name));
    auto& hosts = held.spec.hosts;
    hosts.erase(std::remove_if(hosts.begin(), hosts.end(), [&](const drbd::DrbdHost& x) { return x.name == h.name; }),
                hosts.end());
    if (held.spec == want) return Status::ok();
  }
  RETURN_IF_ERROR(lifecycle_.addPeer(want));
  held.spec = want;
  return Status::ok();
}

Status DrbdVolumes::removeHeld(const std::string& uuid, Held& held) {
  RETURN_IF_ERROR(lifecycle_.remove(held.spec, options_.self));
  if (held.replica && !held.pool.empty()) {
    auto pool = pools_.find(held.pool);
    if (pool != pools_.end() && pool->second.provider->info(uuid).isOk()) {
      // A volume with snapshots cannot go: its snapshots first.
      for (const auto& s : Reconciler::localSnapshots(*pool->second.provider, uuid)) {
        RETURN_IF_ERROR(pool->second.provider->removeSnapshot(uuid, s).withContext("remove snapshot " + s));
      }
      failed_snapshots_.erase(uuid);
      RETURN_IF_ERROR(pool->second.provider->remove(uuid));
    }
  }
  return Status::ok();
}

std::set<std::string> DrbdVolumes::held() const {
  std::lock_guard lock(mu_);
  std::set<std::string> out;
  for (const auto& [uuid, h] : held_) {
    if (h.replica) out.insert(uuid);
  }
  for (const auto& [uuid, _] : errors_) out.insert(uuid);
  return out;
}

std::vector<nodeapi::ReplicaReport> DrbdVolumes::replicaReports() const {
  drbd::Events2State state;
  if (state_) state = state_();
  std::lock_guard lock(mu_);
  std::vector<nodeapi::ReplicaReport> out;
  for (const auto& [uuid, h] : held_) {
    if (!h.replica) continue;
    nodeapi::ReplicaReport r = drbd::drbdReplicaReport(uuid, h.size_bytes, state.resource(h.spec.resource));
    if (auto e = errors_.find(uuid); e != errors_.end()) r.error = e->second;
    if (auto pool = pools_.find(h.pool); pool != pools_.end()) {
      r.snapshots = Reconciler::localSnapshots(*pool->second.provider, uuid);
    }
    if (auto f = failed_snapshots_.find(uuid); f != failed_snapshots_.end()) {
      r.failed_snapshots.assign(f->second.begin(), f->second.end());
    }
    // Suspended counts only once drained (nothing in flight towards or from a peer or the disk),
    // or once its copy is held here (taken drained; a later stale counter changes nothing).
    const std::string suspended = suspensions_.suspendedFor(uuid);
    if (!suspended.empty() && (contains(r.snapshots, suspended) || inFlightHere(h.spec.resource).empty())) {
      r.suspended_for = suspended;
    }
    out.push_back(std::move(r));
  }
  for (const auto& [uuid, message] : errors_) {
    if (held_.count(uuid) && held_.at(uuid).replica) continue;
    nodeapi::ReplicaReport r;
    r.volume_uuid = uuid;
    r.disk = nodeapi::DiskState::kFailed;
    r.error = message;
    out.push_back(std::move(r));
  }
  return out;
}

std::vector<nodeapi::AttachmentReport> DrbdVolumes::attachmentReports() const {
  std::lock_guard lock(mu_);
  std::vector<nodeapi::AttachmentReport> out;
  for (const auto& [uuid, h] : held_) {
    if (!h.attachment) continue;
    nodeapi::AttachmentReport a;
    a.volume_uuid = uuid;
    a.device_path = devicePath(h.spec.resource);
    a.health = nodeapi::DeviceHealth::kHealthy;
    if (auto e = attach_errors_.find(uuid); e != attach_errors_.end()) a.error = e->second;
    out.push_back(std::move(a));
  }
  for (const auto& [uuid, message] : attach_errors_) {
    if (held_.count(uuid)) continue;
    out.push_back(nodeapi::AttachmentReport{uuid, "", nodeapi::DeviceHealth::kBroken, false, message});
  }
  return out;
}

}  // namespace tandem::node
