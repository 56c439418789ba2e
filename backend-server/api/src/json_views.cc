#include "json_views.h"

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <ctime>
#include <utility>

#include "tandem/common/object_name.h"
#include "tandem/json/object_reader.h"
#include "tandem/nodeapi/codec.h"

namespace tandem::controller {
namespace {

using json::JsonWriter;
using json::ObjectReader;

std::string rfc3339(int64_t unix_seconds) {
  if (unix_seconds == 0) return "";
  std::time_t t = unix_seconds;
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

Status invalid(const std::string& message) {
  return Status(ErrorCode::kInvalidArgument, message).withReason("invalid_field");
}

Result<std::string> requiredName(const ObjectReader& r, const char* field) {
  ASSIGN_OR_RETURN(std::string name, r.requiredString(field));
  if (!isValidObjectName(name)) {
    return invalid("field '" + std::string(field) + "' must match [A-Za-z0-9][A-Za-z0-9_.-]{0,63}, got '" +
                   name.substr(0, 80) + "'");
  }
  return name;
}

// "placement_weights": {...} (a field of the current object).
void writeWeights(JsonWriter& w, const PlacementWeights& weights) {
  w.key("placement_weights").beginObject();
  w.field("free_space", weights.free_space).field("provisioned", weights.provisioned);
  w.field("replica_count", weights.replica_count).endObject();
}

}  // namespace

void writeNode(JsonWriter& w, const NodeView& n) {
  w.beginObject();
  w.field("name", n.node.name).field("uuid", n.node.uuid).field("address", n.node.address);
  w.field("state", n.online ? "online" : "offline");
  w.field("last_heartbeat", rfc3339(n.last_heartbeat));
  w.field("registered_at", rfc3339(n.node.registered_at));
  w.field("nbd_port", uint64_t{n.node.nbd_port}).field("replication_port", uint64_t{n.node.replication_port});
  w.key("labels").beginObject();
  for (const auto& [key, value] : n.node.labels) w.field(key, value);
  w.endObject();
  w.key("pools").beginArray();
  for (const auto& p : n.pools) {
    w.beginObject().field("name", p.name).field("provider", p.provider).field("total_bytes", p.total_bytes);
    w.field("free_bytes", p.free_bytes).endObject();
  }
  w.endArray();
  if (!n.report_error.empty()) w.field("report_error", n.report_error);
  w.key("drbd").raw(nodeapi::encodeDrbdCapability(n.drbd));
  w.field("evacuating", n.node.evacuating);
  if (n.evacuation) {
    w.key("evacuation").beginObject();
    w.field("replicas_left", uint64_t{n.evacuation->replicas_left}).field("moving", uint64_t{n.evacuation->moving});
    w.key("blocked").beginArray();
    for (const auto& [volume, reason] : n.evacuation->blocked) {
      w.beginObject().field("volume", volume).field("reason", reason).endObject();
    }
    w.endArray();
    w.endObject();
  }
  w.endObject();
}

void writePool(JsonWriter& w, const PoolView& p) {
  w.beginObject();
  w.field("node", p.node).field("name", p.pool.name).field("provider", p.pool.provider);
  w.field("total_bytes", p.pool.total_bytes).field("free_bytes", p.pool.free_bytes);
  w.field("provisioned_bytes", p.pool.provisioned_bytes);
  w.field("thin", p.pool.thin).field("snapshots", p.pool.snapshots);
  w.field("state", !p.node_online ? "offline" : (p.reported ? "online" : "unknown"));
  w.endObject();
}

void writeGroup(JsonWriter& w, const GroupRecord& g) {
  w.beginObject();
  w.field("name", g.name).field("uuid", g.uuid).field("replicas", uint64_t{g.replicas});
  w.field("engine", g.engine).field("thin", g.thin).field("overprovision", g.overprovision);
  w.field("quorum", g.quorum ? "majority" : "off").field("allow_multiattach", g.allow_multiattach);
  w.key("pools").beginArray();
  for (const auto& p : g.pools) w.string(p);
  w.endArray();
  w.key("replicas_on_different").beginArray();
  for (const auto& p : g.replicas_on_different) w.string(p);
  w.endArray();
  writeWeights(w, g.weights);
  w.endObject();
}

void writeVolumePlan(JsonWriter& w, const VolumePlan& plan) {
  w.beginObject();
  w.field("dry_run", true).field("name", plan.name).field("size_bytes", plan.size_bytes);
  w.field("resource_group", plan.group.name);
  writeWeights(w, plan.group.weights);
  w.key("replicas").beginArray();
  for (size_t i = 0; i < plan.placements.size(); ++i) {
    const Placement& p = plan.placements[i];
    w.beginObject().field("node", p.node).field("pool", p.pool).field("primary", i == 0);
    w.field("score", p.score.score).field("free_space", p.score.free_space);
    w.field("provisioned", p.score.provisioned).field("replica_count", p.score.replica_count);
    w.field("node_replicas", uint64_t{p.score.node_replicas}).endObject();
  }
  w.endArray();
  w.endObject();
}

void writeVolume(JsonWriter& w, const VolumeView& v) {
  w.beginObject();
  w.field("name", v.volume.name).field("uuid", v.volume.uuid).field("size_bytes", v.volume.size_bytes);
  w.field("resource_group", v.volume.group).field("engine", v.engine);
  w.field("state", name(v.state)).field("reason", v.reason);
  w.field("primary_node", v.volume.primary_node).field("epoch", v.volume.epoch).field("nbd_uri", v.nbd_uri);
  w.field("created_at", rfc3339(v.volume.created_at));
  w.key("replicas").beginArray();
  for (const auto& r : v.replicas) {
    w.beginObject().field("node", r.node).field("pool", r.pool).field("diskful", r.diskful);
    w.field("primary", r.primary).field("state", name(r.state)).field("sync_progress", r.sync_progress);
    w.field("reason", r.reason).field("allocated_bytes", r.allocated_bytes).field("leaving", r.leaving).endObject();
  }
  w.endArray();
  w.key("attached_hosts").beginArray();
  for (const auto& h : v.attached_hosts) w.string(h);
  w.endArray();
  w.endObject();
}

void writeForgotten(JsonWriter& w, const ForgetResult& f) {
  w.beginObject().field("volume", f.volume).field("uuid", f.uuid).field("node", f.node).field("pool", f.pool);
  w.field("backing_name", f.backing_name).field("backing_path", f.backing_path).endObject();
}

void writeAttachment(JsonWriter& w, const AttachmentView& a) {
  const ConnectionInfo& info = a.connection_info;
  w.beginObject();
  w.field("volume", a.volume).field("host", a.record.host).field("mode", name(a.record.mode));
  w.field("state", name(a.state)).field("reason", a.reason);
  w.key("connector");
  if (a.record.connector.empty()) {
    w.null();
  } else {
    w.raw(a.record.connector);
  }
  w.key("connection_info").beginObject().field("driver_volume_type", info.driver_volume_type);
  w.key("data").beginObject();
  if (a.record.mode == AttachMode::kBlock) {
    w.field("device_path", info.device_path);
  } else {
    w.field("uri", info.uri).field("host", info.nbd_host).field("port", uint64_t{info.nbd_port});
    w.field("export", info.nbd_export);
    if (!info.socket.empty()) w.field("socket", info.socket);
  }
  w.endObject().endObject();
  w.field("created_at", rfc3339(a.record.created_at));
  w.endObject();
}

void writeSnapshot(JsonWriter& w, const SnapshotView& s) {
  w.beginObject();
  w.field("name", s.snapshot.name).field("uuid", s.snapshot.uuid).field("volume", s.volume);
  w.field("size_bytes", s.snapshot.size_bytes).field("state", name(s.snapshot.state));
  if (!s.snapshot.message.empty()) w.field("reason", s.snapshot.message);
  w.field("created_at", rfc3339(s.snapshot.created_at));
  w.key("copies").beginArray();
  for (const auto& c : s.copies) w.string(c);
  w.endArray();
  w.endObject();
}

std::string desiredStateJson(const DesiredState& s) { return nodeapi::encodeDesiredState(s); }
std::string statusAckJson(const nodeapi::StatusAck& ack) { return nodeapi::encodeStatusAck(ack); }

std::string registerResultJson(const RegisterNodeResult& result, const NodeView& node) {
  JsonWriter w;
  writeNode(w, node);
  return nodeapi::encodeRegistrationReply({result.node.uuid, result.token, result.cluster_id}, w.str());
}

Result<RegisterNodeRequest> parseRegisterRequest(std::string_view body) { return nodeapi::decodeRegistration(body); }

Result<NodeStatusReport> parseStatusReport(std::string_view body) { return nodeapi::decodeStatusReport(body); }

Result<GroupRecord> parseGroupSpec(std::string_view body) {
  ASSIGN_OR_RETURN(auto doc, json::parseObject(body));
  ObjectReader r(doc);
  RETURN_IF_ERROR(r.rejectUnknownFields(
      {"name", "replicas", "engine", "thin", "overprovision", "quorum", "pools", "replicas_on_different",
       "allow_multiattach", "placement_weights"}));
  GroupRecord g;
  ASSIGN_OR_RETURN(g.name, requiredName(r, "name"));
  ASSIGN_OR_RETURN(auto replicas, r.optionalUint64("replicas"));
  if (replicas && (*replicas < 1 || *replicas > 8)) return invalid("field 'replicas' must be between 1 and 8");
  g.replicas = static_cast<uint32_t>(replicas.value_or(2));
  ASSIGN_OR_RETURN(auto engine, r.optionalString("engine"));
  g.engine = engine.value_or("native");
  if (g.engine != "native" && g.engine != "drbd") {
    return Status(ErrorCode::kUnprocessable, "field 'engine' must be \"native\" or \"drbd\", got '" +
                                                 g.engine.substr(0, 80) + "'")
        .withReason("invalid_engine");
  }
  ASSIGN_OR_RETURN(auto thin, r.optionalBool("thin"));
  g.thin = thin.value_or(true);
  ASSIGN_OR_RETURN(auto overprovision, r.optionalNumber("overprovision"));
  if (overprovision) {
    if (!g.thin) return invalid("field 'overprovision' applies only to thin resource groups (thin=true)");
    if (!(*overprovision >= 1.0 && *overprovision <= 1000.0)) {
      return invalid("field 'overprovision' must be a number from 1 to 1000");
    }
  }
  g.overprovision = g.thin ? overprovision.value_or(kDefaultOverprovision) : 1.0;
  ASSIGN_OR_RETURN(auto quorum, r.optionalString("quorum"));
  if (quorum && *quorum != "off" && *quorum != "majority") {
    return invalid("field 'quorum' must be \"off\" or \"majority\"");
  }
  g.quorum = quorum.value_or("off") == "majority";
  ASSIGN_OR_RETURN(auto multiattach, r.optionalBool("allow_multiattach"));
  g.allow_multiattach = multiattach.value_or(false);
  ASSIGN_OR_RETURN(g.pools, r.optionalStringArray("pools"));
  for (const auto& p : g.pools) {
    if (!isValidObjectName(p)) return invalid("field 'pools' has an invalid pool name '" + p.substr(0, 80) + "'");
  }
  ASSIGN_OR_RETURN(g.replicas_on_different, r.optionalStringArray("replicas_on_different"));
  for (const auto& key : g.replicas_on_different) {
    if (!isValidObjectName(key)) {
      return invalid("field 'replicas_on_different' has an invalid label key '" + key.substr(0, 80) + "'");
    }
  }
  if (r.has("placement_weights")) {
    if (!doc["placement_weights"].IsObject()) return invalid("field 'placement_weights' must be an object");
    ObjectReader weights(doc["placement_weights"], "placement_weights.");
    RETURN_IF_ERROR(weights.rejectUnknownFields({"free_space", "provisioned", "replica_count"}));
    for (auto [field, slot] : {std::pair{"free_space", &g.weights.free_space},
                               std::pair{"provisioned", &g.weights.provisioned},
                               std::pair{"replica_count", &g.weights.replica_count}}) {
      ASSIGN_OR_RETURN(auto value, weights.optionalNumber(field));
      if (!value) continue;
      if (!(*value >= 0.0 && *value <= kMaxPlacementWeight)) {
        return invalid("field 'placement_weights." + std::string(field) + "' must be a number from 0 to 1000");
      }
      *slot = *value;
    }
  }
  return g;
}

Result<PromoteRequest> parsePromote(std::string_view body) {
  ASSIGN_OR_RETURN(auto doc, json::parseObject(body));
  ObjectReader r(doc);
  RETURN_IF_ERROR(r.rejectUnknownFields({"node", "force"}));
  PromoteRequest req;
  ASSIGN_OR_RETURN(req.node, requiredName(r, "node"));
  ASSIGN_OR_RETURN(auto force, r.optionalBool("force"));
  req.force = force.value_or(false);
  return req;
}

Result<AttachRequest> parseAttach(std::string_view body) {
  ASSIGN_OR_RETURN(auto doc, json::parseObject(body));
  ObjectReader r(doc);
  RETURN_IF_ERROR(r.rejectUnknownFields({"host", "mode", "connector", "move_primary"}));
  AttachRequest req;
  ASSIGN_OR_RETURN(req.host, requiredName(r, "host"));
  ASSIGN_OR_RETURN(auto mode, r.optionalString("mode"));
  if (mode) {
    auto parsed = parseAttachMode(*mode);
    if (!parsed) return invalid("field 'mode' must be \"block\" or \"nbd\"");
    req.mode = *parsed;
  }
  ASSIGN_OR_RETURN(auto move_primary, r.optionalBool("move_primary"));
  req.move_primary = move_primary.value_or(false);
  if (r.has("connector") && !doc["connector"].IsNull()) {
    if (!doc["connector"].IsObject()) return invalid("field 'connector' must be an object");
    rapidjson::StringBuffer buffer;
    rapidjson::Writer<rapidjson::StringBuffer> writer(buffer);
    doc["connector"].Accept(writer);
    req.connector.assign(buffer.GetString(), buffer.GetSize());
    if (req.connector.size() > 16384) return invalid("field 'connector' is larger than 16 KiB");
  }
  return req;
}

// The volume size from `size_bytes` or `size_gib` (at most one): absent when neither is given.
Result<std::optional<uint64_t>> volumeSize(const ObjectReader& r) {
  ASSIGN_OR_RETURN(auto bytes, r.optionalUint64("size_bytes"));
  ASSIGN_OR_RETURN(auto gib, r.optionalUint64("size_gib"));
  if (bytes && gib) return invalid("give one of 'size_bytes' and 'size_gib', not both");
  if (!bytes && !gib) return std::optional<uint64_t>{};
  uint64_t size = 0;
  if (gib) {
    if (*gib > (uint64_t{1} << 20)) return invalid("the volume size exceeds 1 PiB");
    size = *gib << 30;
  } else {
    size = *bytes;
  }
  if (size == 0 || size % 512 != 0) return invalid("the volume size must be a positive multiple of 512 bytes");
  if (size > (uint64_t{1} << 50)) return invalid("the volume size exceeds 1 PiB");
  return std::optional<uint64_t>{size};
}

Status parseEmptyObject(std::string_view body) {
  ASSIGN_OR_RETURN(auto doc, json::parseObject(body));
  return ObjectReader(doc).rejectUnknownFields({});
}

Result<std::string> parseCreateSnapshot(std::string_view body) {
  ASSIGN_OR_RETURN(auto doc, json::parseObject(body));
  ObjectReader r(doc);
  RETURN_IF_ERROR(r.rejectUnknownFields({"name"}));
  return requiredName(r, "name");
}

Result<UpdateVolumeRequest> parseUpdateVolume(std::string_view body) {
  ASSIGN_OR_RETURN(auto doc, json::parseObject(body));
  ObjectReader r(doc);
  RETURN_IF_ERROR(r.rejectUnknownFields({"size_bytes", "size_gib", "replicas", "resource_group"}));
  UpdateVolumeRequest req;
  ASSIGN_OR_RETURN(req.size_bytes, volumeSize(r));
  ASSIGN_OR_RETURN(auto replicas, r.optionalUint64("replicas"));
  if (replicas) {
    if (*replicas == 0 || *replicas > 16) return invalid("'replicas' must be between 1 and 16");
    req.replicas = static_cast<uint32_t>(*replicas);
  }
  ASSIGN_OR_RETURN(req.group, r.optionalString("resource_group"));
  return req;
}

Result<AdoptRequest> parseAdopt(std::string_view body) {
  ASSIGN_OR_RETURN(auto doc, json::parseObject(body));
  ObjectReader r(doc);
  RETURN_IF_ERROR(r.rejectUnknownFields({"node", "pool", "backing_name", "resource_group", "dry_run"}));
  AdoptRequest req;
  ASSIGN_OR_RETURN(req.node, requiredName(r, "node"));
  ASSIGN_OR_RETURN(req.pool, requiredName(r, "pool"));
  ASSIGN_OR_RETURN(req.backing_name, r.requiredString("backing_name"));
  ASSIGN_OR_RETURN(req.group, requiredName(r, "resource_group"));
  ASSIGN_OR_RETURN(auto dry_run, r.optionalBool("dry_run"));
  req.dry_run = dry_run.value_or(false);
  return req;
}

Result<std::string> parseResolve(std::string_view body) {
  ASSIGN_OR_RETURN(auto doc, json::parseObject(body));
  ObjectReader r(doc);
  RETURN_IF_ERROR(r.rejectUnknownFields({"keep"}));
  return requiredName(r, "keep");
}

Result<CreateVolumeRequest> parseCreateVolume(std::string_view body) {
  ASSIGN_OR_RETURN(auto doc, json::parseObject(body));
  ObjectReader r(doc);
  RETURN_IF_ERROR(r.rejectUnknownFields({"name", "size_bytes", "size_gib", "resource_group", "source"}));
  CreateVolumeRequest req;
  ASSIGN_OR_RETURN(req.name, requiredName(r, "name"));
  ASSIGN_OR_RETURN(auto size, volumeSize(r));
  if (!size) return invalid("exactly one of 'size_bytes' and 'size_gib' is required");
  req.size_bytes = *size;
  ASSIGN_OR_RETURN(req.group, requiredName(r, "resource_group"));
  if (r.has("source")) {
    if (!doc["source"].IsObject()) return invalid("field 'source' must be an object");
    ObjectReader source(doc["source"], "source.");
    RETURN_IF_ERROR(source.rejectUnknownFields({"volume", "snapshot"}));
    ASSIGN_OR_RETURN(req.source_volume, requiredName(source, "volume"));
    ASSIGN_OR_RETURN(auto snapshot, source.optionalString("snapshot"));
    req.source_snapshot = snapshot.value_or("");
  }
  return req;
}

}  // namespace tandem::controller
