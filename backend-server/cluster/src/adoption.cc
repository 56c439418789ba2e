#include "tandem/controller/adoption.h"

#include <algorithm>

#include "tandem/common/uuid.h"

namespace tandem::controller {

bool isValidBackingName(const std::string& name) {
  if (name.empty() || name.size() > 128 || name == "." || name == "..") return false;
  auto alnum = [](char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'); };
  if (!alnum(name[0])) return false;
  return std::all_of(name.begin(), name.end(), [&](char c) { return alnum(c) || c == '_' || c == '.' || c == '-'; });
}

Result<std::pair<VolumeRecord, ReplicaRecord>> planAdoption(const AdoptRequest& request, const AdoptionInput& in,
                                                            const ObservedState& observed, const std::string& uuid,
                                                            int64_t created_at) {
  const std::string where = "volume '" + request.backing_name + "' of pool " + request.pool + " on node " + request.node;
  if (!isValidBackingName(request.backing_name)) {
    return Status(ErrorCode::kInvalidArgument,
                  "field 'backing_name' must match [A-Za-z0-9][A-Za-z0-9_.-]{0,127}, got '" +
                      request.backing_name.substr(0, 80) + "'")
        .withReason("invalid_field");
  }
  if (isUuid(request.backing_name)) {
    return Status(ErrorCode::kConflict, "backing " + where + " is named like Tandem's own backing volumes (a uuid)")
        .withReason("backing_managed");
  }
  for (const auto& v : in.volumes) {
    if (!v.adopting || v.adopted_from != request.backing_name) continue;
    for (const auto& r : in.replicas) {
      if (r.volume_uuid == v.uuid && r.node_name == request.node && r.pool_name == request.pool) {
        return Status(ErrorCode::kConflict, "backing " + where + " is being adopted by volume '" + v.name + "'")
            .withReason("backing_managed");
      }
    }
  }
  for (const auto& r : in.releases) {
    if (r.node_name == request.node && r.pool_name == request.pool && r.backing_name == request.backing_name) {
      return Status(ErrorCode::kConflict, "backing " + where + " is still being released by forgotten volume '" +
                                              r.volume_name + "'; retry when its node has let go of it")
          .withReason("backing_managed");
    }
  }
  if (std::none_of(in.nodes.begin(), in.nodes.end(), [&](const NodeRecord& n) { return n.name == request.node; })) {
    return Status(ErrorCode::kNotFound, "node '" + request.node + "' does not exist").withReason("node_not_found");
  }
  if (std::none_of(in.pools.begin(), in.pools.end(), [&](const PoolRecord& p) {
        return p.node_name == request.node && p.name == request.pool;
      })) {
    return Status(ErrorCode::kNotFound, "node '" + request.node + "' has no pool '" + request.pool + "'")
        .withReason("pool_not_found");
  }
  if (!in.group.pools.empty() &&
      std::find(in.group.pools.begin(), in.group.pools.end(), request.pool) == in.group.pools.end()) {
    return Status(ErrorCode::kUnprocessable,
                  "resource group '" + in.group.name + "' does not allow pool '" + request.pool + "'")
        .withReason("pool_not_allowed");
  }
  const NodeObservation* obs = observed.find(request.node);
  if (obs == nullptr || !obs->online) {
    return Status(ErrorCode::kConflict, "node '" + request.node + "' is offline: nothing can check its " + where)
        .withReason("node_offline");
  }
  const nodeapi::UnmanagedVolume* found = nullptr;
  for (const auto& p : obs->report.pools) {
    if (p.name != request.pool) continue;
    for (const auto& u : p.unmanaged) {
      if (u.name == request.backing_name) found = &u;
    }
  }
  if (found == nullptr) {
    return Status(ErrorCode::kNotFound, "node " + request.node + " reported no " + where.substr(7) +
                                            " that Tandem does not manage (a file pool's backing is <dir>/" +
                                            request.backing_name + ".img)")
        .withReason("backing_not_found");
  }
  if (found->size_bytes == 0 || found->size_bytes % 512 != 0) {
    return Status(ErrorCode::kUnprocessable, "backing " + found->path + " has " + std::to_string(found->size_bytes) +
                                                 " bytes, not a positive multiple of 512")
        .withReason("invalid_backing_size");
  }
  VolumeRecord volume;
  volume.uuid = uuid;
  volume.name = request.name;
  volume.size_bytes = found->size_bytes;
  volume.group = in.group.name;
  volume.primary_node = request.node;
  volume.epoch = 1;
  volume.created_at = created_at;
  volume.adopted_from = request.backing_name;
  volume.adopting = true;
  return std::make_pair(volume, ReplicaRecord{uuid, request.node, request.pool, true, "", false});
}

bool sameAdoption(const VolumeRecord& volume, const std::vector<ReplicaRecord>& replicas, const AdoptRequest& request) {
  if (volume.adopted_from != request.backing_name || volume.group != request.group) return false;
  return std::any_of(replicas.begin(), replicas.end(), [&](const ReplicaRecord& r) {
    return r.node_name == request.node && r.pool_name == request.pool && r.node_name == volume.primary_node;
  });
}

std::string releaseName(const VolumeRecord& volume) {
  if (!volume.adopted_from.empty()) return volume.adopted_from;
  return isUuid(volume.name) ? "forgotten-" + volume.name : volume.name;
}

std::string releasedPath(const VolumeRecord& volume, const std::string& backing_name, const ObservedState& observed) {
  const ReplicaReport* report = observed.replicaReport(volume.primary_node, volume.uuid);
  if (report == nullptr || report->backing_path.empty()) return "";
  std::string path = report->backing_path;
  const size_t at = path.rfind(volume.uuid);
  if (at == std::string::npos) return "";
  return path.replace(at, volume.uuid.size(), backing_name);
}

}  // namespace tandem::controller
