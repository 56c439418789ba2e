#include "tandem/node/reconciler.h"

#include <unistd.h>

#include <filesystem>
#include <set>

#include "tandem/common/log.h"
#include "tandem/common/uuid.h"
#include "tandem/json/writer.h"

namespace tandem::node {
namespace {

// The controller's (snake_case) names of the engine's states.
const char* reportName(replication::DiskState s) {
  switch (s) {
    case replication::DiskState::kUpToDate: return "up_to_date";
    case replication::DiskState::kInconsistent: return "inconsistent";
    case replication::DiskState::kOutdated: return "outdated";
  }
  return "outdated";
}

const char* reportName(replication::PeerState s) {
  switch (s) {
    case replication::PeerState::kConnecting: return "connecting";
    case replication::PeerState::kSyncing: return "syncing";
    case replication::PeerState::kUpToDate: return "up_to_date";
    case replication::PeerState::kDisconnected: return "disconnected";
    case replication::PeerState::kSplitBrain: return "split_brain";
  }
  return "disconnected";
}

replication::VolumeConfig engineConfig(const DesiredReplica& d) {
  replication::VolumeConfig config;
  config.volume_uuid = d.volume_uuid;
  config.name = d.volume_name;
  config.size_bytes = d.size_bytes;
  config.primary = d.primary;
  config.epoch = d.epoch;
  config.quorum = d.quorum;
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

std::string Reconciler::clusterId() {
  std::lock_guard lock(mu_);
  return options_.cluster_id;
}

Status Reconciler::apply(const DesiredState& desired) {
  std::lock_guard lock(mu_);
  if (options_.cluster_id.empty()) options_.cluster_id = desired.cluster_id;
  if (options_.cluster_id != desired.cluster_id) {
    // A different (or reset) controller: change nothing, and above all delete nothing.
    Status s(ErrorCode::kConflict, "desired state is from cluster " + desired.cluster_id +
                                       " but this node belongs to " + options_.cluster_id + ": ignoring it");
    log::error("reconcile", s.message());
    return s;
  }
  std::set<std::string> wanted;
  for (const auto& d : desired.replicas) wanted.insert(d.volume_uuid);

  // First everything local that is not wanted goes — replicas the engine holds and backing
  // volumes left from before a restart (named by uuid) — so that a volume re-created under the
  // same name finds its export name free.
  std::set<std::string> unwanted;
  for (const auto& [uuid, _] : active_) {
    if (!wanted.count(uuid)) unwanted.insert(uuid);
  }
  for (auto& [name, pool] : pools_) {
    auto list = pool.provider->list();
    if (!list.isOk()) continue;
    for (const auto& v : *list) {
      if (!v.is_snapshot && isUuid(v.name) && !wanted.count(v.name)) unwanted.insert(v.name);
    }
  }
  Status first;
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
    Status s = ensureReplica(d);
    if (s.isOk()) {
      errors_.erase(d.volume_uuid);
    } else {
      log::error("reconcile", "volume " + d.volume_name + ": " + s.toString());
      errors_[d.volume_uuid] = s.message();
      if (first.isOk()) first = s;
    }
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

  auto active = active_.find(d.volume_uuid);
  if (active == active_.end()) {
    auto info = provider.info(d.volume_uuid);
    replication::VolumeConfig config = engineConfig(d);
    config.new_device = info.status().code() == ErrorCode::kNotFound;  // binds the engine's metadata to it
    if (config.new_device) {
      RETURN_IF_ERROR(provider.create(d.volume_uuid, d.size_bytes,
                                      d.thin ? devices::Provisioning::kThin : devices::Provisioning::kThick)
                          .withContext("create backing volume in pool " + d.pool));
      log::info("reconcile", "created backing volume for " + d.volume_name + " in pool " + d.pool);
    } else if (!info.isOk()) {
      return info.status();
    } else if (info->size_bytes != d.size_bytes) {
      return Status(ErrorCode::kConflict, "backing volume has " + std::to_string(info->size_bytes) +
                                              " bytes, desired " + std::to_string(d.size_bytes));
    }
    ASSIGN_OR_RETURN(std::unique_ptr<devices::BlockDevice> device, provider.open(d.volume_uuid));
    RETURN_IF_ERROR(engine_.addVolume(config, std::shared_ptr<devices::BlockDevice>(std::move(device)),
                                      metadataPath(d.volume_uuid)));
    active = active_.emplace(d.volume_uuid, d).first;
  } else if (!(active->second == d)) {
    RETURN_IF_ERROR(engine_.updateVolume(engineConfig(d)));
    if (active->second.primary && (!d.primary || active->second.volume_name != d.volume_name)) {
      unexport(active->second.volume_name);
    }
    active->second = d;
  }
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
    Status s = pool.provider->remove(uuid);
    if (s.isOk()) {
      log::info("reconcile", "deleted replica " + uuid + " from pool " + name);
    } else if (s.code() != ErrorCode::kNotFound) {
      return s;
    }
  }
  RETURN_IF_ERROR(engine_.deleteMetadata(metadataPath(uuid)));
  return Status::ok();
}

void Reconciler::writePools(json::JsonWriter& w) {
  w.key("pools").beginArray();
  for (auto& [name, pool] : pools_) {
    auto caps = pool.provider->capabilities();
    auto cap = pool.provider->capacity();
    w.beginObject().field("name", name).field("provider", caps.provider);
    w.field("thin", caps.thin).field("snapshots", caps.snapshots);
    w.field("total_bytes", cap.isOk() ? cap->total_bytes : uint64_t{0});
    w.field("free_bytes", cap.isOk() ? cap->free_bytes : uint64_t{0});
    w.field("provisioned_bytes", cap.isOk() ? cap->provisioned_bytes : uint64_t{0});
    w.endObject();
  }
  w.endArray();
}

std::string Reconciler::reportJson() {
  std::lock_guard lock(mu_);
  json::JsonWriter w;
  w.beginObject().field("applied_generation", applied_generation_);
  writePools(w);
  w.key("replicas").beginArray();
  std::set<std::string> reported;
  for (const auto& v : engine_.status()) {
    reported.insert(v.volume_uuid);
    w.beginObject().field("volume_uuid", v.volume_uuid);
    w.field("disk", reportName(v.disk)).field("primary", v.primary).field("generation", v.generation);
    auto err = errors_.find(v.volume_uuid);
    if (err != errors_.end()) w.field("error", err->second);
    w.key("peers").beginArray();
    for (const auto& p : v.peers) {
      w.beginObject().field("node", p.node).field("state", reportName(p.state));
      w.field("sync_done_bytes", p.sync_done_bytes).field("sync_total_bytes", p.sync_total_bytes).endObject();
    }
    w.endArray().endObject();
  }
  for (const auto& [uuid, message] : errors_) {
    if (reported.count(uuid)) continue;
    w.beginObject().field("volume_uuid", uuid).field("disk", "failed").field("error", message).endObject();
  }
  w.endArray().endObject();
  return w.str();
}

}  // namespace tandem::node
