#include "tandem/controller/cluster_service.h"

#include <algorithm>
#include <optional>

#include "tandem/common/log.h"
#include "tandem/common/uuid.h"
#include "tandem/controller/placement.h"
#include "tandem/controller/tokens.h"

namespace tandem::controller {
namespace {

int64_t unixSeconds(std::chrono::system_clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
}

// The replicas of each volume, by volume uuid (pointers into `replicas`).
std::unordered_map<std::string, std::vector<const ReplicaRecord*>> replicasByVolume(
    const std::vector<ReplicaRecord>& replicas) {
  std::unordered_map<std::string, std::vector<const ReplicaRecord*>> out;
  for (const auto& r : replicas) out[r.volume_uuid].push_back(&r);
  return out;
}

bool sameGroup(const GroupRecord& a, const GroupRecord& b) {
  return a.replicas == b.replicas && a.engine == b.engine && a.thin == b.thin && a.pools == b.pools &&
         a.replicas_on_different == b.replicas_on_different && a.overprovision == b.overprovision &&
         a.quorum == b.quorum;
}

}  // namespace

ClusterService::ClusterService(Store& store, Clock& clock, ClusterOptions options)
    : store_(store), clock_(clock), options_(options), started_(clock.steadyNow()) {}

ClusterService::~ClusterService() {
  std::vector<Watcher> pending;
  {
    std::lock_guard lock(watch_mu_);
    pending.swap(watchers_);
  }
  for (auto& w : pending) w.done(Status(ErrorCode::kUnavailable, "controller is shutting down"));
}

Result<RegisterNodeResult> ClusterService::registerNode(const RegisterNodeRequest& request) {
  std::lock_guard lock(mu_);
  RegisterNodeResult result;
  auto existing = store_.getNode(request.name);
  if (existing.isOk()) {
    if (request.uuid != existing->uuid) {
      return Status(ErrorCode::kAlreadyExists,
                    "node '" + request.name + "' is already registered with another identity (uuid " +
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
  for (const auto& p : request.pools) pools.push_back(PoolRecord{request.name, p.name, p.provider, p.thin, p.snapshots});
  RETURN_IF_ERROR(store_.upsertNode(result.node, pools));

  Observed& obs = observed_[request.name];
  obs.online = true;
  obs.last_seen = clock_.steadyNow();
  obs.last_seen_wall = unixSeconds(clock_.wallNow());
  obs.report.pools = request.pools;
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

Status ClusterService::reportStatus(const std::string& name, NodeStatusReport report) {
  RETURN_IF_ERROR(store_.getNode(name).status());
  std::lock_guard lock(mu_);
  Observed& obs = observed_[name];
  if (!obs.online) log::info("cluster", "node " + name + " is online");
  obs.online = true;
  obs.last_seen = clock_.steadyNow();
  obs.last_seen_wall = unixSeconds(clock_.wallNow());
  obs.report = std::move(report);
  return Status::ok();
}

Status ClusterService::deleteNode(const std::string& name) {
  std::lock_guard lock(mu_);
  auto it = observed_.find(name);
  if (it != observed_.end() && it->second.online) {
    return Status(ErrorCode::kConflict, "node '" + name + "' is online; stop its node worker first")
        .withReason("node_online");
  }
  RETURN_IF_ERROR(store_.deleteNode(name));
  observed_.erase(name);
  log::info("cluster", "removed node " + name);
  return Status::ok();
}

Result<std::vector<NodeView>> ClusterService::listNodes() {
  ASSIGN_OR_RETURN(auto nodes, store_.listNodes());
  std::lock_guard lock(mu_);
  std::vector<NodeView> out;
  for (auto& n : nodes) {
    NodeView v;
    auto it = observed_.find(n.name);
    if (it != observed_.end()) {
      v.online = it->second.online;
      v.last_heartbeat = it->second.last_seen_wall;
      v.pools = it->second.report.pools;
    }
    v.node = std::move(n);
    out.push_back(std::move(v));
  }
  return out;
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
    auto it = observed_.find(p.node_name);
    if (it != observed_.end()) {
      v.node_online = it->second.online;
      for (const auto& r : it->second.report.pools) {
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

Result<std::pair<VolumeView, bool>> ClusterService::createVolume(const CreateVolumeRequest& request) {
  std::unique_lock lock(mu_);
  auto existing = store_.getVolume(request.name);
  if (existing.isOk()) {
    if (existing->size_bytes != request.size_bytes || existing->group != request.group) {
      return Status(ErrorCode::kAlreadyExists,
                    "volume '" + request.name + "' already exists with size " +
                        std::to_string(existing->size_bytes) + " bytes in resource group '" + existing->group +
                        "'")
          .withReason("volume_exists");
    }
    ASSIGN_OR_RETURN(auto views, viewsLocked(&request.name));
    return std::make_pair(views.at(0), false);
  }
  if (existing.status().code() != ErrorCode::kNotFound) return existing.status();
  ASSIGN_OR_RETURN(GroupRecord group, store_.getGroup(request.group));
  if (request.size_bytes == 0 || request.size_bytes % 512 != 0) {
    return Status(ErrorCode::kInvalidArgument, "size_bytes must be a positive multiple of 512")
        .withReason("invalid_field");
  }

  ASSIGN_OR_RETURN(auto candidates, candidatesLocked());
  PlacementRequest placement_request;
  placement_request.size_bytes = request.size_bytes;
  placement_request.replicas = group.replicas;
  placement_request.allowed_pools = group.pools;
  placement_request.thin = group.thin;
  placement_request.overprovision = group.overprovision;
  placement_request.spread_keys = group.replicas_on_different;
  auto placements = placeReplicas(placement_request, candidates);
  if (!placements.isOk()) {
    // Observed state is in memory: just after a controller (re)start, nodes that have not sent
    // their first heartbeat yet look absent. That is not the request's fault: ask to retry.
    std::set<std::string> unreported;
    for (const auto& c : candidates) {
      if (!observed_.count(c.node)) unreported.insert(c.node);
    }
    auto up_for = clock_.steadyNow() - started_;
    if (!unreported.empty() && up_for < options_.heartbeat_timeout) {
      return Status(ErrorCode::kUnavailable,
                    "the controller started " +
                        std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(up_for).count()) +
                        " ms ago and " + std::to_string(unreported.size()) +
                        " node(s) have not reported yet; retry in a few seconds (" + placements.status().message() +
                        ")")
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
  std::vector<ReplicaRecord> replicas;
  for (const auto& p : *placements) replicas.push_back(ReplicaRecord{volume.uuid, p.node, p.pool, true});
  RETURN_IF_ERROR(store_.createVolume(volume, replicas));
  log::info("cluster", "created volume " + volume.name + " (" + std::to_string(volume.size_bytes) +
                           " bytes) with primary " + volume.primary_node);
  ASSIGN_OR_RETURN(auto views, viewsLocked(&request.name));
  lock.unlock();
  notifyWatchers();
  return std::make_pair(views.at(0), true);
}

Result<std::vector<PoolCandidate>> ClusterService::candidatesLocked() {
  // A replica placed but not yet reported by its node is missing from the last report: a thick
  // one has not consumed its space yet and any one is missing from `provisioned`. Both are added
  // here, so that creates arriving between two heartbeats cannot overcommit a pool.
  ASSIGN_OR_RETURN(auto pools, store_.listPools());
  ASSIGN_OR_RETURN(auto node_records, store_.listNodes());
  ASSIGN_OR_RETURN(auto pending, pendingBytes());
  std::map<std::string, std::map<std::string, std::string>> labels;
  for (auto& n : node_records) labels[n.name] = std::move(n.labels);
  std::vector<PoolCandidate> candidates;
  for (const auto& p : pools) {
    PoolCandidate c;
    c.node = p.node_name;
    c.pool = p.name;
    c.node_labels = labels[p.node_name];
    auto it = observed_.find(p.node_name);
    if (it != observed_.end()) {
      c.node_online = it->second.online;
      for (const auto& r : it->second.report.pools) {
        if (r.name == p.name) {
          const PendingBytes& extra = pending[{p.node_name, p.name}];
          c.total_bytes = r.total_bytes;
          c.free_bytes = r.free_bytes > extra.thick ? r.free_bytes - extra.thick : 0;
          c.provisioned_bytes = r.provisioned_bytes + extra.provisioned;
        }
      }
    }
    candidates.push_back(std::move(c));
  }
  return candidates;
}

std::chrono::steady_clock::duration ClusterService::offlineFor(const std::string& node) const {
  auto it = observed_.find(node);
  if (it != observed_.end() && it->second.online) return std::chrono::steady_clock::duration::zero();
  auto since = it == observed_.end() ? started_ : std::max(started_, it->second.last_seen);
  return clock_.steadyNow() - since;
}

bool ClusterService::replaceLostReplicasLocked() {
  if (options_.replace_after.count() <= 0) return false;
  // Runs every tick: without a node silent for long enough, it costs one node listing.
  auto nodes = store_.listNodes();
  if (!nodes.isOk()) return false;
  std::set<std::string> lost_nodes;
  for (const auto& n : *nodes) {
    if (offlineFor(n.name) >= options_.replace_after) lost_nodes.insert(n.name);
  }
  if (lost_nodes.empty()) return false;
  auto volumes = store_.listVolumes();
  auto replicas = store_.listReplicas();
  auto groups = store_.listGroups();
  if (!volumes.isOk() || !replicas.isOk() || !groups.isOk()) return false;
  auto by_volume = replicasByVolume(*replicas);
  const ReportIndex reports = reportIndexLocked();
  // Read once per pass; each move below adds its replica to its target, as pendingBytes() would.
  std::optional<std::vector<PoolCandidate>> candidates;
  std::map<std::string, const GroupRecord*> group_by_name;
  for (const auto& g : *groups) group_by_name[g.name] = &g;
  std::map<std::string, std::map<std::string, std::string>> labels;
  for (const auto& n : *nodes) labels[n.name] = n.labels;
  auto warnOnce = [&](const std::string& key, const std::string& message) {
    if (heal_warned_.insert(key).second) log::warn("cluster", message);
  };

  bool changed = false;
  for (const auto& v : *volumes) {
    const std::vector<const ReplicaRecord*>& mine = by_volume[v.uuid];
    for (const ReplicaRecord* lost : mine) {
      if (lost->node_name == v.primary_node || !lost_nodes.count(lost->node_name)) continue;
      const std::string key = v.name + "/" + lost->node_name;
      // Only a primary that is online and up to date can seed a new replica; and while it still
      // counts the old one as up to date (the controller lost the node, the primary did not), the
      // replica is not lost at all.
      auto primary = observed_.find(v.primary_node);
      const ReplicaReport* report = primary != observed_.end() && primary->second.online
                                        ? findReport(reports, v.primary_node, v.uuid)
                                        : nullptr;
      if (report == nullptr || report->disk != "up_to_date" || !report->error.empty()) {
        warnOnce(key + ":primary", "volume " + v.name + ": cannot replace the replica on offline node " +
                                       lost->node_name + ": its primary " + v.primary_node +
                                       " is not online and up to date (no failover yet)");
        continue;
      }
      bool peer_up = false;
      for (const auto& p : report->peers) peer_up = peer_up || (p.node == lost->node_name && p.state == "up_to_date");
      if (peer_up) continue;
      auto group = group_by_name.find(v.group);
      if (group == group_by_name.end()) continue;
      if (!candidates) {
        auto read = candidatesLocked();
        if (!read.isOk()) return changed;
        candidates = std::move(read).value();
      }
      PlacementRequest request;
      request.size_bytes = v.size_bytes;
      request.replicas = 1;
      request.allowed_pools = group->second->pools;
      request.thin = group->second->thin;
      request.overprovision = group->second->overprovision;
      request.spread_keys = group->second->replicas_on_different;
      for (const ReplicaRecord* r : mine) {
        request.exclude_nodes.push_back(r->node_name);
        if (r != lost) request.kept_labels.push_back(labels[r->node_name]);
      }
      auto placement = placeReplicas(request, *candidates);
      if (!placement.isOk()) {
        warnOnce(key + ":placement", "volume " + v.name + ": no node can take the replica lost with " +
                                         lost->node_name + ": " + placement.status().message());
        continue;
      }
      const Placement& target = placement->front();
      Status s = store_.replaceReplica(v.uuid, lost->node_name, ReplicaRecord{v.uuid, target.node, target.pool, true});
      if (!s.isOk()) {
        warnOnce(key + ":store", "volume " + v.name + ": replacing the replica on " + lost->node_name +
                                     " failed: " + s.message());
        continue;
      }
      log::warn("cluster", "volume " + v.name + ": node " + lost->node_name + " offline for over " +
                               std::to_string(options_.replace_after.count() / 1000) + " s; its replica is re-created on " +
                               target.node + "/" + target.pool + " and resynced from " + v.primary_node);
      for (auto& c : *candidates) {
        if (c.node != target.node || c.pool != target.pool) continue;
        c.provisioned_bytes += v.size_bytes;
        if (!group->second->thin) c.free_bytes = c.free_bytes > v.size_bytes ? c.free_bytes - v.size_bytes : 0;
      }
      heal_warned_.erase(key + ":placement");
      ++replicas_replaced_;
      changed = true;
      break;  // `mine` is stale now; the next tick handles any other lost replica of this volume
    }
  }
  return changed;
}

Result<std::map<std::pair<std::string, std::string>, ClusterService::PendingBytes>> ClusterService::pendingBytes() {
  ASSIGN_OR_RETURN(auto volumes, store_.listVolumes());
  ASSIGN_OR_RETURN(auto replicas, store_.listReplicas());
  ASSIGN_OR_RETURN(auto groups, store_.listGroups());
  std::map<std::string, bool> thin_group;
  for (const auto& g : groups) thin_group[g.name] = g.thin;
  std::map<std::string, const VolumeRecord*> by_uuid;
  for (const auto& v : volumes) by_uuid[v.uuid] = &v;
  const ReportIndex reports = reportIndexLocked();
  std::map<std::pair<std::string, std::string>, PendingBytes> pending;
  for (const auto& r : replicas) {
    auto v = by_uuid.find(r.volume_uuid);
    if (v == by_uuid.end() || !r.diskful) continue;
    if (findReport(reports, r.node_name, r.volume_uuid) != nullptr) continue;
    PendingBytes& p = pending[{r.node_name, r.pool_name}];
    p.provisioned += v->second->size_bytes;
    if (!thin_group[v->second->group]) p.thick += v->second->size_bytes;
  }
  return pending;
}

Result<VolumeView> ClusterService::getVolume(const std::string& name) {
  RETURN_IF_ERROR(store_.getVolume(name).status());
  std::lock_guard lock(mu_);
  ASSIGN_OR_RETURN(auto views, viewsLocked(&name));
  if (views.empty()) return Status(ErrorCode::kNotFound, "volume '" + name + "' does not exist").withReason("volume_not_found");
  return views.front();
}

Result<std::vector<VolumeView>> ClusterService::listVolumes() {
  std::lock_guard lock(mu_);
  return viewsLocked(nullptr);
}

Status ClusterService::deleteVolume(const std::string& name) {
  {
    std::lock_guard lock(mu_);
    RETURN_IF_ERROR(store_.deleteVolume(name));
  }
  log::info("cluster", "deleted volume " + name + "; nodes remove their replicas");
  notifyWatchers();
  return Status::ok();
}

Result<VolumeView> ClusterService::promoteVolume(const std::string& name, const std::string& node, bool force) {
  std::unique_lock lock(mu_);
  ASSIGN_OR_RETURN(VolumeRecord volume, store_.getVolume(name));
  auto conflict = [&](const std::string& reason, const std::string& message) {
    return Status(ErrorCode::kConflict, "cannot promote " + node + " for volume " + name + ": " + message)
        .withReason(reason);
  };
  ASSIGN_OR_RETURN(auto replicas, store_.listReplicasOf(volume.uuid));
  bool holds = std::any_of(replicas.begin(), replicas.end(), [&](const ReplicaRecord& r) {
    return r.node_name == node && r.diskful;
  });
  if (!holds) {
    return Status(ErrorCode::kUnprocessable, "node '" + node + "' holds no replica of volume '" + name + "'")
        .withReason("replica_not_found");
  }
  if (volume.primary_node != node) {
    auto observed = [&](const std::string& n) -> const Observed* {
      auto it = observed_.find(n);
      return it == observed_.end() ? nullptr : &it->second;
    };
    const Observed* old_primary = observed(volume.primary_node);
    if (old_primary != nullptr && old_primary->online) {
      return conflict("primary_online", "its primary " + volume.primary_node +
                                            " is online; promotion is for a primary whose node is gone");
    }
    const Observed* target = observed(node);
    if (target == nullptr || !target->online) return conflict("node_offline", "that node is offline");
    const ReplicaReport* own = nullptr;
    for (const auto& r : target->report.replicas) {
      if (r.volume_uuid == volume.uuid) own = &r;
    }
    if (own == nullptr || own->disk != "up_to_date" || !own->error.empty()) {
      // Never overridable: an inconsistent or failed copy is not the volume's data.
      return conflict("replica_not_up_to_date",
                      "its replica is " + (own == nullptr ? std::string("not reported") : own->disk) +
                          (own != nullptr && !own->error.empty() ? " (" + own->error + ")" : std::string()));
    }
    if (!force) {
      std::string unsafe;
      const ReplicaReport* last = nullptr;
      if (old_primary != nullptr) {
        for (const auto& r : old_primary->report.replicas) {
          if (r.volume_uuid == volume.uuid) last = &r;
        }
      }
      bool was_up = false;
      if (last != nullptr) {
        for (const auto& p : last->peers) was_up = was_up || (p.node == node && p.state == "up_to_date");
      }
      if (!was_up) {
        unsafe = last == nullptr ? "the controller has no report from the old primary since it started"
                                 : "the old primary's last report did not count this replica up to date";
      }
      for (const auto& r : replicas) {
        if (r.node_name == node || r.node_name == volume.primary_node || !unsafe.empty()) continue;
        const Observed* other = observed(r.node_name);
        if (other == nullptr || !other->online) continue;
        for (const auto& rep : other->report.replicas) {
          if (rep.volume_uuid == volume.uuid && rep.disk == "up_to_date" && rep.generation != own->generation) {
            unsafe = "the replica on " + r.node_name + " has another generation (" + rep.generation + " vs " +
                     own->generation + "): the copies diverged";
          }
        }
      }
      if (!unsafe.empty()) {
        return conflict("promotion_unsafe", unsafe + "; writes acknowledged only by the old primary could be "
                                                     "lost: pass force to promote anyway");
      }
    }
    RETURN_IF_ERROR(store_.setPrimary(volume.uuid, node, volume.epoch + 1));
    log::warn("cluster", "volume " + name + ": promoted " + node + " (epoch " + std::to_string(volume.epoch + 1) +
                             ") in place of " + volume.primary_node + (force ? " (forced)" : ""));
  }
  ASSIGN_OR_RETURN(auto views, viewsLocked(&name));
  lock.unlock();
  notifyWatchers();
  return views.at(0);
}

Result<std::vector<VolumeView>> ClusterService::viewsLocked(const std::string* only_name) {
  std::vector<VolumeRecord> volumes;
  std::vector<ReplicaRecord> replicas;
  if (only_name != nullptr) {
    // One volume: two indexed lookups instead of reading every volume and replica.
    auto volume = store_.getVolume(*only_name);
    if (!volume.isOk()) {
      if (volume.status().code() == ErrorCode::kNotFound) return std::vector<VolumeView>{};
      return volume.status();
    }
    ASSIGN_OR_RETURN(replicas, store_.listReplicasOf(volume->uuid));
    volumes.push_back(std::move(volume).value());
  } else {
    ASSIGN_OR_RETURN(volumes, store_.listVolumes());
    ASSIGN_OR_RETURN(replicas, store_.listReplicas());
  }
  ASSIGN_OR_RETURN(auto node_list, store_.listNodes());
  std::map<std::string, NodeRecord> nodes;
  for (auto& n : node_list) nodes[n.name] = n;
  auto by_volume = replicasByVolume(replicas);
  const ReportIndex reports = reportIndexLocked();
  std::vector<VolumeView> out;
  out.reserve(volumes.size());
  for (const auto& v : volumes) out.push_back(deriveView(v, by_volume[v.uuid], nodes, reports));
  return out;
}

ClusterService::ReportIndex ClusterService::reportIndexLocked() const {
  ReportIndex index;
  for (const auto& [node, obs] : observed_) {
    for (const auto& r : obs.report.replicas) index[node + '\n' + r.volume_uuid] = &r;
  }
  return index;
}

const ReplicaReport* ClusterService::findReport(const ReportIndex& index, const std::string& node,
                                                const std::string& uuid) {
  auto it = index.find(node + '\n' + uuid);
  return it == index.end() ? nullptr : it->second;
}

VolumeView ClusterService::deriveView(const VolumeRecord& volume, const std::vector<const ReplicaRecord*>& replicas,
                                      const std::map<std::string, NodeRecord>& nodes,
                                      const ReportIndex& reports) const {
  VolumeView view;
  view.volume = volume;
  auto reportOf = [&](const std::string& node) { return findReport(reports, node, volume.uuid); };
  auto online = [&](const std::string& node) {
    auto it = observed_.find(node);
    return it != observed_.end() && it->second.online;
  };
  const ReplicaReport* primary_report = online(volume.primary_node) ? reportOf(volume.primary_node) : nullptr;

  auto pn = nodes.find(volume.primary_node);
  if (pn != nodes.end()) {
    view.nbd_uri = "nbd://" + pn->second.address + ":" + std::to_string(pn->second.nbd_port) + "/" + volume.name;
  }

  int creating = 0, up = 0, syncing = 0, bad = 0;
  std::vector<std::string> problems;
  for (const ReplicaRecord* record : replicas) {
    const ReplicaRecord& r = *record;
    ReplicaView rv;
    rv.node = r.node_name;
    rv.pool = r.pool_name;
    rv.diskful = r.diskful;
    rv.primary = r.node_name == volume.primary_node;
    const ReplicaReport* own = reportOf(r.node_name);
    if (!online(r.node_name)) {
      rv.state = "offline";
      rv.reason = "node " + r.node_name + " is offline";
    } else if (own == nullptr) {
      rv.state = "creating";
    } else if (!own->error.empty()) {
      rv.state = "error";
      rv.reason = own->error;
    } else if (rv.primary) {
      rv.state = own->disk == "up_to_date" ? "up_to_date" : "outdated";
    } else if (primary_report != nullptr) {
      // The primary knows best whether a secondary has every write.
      rv.state = "outdated";
      for (const auto& p : primary_report->peers) {
        if (p.node != r.node_name) continue;
        if (p.state == "up_to_date") {
          rv.state = "up_to_date";
        } else if (p.state == "syncing") {
          rv.state = "syncing";
          rv.sync_progress = p.sync_total_bytes ? static_cast<double>(p.sync_done_bytes) / p.sync_total_bytes : 0;
        } else if (p.state == "connecting") {
          rv.state = own->disk == "inconsistent" ? "syncing" : "creating";
        }
      }
    } else {
      rv.state = own->disk == "inconsistent" ? "syncing" : "outdated";
      rv.reason = "primary " + volume.primary_node + " has not reported";
    }
    if (rv.state == "up_to_date") rv.sync_progress = 1.0;
    if (rv.state == "creating") ++creating;
    else if (rv.state == "up_to_date") ++up;
    else if (rv.state == "syncing") ++syncing;
    else {
      ++bad;
      problems.push_back(rv.node + ": " + rv.state + (rv.reason.empty() ? "" : " (" + rv.reason + ")"));
    }
    view.replicas.push_back(std::move(rv));
  }
  if (up == static_cast<int>(replicas.size()) && !replicas.empty()) {
    view.state = "available";
  } else if (creating > 0 && bad == 0 && syncing == 0) {
    view.state = "creating";
  } else if (syncing > 0 && bad == 0) {
    view.state = "resyncing";
  } else {
    view.state = "degraded";
    for (const auto& p : problems) view.reason += (view.reason.empty() ? "" : "; ") + p;
  }
  return view;
}

Result<DesiredState> ClusterService::desiredState(const std::string& node) {
  ASSIGN_OR_RETURN(uint64_t generation, store_.generation());
  ASSIGN_OR_RETURN(auto volumes, store_.listVolumes());
  ASSIGN_OR_RETURN(auto replicas, store_.listReplicas());
  ASSIGN_OR_RETURN(auto node_list, store_.listNodes());
  ASSIGN_OR_RETURN(auto group_list, store_.listGroups());
  std::map<std::string, NodeRecord> nodes;
  for (auto& n : node_list) nodes[n.name] = n;
  if (!nodes.count(node)) return Status(ErrorCode::kNotFound, "node '" + node + "' does not exist").withReason("node_not_found");
  std::map<std::string, const GroupRecord*> groups;
  for (const auto& g : group_list) groups[g.name] = &g;

  DesiredState state;
  state.generation = generation;
  state.cluster_id = store_.clusterId();
  state.node = node;
  auto by_volume = replicasByVolume(replicas);
  for (const auto& v : volumes) {
    const std::vector<const ReplicaRecord*>& of_volume = by_volume[v.uuid];
    const ReplicaRecord* mine = nullptr;
    for (const ReplicaRecord* r : of_volume) {
      if (r->node_name == node) mine = r;
    }
    if (mine == nullptr) continue;
    DesiredReplica d;
    d.volume = v;
    d.pool = mine->pool_name;
    auto group = groups.find(v.group);
    d.thin = group == groups.end() || group->second->thin;
    d.quorum = group != groups.end() && group->second->quorum;
    d.primary = v.primary_node == node;
    for (const ReplicaRecord* r : of_volume) {
      if (r->node_name == node || !r->diskful) continue;
      auto it = nodes.find(r->node_name);
      if (it == nodes.end()) continue;
      d.peers.push_back(DesiredPeer{r->node_name, it->second.address, it->second.replication_port});
    }
    state.replicas.push_back(std::move(d));
  }
  return state;
}

void ClusterService::watchDesiredState(const std::string& node, uint64_t after, std::chrono::milliseconds wait,
                                       std::function<void(Result<DesiredState>)> done) {
  auto generation = store_.generation();
  if (!generation.isOk()) return done(generation.status());
  if (*generation > after || wait.count() <= 0) return done(desiredState(node));
  {
    std::lock_guard lock(watch_mu_);
    watchers_.push_back(Watcher{node, after, clock_.steadyNow() + wait, std::move(done)});
  }
  // A change may have landed between reading the generation and registering.
  notifyWatchers();
}

void ClusterService::notifyWatchers() {
  auto generation = store_.generation();
  auto now = clock_.steadyNow();
  std::vector<Watcher> ready;
  {
    std::lock_guard lock(watch_mu_);
    auto keep = watchers_.begin();
    for (auto it = watchers_.begin(); it != watchers_.end(); ++it) {
      bool fire = !generation.isOk() || *generation > it->after || now >= it->deadline;
      if (fire) {
        ready.push_back(std::move(*it));
      } else {
        if (keep != it) *keep = std::move(*it);
        ++keep;
      }
    }
    watchers_.erase(keep, watchers_.end());
  }
  for (auto& w : ready) w.done(desiredState(w.node));
}

void ClusterService::tick() {
  {
    std::lock_guard lock(mu_);
    auto now = clock_.steadyNow();
    for (auto& [name, obs] : observed_) {
      if (obs.online && now - obs.last_seen > options_.heartbeat_timeout) {
        obs.online = false;
        log::warn("cluster", "node " + name + " missed its heartbeats: offline");
      }
    }
    replaceLostReplicasLocked();
  }
  notifyWatchers();
}

}  // namespace tandem::controller
