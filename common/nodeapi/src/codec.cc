#include "tandem/nodeapi/codec.h"

#include "tandem/common/object_name.h"
#include "tandem/common/uuid.h"
#include "tandem/json/object_reader.h"
#include "tandem/json/writer.h"

namespace tandem::nodeapi {
namespace {

using json::JsonWriter;
using json::ObjectReader;

Status invalid(const std::string& message) {
  return Status(ErrorCode::kInvalidArgument, message).withReason("invalid_field");
}

Result<std::string> requiredName(const ObjectReader& r, const std::string& path, const char* field) {
  ASSIGN_OR_RETURN(std::string name, r.requiredString(field));
  if (!isValidObjectName(name)) {
    return invalid("field '" + path + field + "' must match [A-Za-z0-9][A-Za-z0-9_.-]{0,63}, got '" +
                   name.substr(0, 80) + "'");
  }
  return name;
}

Result<uint16_t> requiredPort(const ObjectReader& r, const std::string& path, const char* field,
                              uint64_t lowest) {
  ASSIGN_OR_RETURN(uint64_t port, r.requiredUint64(field));
  if (port < lowest || port > 65535) {
    return invalid("field '" + path + field + "' must be a port (" + std::to_string(lowest) + "-65535)");
  }
  return static_cast<uint16_t>(port);
}

// Node labels: at most 32, keys and values following the object-name rule.
Result<std::map<std::string, std::string>> readLabels(const ObjectReader& r) {
  ASSIGN_OR_RETURN(auto labels, r.optionalStringMap("labels"));
  if (labels.size() > 32) return invalid("field 'labels' has more than 32 labels");
  for (const auto& [key, value] : labels) {
    if (!isValidObjectName(key)) {
      return invalid("field 'labels' has an invalid key '" + key.substr(0, 80) +
                     "' (keys must match [A-Za-z0-9][A-Za-z0-9_.-]{0,63})");
    }
    if (!isValidObjectName(value)) {
      return invalid("field 'labels." + key + "' has an invalid value '" + value.substr(0, 80) +
                     "' (values must match [A-Za-z0-9][A-Za-z0-9_.-]{0,63})");
    }
  }
  return labels;
}

Result<DrbdCapabilityReport> readDrbdCapability(const rapidjson::Value& v) {
  if (!v.IsObject()) return invalid("field 'drbd' must be an object");
  ObjectReader r(v, "drbd.");
  RETURN_IF_ERROR(r.rejectUnknownFields({"loaded", "version", "reason"}));
  DrbdCapabilityReport d;
  ASSIGN_OR_RETURN(auto loaded, r.optionalBool("loaded"));
  d.loaded = loaded.value_or(false);
  if (r.has("version") && !v["version"].IsNull()) {
    ASSIGN_OR_RETURN(d.version, r.requiredString("version"));
  }
  ASSIGN_OR_RETURN(auto reason, r.optionalString("reason"));
  d.reason = reason.value_or("");
  if (d.loaded && d.version.rfind("9.", 0) != 0) {
    return invalid("field 'drbd.version' must be a 9.x version when 'drbd.loaded' is true");
  }
  if (!d.loaded && d.reason.empty()) return invalid("field 'drbd.reason' must say why DRBD is not loaded");
  return d;
}

void writeDrbd(JsonWriter& w, const DesiredDrbd& d) {
  w.key("drbd").beginObject().field("resource", d.resource).field("minor", uint64_t{d.minor});
  w.field("shared_secret", d.shared_secret).field("max_peers", uint64_t{d.max_peers});
  w.key("hosts").beginArray();
  for (const auto& h : d.hosts) {
    w.beginObject().field("node", h.node).field("address", h.address).field("port", uint64_t{h.port});
    w.field("node_id", uint64_t{h.node_id}).field("diskful", h.diskful).endObject();
  }
  w.endArray().endObject();
}

Result<std::optional<DesiredDrbd>> readDrbd(const rapidjson::Value& parent, const std::string& path) {
  if (!parent.HasMember("drbd")) return std::optional<DesiredDrbd>{};
  const rapidjson::Value& v = parent["drbd"];
  if (!v.IsObject()) return invalid("field '" + path + "drbd' must be an object");
  const std::string here = path + "drbd.";
  ObjectReader r(v, here);
  DesiredDrbd d;
  ASSIGN_OR_RETURN(d.resource, requiredName(r, here, "resource"));
  ASSIGN_OR_RETURN(auto minor, r.requiredUint64("minor"));
  if (minor > 1048575) return invalid("field '" + here + "minor' must be at most 1048575");
  d.minor = static_cast<uint32_t>(minor);
  ASSIGN_OR_RETURN(d.shared_secret, r.requiredString("shared_secret"));
  ASSIGN_OR_RETURN(auto max_peers, r.requiredUint64("max_peers"));
  if (max_peers < 1 || max_peers > 31) return invalid("field '" + here + "max_peers' must be 1..31");
  d.max_peers = static_cast<uint32_t>(max_peers);
  ASSIGN_OR_RETURN(auto hosts, r.optionalObjectArray("hosts"));
  for (size_t i = 0; i < hosts.size(); ++i) {
    const std::string hp = here + "hosts[" + std::to_string(i) + "].";
    ObjectReader hr(*hosts[i], hp);
    DesiredDrbdHost h;
    ASSIGN_OR_RETURN(h.node, requiredName(hr, hp, "node"));
    ASSIGN_OR_RETURN(h.address, hr.requiredString("address"));
    ASSIGN_OR_RETURN(h.port, requiredPort(hr, hp, "port", 1));
    ASSIGN_OR_RETURN(auto node_id, hr.requiredUint64("node_id"));
    if (node_id > 31) return invalid("field '" + hp + "node_id' must be 0..31");
    h.node_id = static_cast<uint32_t>(node_id);
    ASSIGN_OR_RETURN(auto diskful, hr.optionalBool("diskful"));
    h.diskful = diskful.value_or(true);
    d.hosts.push_back(std::move(h));
  }
  return std::optional<DesiredDrbd>{std::move(d)};
}

Result<PoolReport> readPool(const rapidjson::Value& v, size_t index) {
  const std::string path = "pools[" + std::to_string(index) + "].";
  ObjectReader r(v, path);
  RETURN_IF_ERROR(r.rejectUnknownFields(
      {"name", "provider", "thin", "snapshots", "total_bytes", "free_bytes", "provisioned_bytes", "unmanaged"}));
  PoolReport p;
  ASSIGN_OR_RETURN(p.name, requiredName(r, path, "name"));
  ASSIGN_OR_RETURN(p.provider, r.requiredString("provider"));
  ASSIGN_OR_RETURN(auto thin, r.optionalBool("thin"));
  ASSIGN_OR_RETURN(auto snapshots, r.optionalBool("snapshots"));
  ASSIGN_OR_RETURN(p.total_bytes, r.requiredUint64("total_bytes"));
  ASSIGN_OR_RETURN(p.free_bytes, r.requiredUint64("free_bytes"));
  if (p.free_bytes > p.total_bytes) return invalid("field '" + path + "free_bytes' exceeds total_bytes");
  ASSIGN_OR_RETURN(auto provisioned, r.optionalUint64("provisioned_bytes"));
  p.thin = thin.value_or(false);
  p.snapshots = snapshots.value_or(false);
  p.provisioned_bytes = provisioned.value_or(0);
  ASSIGN_OR_RETURN(auto unmanaged, r.optionalObjectArray("unmanaged"));
  for (size_t j = 0; j < unmanaged.size(); ++j) {
    const std::string upath = path + "unmanaged[" + std::to_string(j) + "].";
    ObjectReader u(*unmanaged[j], upath);
    RETURN_IF_ERROR(u.rejectUnknownFields({"name", "size_bytes", "path"}));
    UnmanagedVolume volume;
    ASSIGN_OR_RETURN(volume.name, u.requiredString("name"));
    ASSIGN_OR_RETURN(volume.size_bytes, u.requiredUint64("size_bytes"));
    ASSIGN_OR_RETURN(auto where, u.optionalString("path"));
    volume.path = where.value_or("");
    p.unmanaged.push_back(std::move(volume));
  }
  return p;
}

Result<std::vector<PoolReport>> readPools(const ObjectReader& r) {
  ASSIGN_OR_RETURN(auto items, r.optionalObjectArray("pools"));
  std::vector<PoolReport> pools;
  for (size_t i = 0; i < items.size(); ++i) {
    ASSIGN_OR_RETURN(PoolReport p, readPool(*items[i], i));
    pools.push_back(std::move(p));
  }
  return pools;
}

void writePools(JsonWriter& w, const std::vector<PoolReport>& pools) {
  w.key("pools").beginArray();
  for (const auto& p : pools) {
    w.beginObject().field("name", p.name).field("provider", p.provider);
    w.field("thin", p.thin).field("snapshots", p.snapshots);
    w.field("total_bytes", p.total_bytes).field("free_bytes", p.free_bytes);
    w.field("provisioned_bytes", p.provisioned_bytes);
    if (!p.unmanaged.empty()) {
      w.key("unmanaged").beginArray();
      for (const auto& u : p.unmanaged) {
        w.beginObject().field("name", u.name).field("size_bytes", u.size_bytes).field("path", u.path).endObject();
      }
      w.endArray();
    }
    w.endObject();
  }
  w.endArray();
}

Result<PeerReport> readPeerReport(const rapidjson::Value& v, const std::string& path) {
  ObjectReader r(v, path);
  PeerReport peer;
  ASSIGN_OR_RETURN(peer.node, r.requiredString("node"));
  ASSIGN_OR_RETURN(std::string state, r.requiredString("state"));
  peer.state = peerStateNamed(state).value_or(PeerState::kDisconnected);
  ASSIGN_OR_RETURN(auto done, r.optionalUint64("sync_done_bytes"));
  ASSIGN_OR_RETURN(auto total, r.optionalUint64("sync_total_bytes"));
  peer.sync_done_bytes = done.value_or(0);
  peer.sync_total_bytes = total.value_or(0);
  return peer;
}

// An array of strings, left out when empty (older readers never see it).
void writeNames(JsonWriter& w, const char* key, const std::vector<std::string>& names) {
  if (names.empty()) return;
  w.key(key).beginArray();
  for (const auto& n : names) w.string(n);
  w.endArray();
}

Result<ReplicaReport> readReplicaReport(const rapidjson::Value& v, const std::string& path) {
  ObjectReader r(v, path);
  ReplicaReport rep;
  ASSIGN_OR_RETURN(rep.volume_uuid, r.requiredString("volume_uuid"));
  ASSIGN_OR_RETURN(auto disk, r.optionalString("disk"));
  if (disk) rep.disk = diskStateNamed(*disk).value_or(DiskState::kOutdated);
  ASSIGN_OR_RETURN(auto primary, r.optionalBool("primary"));
  ASSIGN_OR_RETURN(auto error, r.optionalString("error"));
  ASSIGN_OR_RETURN(auto generation, r.optionalString("generation"));
  rep.generation = generation.value_or("");
  rep.primary = primary.value_or(false);
  rep.error = error.value_or("");
  ASSIGN_OR_RETURN(auto peers, r.optionalObjectArray("peers"));
  for (size_t j = 0; j < peers.size(); ++j) {
    ASSIGN_OR_RETURN(PeerReport peer, readPeerReport(*peers[j], path + "peers[" + std::to_string(j) + "]."));
    rep.peers.push_back(std::move(peer));
  }
  ASSIGN_OR_RETURN(rep.snapshots, r.optionalStringArray("snapshots"));
  ASSIGN_OR_RETURN(rep.failed_snapshots, r.optionalStringArray("failed_snapshots"));
  ASSIGN_OR_RETURN(auto reverted, r.optionalString("reverted"));
  rep.reverted = reverted.value_or("");
  ASSIGN_OR_RETURN(auto allocated, r.optionalUint64("allocated_bytes"));
  rep.allocated_bytes = allocated.value_or(0);
  ASSIGN_OR_RETURN(auto backing_path, r.optionalString("backing_path"));
  rep.backing_path = backing_path.value_or("");
  ASSIGN_OR_RETURN(auto suspended_for, r.optionalString("suspended_for"));
  rep.suspended_for = suspended_for.value_or("");
  return rep;
}

Result<DesiredPeer> readDesiredPeer(const rapidjson::Value& v, const std::string& path) {
  ObjectReader r(v, path);
  DesiredPeer p;
  ASSIGN_OR_RETURN(p.node, r.requiredString("node"));
  ASSIGN_OR_RETURN(p.host, r.requiredString("host"));
  ASSIGN_OR_RETURN(p.port, requiredPort(r, path, "port", 0));
  return p;
}

Result<DesiredReplica> readDesiredReplica(const rapidjson::Value& v, const std::string& path) {
  ObjectReader r(v, path);
  DesiredReplica d;
  if (!r.has("volume") || !v["volume"].IsObject())
    return invalid("field '" + path + "volume' must be an object");
  ObjectReader vr(v["volume"], path + "volume.");
  ASSIGN_OR_RETURN(d.volume_name, vr.requiredString("name"));
  ASSIGN_OR_RETURN(d.volume_uuid, vr.requiredString("uuid"));
  if (!isUuid(d.volume_uuid)) return invalid("field '" + path + "volume.uuid' must be a UUID");
  ASSIGN_OR_RETURN(d.size_bytes, vr.requiredUint64("size_bytes"));
  ASSIGN_OR_RETURN(d.epoch, vr.requiredUint64("epoch"));
  ASSIGN_OR_RETURN(d.pool, r.requiredString("pool"));
  ASSIGN_OR_RETURN(auto thin, r.optionalBool("thin"));
  ASSIGN_OR_RETURN(auto quorum, r.optionalBool("quorum"));
  ASSIGN_OR_RETURN(auto primary, r.optionalBool("primary"));
  d.thin = thin.value_or(true);
  d.quorum = quorum.value_or(false);
  d.primary = primary.value_or(false);
  ASSIGN_OR_RETURN(auto discard, r.optionalString("discard_generation"));
  d.discard_generation = discard.value_or("");
  ASSIGN_OR_RETURN(auto peers, r.optionalObjectArray("peers"));
  for (size_t j = 0; j < peers.size(); ++j) {
    ASSIGN_OR_RETURN(DesiredPeer p, readDesiredPeer(*peers[j], path + "peers[" + std::to_string(j) + "]."));
    d.peers.push_back(std::move(p));
  }
  ASSIGN_OR_RETURN(d.snapshots, r.optionalStringArray("snapshots"));
  ASSIGN_OR_RETURN(d.take_snapshots, r.optionalStringArray("take_snapshots"));
  ASSIGN_OR_RETURN(auto clone_volume, r.optionalString("clone_volume"));
  ASSIGN_OR_RETURN(auto clone_snapshot, r.optionalString("clone_snapshot"));
  ASSIGN_OR_RETURN(auto from_primary, r.optionalBool("from_primary"));
  d.clone_volume = clone_volume.value_or("");
  d.clone_snapshot = clone_snapshot.value_or("");
  d.from_primary = from_primary.value_or(false);
  ASSIGN_OR_RETURN(auto revert_snapshot, r.optionalString("revert_snapshot"));
  ASSIGN_OR_RETURN(auto revert_id, r.optionalString("revert_id"));
  d.revert_snapshot = revert_snapshot.value_or("");
  d.revert_id = revert_id.value_or("");
  ASSIGN_OR_RETURN(auto adopt_from, r.optionalString("adopt_from"));
  d.adopt_from = adopt_from.value_or("");
  ASSIGN_OR_RETURN(d.drbd, readDrbd(v, path));
  ASSIGN_OR_RETURN(auto drbd_snapshot, r.optionalString("drbd_snapshot"));
  d.drbd_snapshot = drbd_snapshot.value_or("");
  ASSIGN_OR_RETURN(auto phase, r.optionalString("drbd_snapshot_phase"));
  if (phase) {
    auto named = snapshotPhaseNamed(*phase);
    if (!named) return invalid("field '" + path + "drbd_snapshot_phase' must be suspend, take or resume");
    d.drbd_snapshot_phase = *named;
  }
  return d;
}

Result<AttachmentReport> readAttachmentReport(const rapidjson::Value& v, const std::string& path) {
  ObjectReader r(v, path);
  RETURN_IF_ERROR(r.rejectUnknownFields({"volume_uuid", "device_path", "health", "busy", "error"}));
  AttachmentReport a;
  ASSIGN_OR_RETURN(a.volume_uuid, r.requiredString("volume_uuid"));
  ASSIGN_OR_RETURN(auto device_path, r.optionalString("device_path"));
  ASSIGN_OR_RETURN(auto health, r.optionalString("health"));
  ASSIGN_OR_RETURN(auto busy, r.optionalBool("busy"));
  ASSIGN_OR_RETURN(auto error, r.optionalString("error"));
  a.device_path = device_path.value_or("");
  // A health this controller does not know (a newer node's) is read as not usable.
  a.health = health ? deviceHealthNamed(*health).value_or(DeviceHealth::kBroken) : DeviceHealth::kAbsent;
  a.busy = busy.value_or(false);
  a.error = error.value_or("");
  return a;
}

Result<DesiredAttachment> readDesiredAttachment(const rapidjson::Value& v, const std::string& path) {
  ObjectReader r(v, path);
  DesiredAttachment a;
  ASSIGN_OR_RETURN(a.volume_name, requiredName(r, path, "volume_name"));
  ASSIGN_OR_RETURN(a.volume_uuid, r.requiredString("volume_uuid"));
  if (!isUuid(a.volume_uuid)) return invalid("field '" + path + "volume_uuid' must be a UUID");
  ASSIGN_OR_RETURN(a.size_bytes, r.requiredUint64("size_bytes"));
  ASSIGN_OR_RETURN(a.nbd_host, r.requiredString("nbd_host"));
  ASSIGN_OR_RETURN(a.nbd_port, requiredPort(r, path, "nbd_port", 0));
  ASSIGN_OR_RETURN(a.nbd_export, r.requiredString("nbd_export"));
  ASSIGN_OR_RETURN(auto here, r.optionalBool("primary_here"));
  a.primary_here = here.value_or(false);
  ASSIGN_OR_RETURN(a.drbd, readDrbd(v, path));
  ASSIGN_OR_RETURN(auto nbd, r.optionalBool("nbd"));
  a.nbd = nbd.value_or(false);
  return a;
}

}  // namespace

std::string encodeRegistration(const Registration& g) {
  JsonWriter w;
  w.beginObject().field("name", g.name);
  if (!g.uuid.empty()) w.field("uuid", g.uuid);
  w.field("address", g.address).field("nbd_port", uint64_t{g.nbd_port});
  w.field("replication_port", uint64_t{g.replication_port});
  w.key("labels").beginObject();
  for (const auto& [key, value] : g.labels) w.field(key, value);
  w.endObject();
  writePools(w, g.pools);
  w.endObject();
  return w.str();
}

Result<Registration> decodeRegistration(std::string_view json) {
  ASSIGN_OR_RETURN(auto doc, json::parseObject(json));
  ObjectReader r(doc);
  RETURN_IF_ERROR(
      r.rejectUnknownFields({"name", "uuid", "address", "nbd_port", "replication_port", "labels", "pools"}));
  Registration g;
  ASSIGN_OR_RETURN(g.name, requiredName(r, "", "name"));
  ASSIGN_OR_RETURN(auto uuid, r.optionalString("uuid"));
  g.uuid = uuid.value_or("");
  ASSIGN_OR_RETURN(g.address, r.requiredString("address"));
  if (g.address.empty() || g.address.size() > 255)
    return invalid("field 'address' must be a host name or IP");
  ASSIGN_OR_RETURN(g.nbd_port, requiredPort(r, "", "nbd_port", 1));
  ASSIGN_OR_RETURN(g.replication_port, requiredPort(r, "", "replication_port", 1));
  ASSIGN_OR_RETURN(g.labels, readLabels(r));
  ASSIGN_OR_RETURN(g.pools, readPools(r));
  return g;
}

std::string encodeRegistrationReply(const RegistrationReply& reply, std::string_view node_view_json) {
  JsonWriter w;
  w.beginObject().key("node").raw(node_view_json);
  w.field("token", reply.token).field("cluster_id", reply.cluster_id).endObject();
  return w.str();
}

Result<RegistrationReply> decodeRegistrationReply(std::string_view json) {
  ASSIGN_OR_RETURN(auto doc, json::parseObject(json));
  ObjectReader r(doc);
  RegistrationReply reply;
  ASSIGN_OR_RETURN(reply.token, r.requiredString("token"));
  ASSIGN_OR_RETURN(reply.cluster_id, r.requiredString("cluster_id"));
  if (!r.has("node") || !doc["node"].IsObject()) return invalid("field 'node' must be an object");
  ASSIGN_OR_RETURN(reply.node_uuid, ObjectReader(doc["node"], "node.").requiredString("uuid"));
  if (!isUuid(reply.node_uuid)) return invalid("field 'node.uuid' must be a UUID");
  return reply;
}

std::string encodeStatusReport(const StatusReport& report) {
  JsonWriter w;
  w.beginObject();
  if (report.report_seq != 0) w.field("report_seq", report.report_seq);
  if (report.liveness_only) {
    w.field("liveness_only", true).field("report_error", report.report_error).endObject();
    return w.str();
  }
  if (report.base_seq != 0) {
    w.field("base_seq", report.base_seq);
    w.key("removed_replicas").beginArray();
    for (const auto& uuid : report.removed_replicas) w.string(uuid);
    w.endArray();
  }
  w.field("applied_generation", report.applied_generation);
  writePools(w, report.pools);
  w.key("replicas").beginArray();
  for (const auto& r : report.replicas) {
    w.beginObject().field("volume_uuid", r.volume_uuid).field("disk", name(r.disk));
    w.field("primary", r.primary).field("generation", r.generation);
    if (!r.error.empty()) w.field("error", r.error);
    w.key("peers").beginArray();
    for (const auto& p : r.peers) {
      w.beginObject().field("node", p.node).field("state", name(p.state));
      w.field("sync_done_bytes", p.sync_done_bytes).field("sync_total_bytes", p.sync_total_bytes).endObject();
    }
    w.endArray();
    writeNames(w, "snapshots", r.snapshots);
    writeNames(w, "failed_snapshots", r.failed_snapshots);
    if (!r.reverted.empty()) w.field("reverted", r.reverted);
    w.field("allocated_bytes", r.allocated_bytes);
    if (!r.backing_path.empty()) w.field("backing_path", r.backing_path);
    if (!r.suspended_for.empty()) w.field("suspended_for", r.suspended_for);
    w.endObject();
  }
  w.endArray();
  w.key("attachments").beginArray();
  for (const auto& a : report.attachments) {
    w.beginObject().field("volume_uuid", a.volume_uuid).field("device_path", a.device_path);
    w.field("health", name(a.health)).field("busy", a.busy);
    if (!a.error.empty()) w.field("error", a.error);
    w.endObject();
  }
  w.endArray();
  if (!report.nbd_socket.empty()) w.field("nbd_socket", report.nbd_socket);
  if (!report.device_link_root.empty()) w.field("device_link_root", report.device_link_root);
  if (!report.no_block_devices.empty()) w.field("no_block_devices", report.no_block_devices);
  w.key("drbd").raw(encodeDrbdCapability(report.drbd));
  w.endObject();
  return w.str();
}

std::string encodeDrbdCapability(const DrbdCapabilityReport& drbd) {
  JsonWriter w;
  w.beginObject().field("loaded", drbd.loaded).key("version");
  if (drbd.version.empty()) {
    w.null();
  } else {
    w.string(drbd.version);
  }
  w.field("reason", drbd.reason).endObject();
  return w.str();
}

Result<StatusReport> decodeStatusReport(std::string_view json) {
  ASSIGN_OR_RETURN(auto doc, json::parseObject(json));
  ObjectReader r(doc);
  RETURN_IF_ERROR(r.rejectUnknownFields({"report_seq", "base_seq", "removed_replicas", "liveness_only",
                                          "report_error", "applied_generation", "pools", "replicas",
                                          "attachments", "nbd_socket", "device_link_root", "no_block_devices",
                                          "drbd"}));
  StatusReport report;
  ASSIGN_OR_RETURN(auto seq, r.optionalUint64("report_seq"));
  report.report_seq = seq.value_or(0);
  ASSIGN_OR_RETURN(auto liveness, r.optionalBool("liveness_only"));
  if (liveness.value_or(false)) {
    report.liveness_only = true;
    ASSIGN_OR_RETURN(auto error, r.optionalString("report_error"));
    report.report_error = error.value_or("");
    return report;
  }
  ASSIGN_OR_RETURN(auto base, r.optionalUint64("base_seq"));
  report.base_seq = base.value_or(0);
  if (report.base_seq != 0 && report.report_seq == 0) return invalid("field 'base_seq' needs a 'report_seq'");
  ASSIGN_OR_RETURN(report.removed_replicas, r.optionalStringArray("removed_replicas"));
  if (report.base_seq == 0 && !report.removed_replicas.empty()) {
    return invalid("field 'removed_replicas' belongs to a delta report (with 'base_seq')");
  }
  ASSIGN_OR_RETURN(auto gen, r.optionalUint64("applied_generation"));
  report.applied_generation = gen.value_or(0);
  ASSIGN_OR_RETURN(report.pools, readPools(r));
  ASSIGN_OR_RETURN(auto replicas, r.optionalObjectArray("replicas"));
  for (size_t i = 0; i < replicas.size(); ++i) {
    ASSIGN_OR_RETURN(ReplicaReport rep,
                     readReplicaReport(*replicas[i], "replicas[" + std::to_string(i) + "]."));
    report.replicas.push_back(std::move(rep));
  }
  ASSIGN_OR_RETURN(auto attachments, r.optionalObjectArray("attachments"));
  for (size_t i = 0; i < attachments.size(); ++i) {
    ASSIGN_OR_RETURN(AttachmentReport a,
                     readAttachmentReport(*attachments[i], "attachments[" + std::to_string(i) + "]."));
    report.attachments.push_back(std::move(a));
  }
  ASSIGN_OR_RETURN(auto socket, r.optionalString("nbd_socket"));
  report.nbd_socket = socket.value_or("");
  ASSIGN_OR_RETURN(auto link_root, r.optionalString("device_link_root"));
  report.device_link_root = link_root.value_or("");
  ASSIGN_OR_RETURN(auto no_block_devices, r.optionalString("no_block_devices"));
  report.no_block_devices = no_block_devices.value_or("");
  if (r.has("drbd")) {
    ASSIGN_OR_RETURN(report.drbd, readDrbdCapability(doc["drbd"]));
  }
  return report;
}

std::string encodeStatusAck(const StatusAck& ack) {
  JsonWriter w;
  w.beginObject().field("acknowledged", ack.acknowledged).field("send_full", ack.send_full).endObject();
  return w.str();
}

Result<StatusAck> decodeStatusAck(std::string_view json) {
  ASSIGN_OR_RETURN(auto doc, json::parseObject(json));
  ObjectReader r(doc);
  StatusAck ack;
  ASSIGN_OR_RETURN(ack.acknowledged, r.requiredUint64("acknowledged"));
  ASSIGN_OR_RETURN(auto full, r.optionalBool("send_full"));
  ack.send_full = full.value_or(false);
  return ack;
}

std::string encodeDesiredState(const DesiredState& s) {
  JsonWriter w;
  w.beginObject().field("generation", s.generation).field("cluster_id", s.cluster_id).field("node", s.node);
  w.key("replicas").beginArray();
  for (const auto& r : s.replicas) {
    w.beginObject();
    w.key("volume").beginObject().field("name", r.volume_name).field("uuid", r.volume_uuid);
    w.field("size_bytes", r.size_bytes).field("epoch", r.epoch).endObject();
    w.field("pool", r.pool).field("thin", r.thin).field("quorum", r.quorum).field("primary", r.primary);
    if (!r.discard_generation.empty()) w.field("discard_generation", r.discard_generation);
    w.key("peers").beginArray();
    for (const auto& p : r.peers) {
      w.beginObject().field("node", p.node).field("host", p.host).field("port", uint64_t{p.port}).endObject();
    }
    w.endArray();
    writeNames(w, "snapshots", r.snapshots);
    writeNames(w, "take_snapshots", r.take_snapshots);
    if (!r.clone_volume.empty()) w.field("clone_volume", r.clone_volume).field("clone_snapshot", r.clone_snapshot);
    if (r.from_primary) w.field("from_primary", true);
    if (!r.revert_id.empty()) w.field("revert_snapshot", r.revert_snapshot).field("revert_id", r.revert_id);
    if (!r.adopt_from.empty()) w.field("adopt_from", r.adopt_from);
    if (r.drbd) writeDrbd(w, *r.drbd);
    if (!r.drbd_snapshot.empty()) {
      w.field("drbd_snapshot", r.drbd_snapshot).field("drbd_snapshot_phase", name(r.drbd_snapshot_phase));
    }
    w.endObject();
  }
  w.endArray();
  w.key("attachments").beginArray();
  for (const auto& a : s.attachments) {
    w.beginObject().field("volume_name", a.volume_name).field("volume_uuid", a.volume_uuid);
    w.field("size_bytes", a.size_bytes).field("nbd_host", a.nbd_host).field("nbd_port", uint64_t{a.nbd_port});
    w.field("nbd_export", a.nbd_export).field("primary_here", a.primary_here);
    if (a.drbd) writeDrbd(w, *a.drbd);
    if (a.nbd) w.field("nbd", true);
    w.endObject();
  }
  w.endArray();
  w.key("force_detach").beginArray();
  for (const auto& name : s.force_detach) w.string(name);
  w.endArray();
  if (s.delta) {
    w.field("delta", true);
    writeNames(w, "covers", s.covers);
  }
  if (!s.release.empty()) {
    w.key("release").beginArray();
    for (const auto& r : s.release) {
      w.beginObject().field("volume_name", r.volume_name).field("volume_uuid", r.volume_uuid);
      w.field("pool", r.pool).field("backing_name", r.backing_name).endObject();
    }
    w.endArray();
  }
  w.endObject();
  return w.str();
}

Result<DesiredState> decodeDesiredState(std::string_view json) {
  ASSIGN_OR_RETURN(auto doc, json::parseObject(json));
  ObjectReader r(doc);
  DesiredState s;
  ASSIGN_OR_RETURN(s.generation, r.requiredUint64("generation"));
  ASSIGN_OR_RETURN(s.cluster_id, r.requiredString("cluster_id"));
  ASSIGN_OR_RETURN(s.node, r.requiredString("node"));
  ASSIGN_OR_RETURN(auto replicas, r.optionalObjectArray("replicas"));
  for (size_t i = 0; i < replicas.size(); ++i) {
    ASSIGN_OR_RETURN(DesiredReplica d,
                     readDesiredReplica(*replicas[i], "replicas[" + std::to_string(i) + "]."));
    s.replicas.push_back(std::move(d));
  }
  ASSIGN_OR_RETURN(auto attachments, r.optionalObjectArray("attachments"));
  for (size_t i = 0; i < attachments.size(); ++i) {
    ASSIGN_OR_RETURN(DesiredAttachment a,
                     readDesiredAttachment(*attachments[i], "attachments[" + std::to_string(i) + "]."));
    s.attachments.push_back(std::move(a));
  }
  ASSIGN_OR_RETURN(s.force_detach, r.optionalStringArray("force_detach"));
  ASSIGN_OR_RETURN(auto delta, r.optionalBool("delta"));
  s.delta = delta.value_or(false);
  ASSIGN_OR_RETURN(s.covers, r.optionalStringArray("covers"));
  for (const auto& uuid : s.covers) {
    if (!isUuid(uuid)) return invalid("field 'covers' must hold volume UUIDs");
  }
  if (!s.delta && !s.covers.empty()) return invalid("field 'covers' needs 'delta': true");
  ASSIGN_OR_RETURN(auto release, r.optionalObjectArray("release"));
  for (size_t i = 0; i < release.size(); ++i) {
    const std::string path = "release[" + std::to_string(i) + "].";
    ObjectReader rr(*release[i], path);
    DesiredRelease d;
    ASSIGN_OR_RETURN(d.volume_name, rr.requiredString("volume_name"));
    ASSIGN_OR_RETURN(d.volume_uuid, rr.requiredString("volume_uuid"));
    if (!isUuid(d.volume_uuid)) return invalid("field '" + path + "volume_uuid' must be a UUID");
    ASSIGN_OR_RETURN(d.pool, rr.requiredString("pool"));
    ASSIGN_OR_RETURN(d.backing_name, rr.requiredString("backing_name"));
    s.release.push_back(std::move(d));
  }
  return s;
}

}  // namespace tandem::nodeapi
