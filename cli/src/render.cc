#include "tandem/cli/render.h"

#include <charconv>
#include <cstdio>
#include <vector>

#include <rapidjson/document.h>

#include "tandem/cli/libvirt_xml.h"
#include "tandem/cli/size.h"
#include "tandem/cli/table.h"

#ifndef TANDEM_VERSION
#define TANDEM_VERSION "unknown"
#endif

namespace tandem::cli {
namespace {

using rapidjson::Value;

constexpr const char* kMissing = "-";

const Value* member(const Value& obj, const char* key) {
  if (!obj.IsObject()) return nullptr;
  auto it = obj.FindMember(key);
  if (it == obj.MemberEnd() || it->value.IsNull()) return nullptr;
  return &it->value;
}

std::string text(const Value& obj, const char* key) {
  const Value* v = member(obj, key);
  if (v == nullptr) return kMissing;
  if (v->IsString()) return v->GetString()[0] == '\0' ? kMissing : v->GetString();
  if (v->IsBool()) return v->GetBool() ? "yes" : "no";
  if (v->IsUint64()) return std::to_string(v->GetUint64());
  if (v->IsInt64()) return std::to_string(v->GetInt64());
  if (v->IsNumber()) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%g", v->GetDouble());
    return buf;
  }
  return kMissing;
}

std::string size(const Value& obj, const char* key) {
  const Value* v = member(obj, key);
  if (v == nullptr || !v->IsUint64()) return kMissing;
  return formatSize(v->GetUint64());
}

// An array of strings, or of objects with a "name" (pools may come either way), joined.
std::string list(const Value& obj, const char* key) {
  const Value* v = member(obj, key);
  if (v == nullptr || !v->IsArray() || v->Empty()) return kMissing;
  std::string out;
  for (const auto& item : v->GetArray()) {
    std::string one = item.IsString() ? item.GetString() : text(item, "name");
    if (!out.empty()) out += ", ";
    out += one;
  }
  return out;
}

// An object of strings as "k=v,k=v".
std::string labels(const Value& obj, const char* key) {
  const Value* v = member(obj, key);
  if (v == nullptr || !v->IsObject() || v->MemberCount() == 0) return kMissing;
  std::string out;
  for (const auto& m : v->GetObject()) {
    if (!out.empty()) out += ",";
    out += std::string(m.name.GetString()) + "=" + (m.value.IsString() ? m.value.GetString() : "?");
  }
  return out;
}

std::string percent(const Value& obj, const char* key) {
  const Value* v = member(obj, key);
  if (v == nullptr || !v->IsNumber()) return kMissing;
  double fraction = v->GetDouble();
  if (fraction >= 1.0) return "100%";
  if (fraction < 0) fraction = 0;
  char buf[16];
  std::snprintf(buf, sizeof buf, "%.1f%%", fraction * 100.0);
  return buf;
}

Status unexpected(const std::string& what) {
  return Status(ErrorCode::kProtocol, "unexpected answer from the server: " + what);
}

Result<rapidjson::Document> parse(const std::string& body) {
  rapidjson::Document doc;
  doc.Parse(body.c_str(), body.size());
  if (doc.HasParseError()) return unexpected("not JSON");
  return doc;
}

// The array under `key` of a list answer.
Result<const Value*> items(const rapidjson::Document& doc, const char* key) {
  const Value* v = member(doc, key);
  if (v == nullptr || !v->IsArray()) return unexpected(std::string("no \"") + key + "\" list");
  return v;
}

std::string keyValues(const std::vector<std::pair<std::string, std::string>>& pairs) {
  size_t width = 0;
  for (const auto& [k, v] : pairs) width = std::max(width, k.size());
  std::string out;
  for (const auto& [k, v] : pairs) out += k + ":" + std::string(width - k.size() + 1, ' ') + v + "\n";
  return out;
}

// "-" when the node is not being evacuated; else "N left (M moving), K blocked" or "done".
std::string evacuationText(const Value& n) {
  const Value* e = member(n, "evacuation");
  if (e == nullptr || !e->IsObject()) return "-";
  const std::string left = text(*e, "replicas_left");
  if (left == "0") return "done";
  std::string out = left + " left (" + text(*e, "moving") + " moving)";
  const Value* blocked = member(*e, "blocked");
  if (blocked != nullptr && blocked->IsArray() && !blocked->Empty()) {
    out += ", " + std::to_string(blocked->Size()) + " blocked";
  }
  return out;
}

std::string renderNodes(const Value& nodes) {
  Table t({"NAME", "STATE", "ADDRESS", "NBD-PORT", "REPL-PORT", "LAST-HEARTBEAT", "LABELS", "POOLS", "EVACUATION"});
  for (const auto& n : nodes.GetArray()) {
    t.addRow({text(n, "name"), text(n, "state"), text(n, "address"), text(n, "nbd_port"),
              text(n, "replication_port"), text(n, "last_heartbeat"), labels(n, "labels"), list(n, "pools"),
              evacuationText(n)});
  }
  return t.rowCount() == 0 ? "no nodes\n" : t.render();
}

// One node's evacuation: its progress and every blocked volume with why.
std::string renderEvacuation(const Command& cmd, const Value& n) {
  if (cmd.cancel) return "node '" + cmd.name + "' is no longer being evacuated (moves already started finish)\n";
  std::string out = "evacuating node '" + cmd.name + "': " + evacuationText(n) + "\n";
  const Value* e = member(n, "evacuation");
  const Value* blocked = e != nullptr ? member(*e, "blocked") : nullptr;
  if (blocked != nullptr && blocked->IsArray()) {
    for (const auto& b : blocked->GetArray()) out += "  " + text(b, "volume") + ": " + text(b, "reason") + "\n";
  }
  return out;
}

std::string renderPools(const Value& pools) {
  Table t({"NODE", "POOL", "PROVIDER", "TOTAL", "FREE", "PROVISIONED", "THIN", "SNAPSHOTS", "STATE"});
  for (size_t c : {3, 4, 5}) t.alignRight(c);
  for (const auto& p : pools.GetArray()) {
    t.addRow({text(p, "node"), text(p, "name"), text(p, "provider"), size(p, "total_bytes"),
              size(p, "free_bytes"), size(p, "provisioned_bytes"), text(p, "thin"),
              text(p, "snapshots"), text(p, "state")});
  }
  return t.rowCount() == 0 ? "no storage pools\n" : t.render();
}

std::string renderGroups(const Value& groups) {
  Table t({"NAME", "REPLICAS", "ENGINE", "THIN", "OVERPROVISION", "POOLS", "SPREAD-BY"});
  t.alignRight(1);
  for (const auto& g : groups.GetArray()) {
    t.addRow({text(g, "name"), text(g, "replicas"), text(g, "engine"), text(g, "thin"), text(g, "overprovision"),
              list(g, "pools"), list(g, "replicas_on_different")});
  }
  return t.rowCount() == 0 ? "no resource groups\n" : t.render();
}

std::string renderGroup(const Value& g) {
  std::vector<std::pair<std::string, std::string>> fields = {{"Name", text(g, "name")},
                                                             {"UUID", text(g, "uuid")},
                                                             {"Replicas", text(g, "replicas")},
                                                             {"Engine", text(g, "engine")},
                                                             {"Thin", text(g, "thin")},
                                                             {"Overprovision", text(g, "overprovision")},
                                                             {"Quorum", text(g, "quorum")},
                                                             {"Pools", list(g, "pools")},
                                                             {"Spread by", list(g, "replicas_on_different")}};
  const Value* multiattach = member(g, "allow_multiattach");
  if (multiattach != nullptr && multiattach->IsBool() && multiattach->GetBool()) {
    fields.push_back({"Multi-attach", "yes"});
  }
  if (const Value* w = member(g, "placement_weights")) {
    fields.push_back({"Weights", "free_space=" + text(*w, "free_space") + " provisioned=" + text(*w, "provisioned") +
                                     " replica_count=" + text(*w, "replica_count")});
  }
  return keyValues(fields);
}

// A dry run's placement: the chosen nodes, best (the primary) first, with their scores.
std::string renderPlan(const Command& cmd, const Value& plan) {
  std::string head = "volume '" + cmd.name + "' would be placed on (dry run; nothing created):\n";
  Table t({"NODE", "POOL", "PRIMARY", "SCORE", "FREE_SPACE", "PROVISIONED", "REPLICA_COUNT", "NODE_REPLICAS"});
  for (size_t c = 3; c <= 7; ++c) t.alignRight(c);
  if (const Value* replicas = member(plan, "replicas"); replicas && replicas->IsArray()) {
    for (const auto& r : replicas->GetArray()) {
      t.addRow({text(r, "node"), text(r, "pool"), text(r, "primary"), text(r, "score"), text(r, "free_space"),
                text(r, "provisioned"), text(r, "replica_count"), text(r, "node_replicas")});
    }
  }
  return head + t.render();
}

std::string stateWithReason(const Value& v) {
  std::string state = text(v, "state");
  std::string reason = text(v, "reason");
  return reason == kMissing ? state : state + " (" + reason + ")";
}

std::string renderVolumes(const Value& volumes) {
  Table t({"NAME", "SIZE", "GROUP", "STATE", "REPLICAS", "PRIMARY"});
  t.alignRight(1);
  t.alignRight(4);
  for (const auto& v : volumes.GetArray()) {
    const Value* replicas = member(v, "replicas");
    std::string count = replicas && replicas->IsArray() ? std::to_string(replicas->Size()) : kMissing;
    t.addRow({text(v, "name"), size(v, "size_bytes"), text(v, "resource_group"),
              stateWithReason(v), count, text(v, "primary_node")});
  }
  return t.rowCount() == 0 ? "no volumes\n" : t.render();
}

std::string copiesOf(const Value& s) {
  const Value* copies = member(s, "copies");
  std::string out;
  if (copies && copies->IsArray()) {
    for (const auto& c : copies->GetArray()) {
      if (c.IsString()) out += (out.empty() ? "" : ",") + std::string(c.GetString());
    }
  }
  return out.empty() ? kMissing : out;
}

std::string renderSnapshots(const Value& snapshots) {
  Table t({"NAME", "VOLUME", "SIZE", "STATE", "CREATED", "COPIES"});
  t.alignRight(2);
  for (const auto& s : snapshots.GetArray()) {
    t.addRow({text(s, "name"), text(s, "volume"), size(s, "size_bytes"), stateWithReason(s), text(s, "created_at"),
              copiesOf(s)});
  }
  return t.rowCount() == 0 ? "no snapshots\n" : t.render();
}

std::string renderSnapshot(const Value& s) {
  return keyValues({{"Name", text(s, "name")},
                    {"UUID", text(s, "uuid")},
                    {"Volume", text(s, "volume")},
                    {"Size", size(s, "size_bytes")},
                    {"State", stateWithReason(s)},
                    {"Created", text(s, "created_at")},
                    {"Copies", copiesOf(s)}});
}

std::string renderVolume(const Value& v) {
  std::vector<std::pair<std::string, std::string>> fields = {
      {"Name", text(v, "name")},
      {"UUID", text(v, "uuid")},
      {"Size", size(v, "size_bytes")},
      {"Group", text(v, "resource_group")},
      {"State", stateWithReason(v)},
      {"Primary", text(v, "primary_node") + " (epoch " + text(v, "epoch") + ")"},
      {"NBD URI", text(v, "nbd_uri")},
      {"Created", text(v, "created_at")}};
  if (member(v, "engine") != nullptr) fields.insert(fields.begin() + 4, {"Engine", text(v, "engine")});
  if (list(v, "attached_hosts") != kMissing) fields.push_back({"Attached on", list(v, "attached_hosts")});
  std::string out = keyValues(fields);
  const Value* replicas = member(v, "replicas");
  if (replicas == nullptr || !replicas->IsArray() || replicas->Empty()) {
    return out + "Replicas: none\n";
  }
  Table t({"NODE", "POOL", "STATE", "SYNC", "DISKFUL"});
  t.alignRight(3);
  for (const auto& r : replicas->GetArray()) {
    t.addRow({text(r, "node"), text(r, "pool"), text(r, "state"), percent(r, "sync_progress"),
              text(r, "diskful")});
  }
  out += "\nReplicas:\n";
  std::string table = t.render();
  // Indent the replica table under its heading.
  size_t start = 0;
  while (start < table.size()) {
    size_t end = table.find('\n', start);
    out += "  " + table.substr(start, end - start + 1);
    start = end + 1;
  }
  return out;
}

// Where the host finds the volume: the device path (block) or the NBD URI.
std::string attachmentTarget(const Value& a) {
  const Value* info = member(a, "connection_info");
  const Value* data = info != nullptr ? member(*info, "data") : nullptr;
  if (data == nullptr) return kMissing;
  if (member(*data, "device_path") != nullptr) return text(*data, "device_path");
  std::string uri = text(*data, "uri");
  if (member(*data, "socket") != nullptr) uri += " (socket " + text(*data, "socket") + ")";
  return uri;
}

std::string renderAttachments(const Value& attachments) {
  Table t({"HOST", "MODE", "STATE", "PATH/URI"});
  for (const auto& a : attachments.GetArray()) {
    t.addRow({text(a, "host"), text(a, "mode"), stateWithReason(a), attachmentTarget(a)});
  }
  return t.rowCount() == 0 ? "not attached\n" : t.render();
}

std::string renderAttached(const Command& cmd, int status, const Value& a) {
  std::string head = status == 200 ? "volume '" + cmd.name + "' was already attached on " + cmd.host
                                   : "attached volume '" + cmd.name + "' on " + cmd.host;
  return head + " (" + text(a, "mode") + ", " + stateWithReason(a) + "): " + attachmentTarget(a) + "\n";
}

std::string deletedLine(const char* what, const Command& cmd, int status) {
  if (status == 202) return std::string("deleting ") + what + " '" + cmd.name + "' (in progress)\n";
  return std::string("deleted ") + what + " '" + cmd.name + "'\n";
}

std::string createdLine(const char* what, const Command& cmd, int status) {
  if (status == 200) {
    return std::string(what) + " '" + cmd.name + "' already exists with the same settings\n\n";
  }
  return std::string("created ") + what + " '" + cmd.name + "'\n\n";
}

// The volume's <disk>: from its pool (the group's libvirt pool unless --pool), or its NBD export.
Result<std::string> renderDiskXml(const Command& cmd, const Value& v) {
  if (!cmd.nbd) {
    std::string pool = cmd.libvirt_pool.empty() ? libvirtPoolName(text(v, "resource_group")) : cmd.libvirt_pool;
    return libvirtVolumeDiskXml(pool, cmd.name, cmd.target);
  }
  const std::string uri = text(v, "nbd_uri");  // nbd://host:port/export
  constexpr std::string_view kScheme = "nbd://";
  size_t slash = uri.find('/', kScheme.size());
  size_t colon = uri.rfind(':', slash);
  if (uri.rfind(kScheme, 0) != 0 || slash == std::string::npos || colon == std::string::npos || colon < kScheme.size()) {
    return Status(ErrorCode::kUnavailable, "volume '" + cmd.name + "' has no NBD export now (nbd_uri '" + uri + "')");
  }
  int port = 0;
  std::string port_text = uri.substr(colon + 1, slash - colon - 1);
  auto [end, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (ec != std::errc() || end != port_text.data() + port_text.size()) return unexpected("nbd_uri '" + uri + "'");
  return libvirtNbdDiskXml(uri.substr(kScheme.size(), colon - kScheme.size()), port, uri.substr(slash + 1), cmd.target);
}

}  // namespace

Result<std::string> renderSuccess(const Command& cmd, int status, const std::string& body) {
  switch (cmd.kind) {
    case CommandKind::kGroupDelete: return deletedLine("resource group", cmd, status);
    case CommandKind::kVolumeDelete: return deletedLine("volume", cmd, status);
    case CommandKind::kNodeDelete: return deletedLine("node", cmd, status);
    case CommandKind::kSnapshotDelete:
      return "deleted snapshot '" + cmd.snapshot + "' of volume '" + cmd.name + "'\n";
    case CommandKind::kVolumeDetach: return "detached volume '" + cmd.name + "' from " + cmd.host + "\n";
    default: break;
  }
  ASSIGN_OR_RETURN(rapidjson::Document doc, parse(body));
  if (!doc.IsObject()) return unexpected("not a JSON object");
  switch (cmd.kind) {
    case CommandKind::kNodeList: {
      ASSIGN_OR_RETURN(const Value* v, items(doc, "nodes"));
      return renderNodes(*v);
    }
    case CommandKind::kNodeEvacuate: return renderEvacuation(cmd, doc);
    case CommandKind::kPoolList: {
      ASSIGN_OR_RETURN(const Value* v, items(doc, "storage_pools"));
      return renderPools(*v);
    }
    case CommandKind::kGroupList: {
      ASSIGN_OR_RETURN(const Value* v, items(doc, "resource_groups"));
      return renderGroups(*v);
    }
    case CommandKind::kVolumeList: {
      ASSIGN_OR_RETURN(const Value* v, items(doc, "volumes"));
      return renderVolumes(*v);
    }
    case CommandKind::kGroupShow: return renderGroup(doc);
    case CommandKind::kGroupCreate: return createdLine("resource group", cmd, status) + renderGroup(doc);
    case CommandKind::kVolumeShow:
    case CommandKind::kVolumeExport:  // app.cc renders transfers itself
    case CommandKind::kVolumeImport: return renderVolume(doc);
    case CommandKind::kVolumeCreate:
      if (cmd.dry_run) return renderPlan(cmd, doc);
      [[fallthrough]];
    case CommandKind::kVolumeClone: return createdLine("volume", cmd, status) + renderVolume(doc);
    case CommandKind::kVolumePromote:
      return "volume '" + cmd.name + "' is served by " + cmd.node + "\n\n" + renderVolume(doc);
    case CommandKind::kSnapshotList: {
      ASSIGN_OR_RETURN(const Value* v, items(doc, "snapshots"));
      return renderSnapshots(*v);
    }
    case CommandKind::kSnapshotCreate:
      return (status == 200 ? "snapshot '" + cmd.snapshot + "' already exists\n\n"
                            : "created snapshot '" + cmd.snapshot + "'\n\n") +
             renderSnapshot(doc);
    case CommandKind::kSnapshotRevert:
      return "volume '" + cmd.name + "' is reverting to snapshot '" + cmd.snapshot + "'\n\n" + renderVolume(doc);
    case CommandKind::kVolumeGrow:
      return "volume '" + cmd.name + "' is now " + size(doc, "size_bytes") + "\n\n" + renderVolume(doc);
    case CommandKind::kVolumeAttach: return renderAttached(cmd, status, doc);
    case CommandKind::kVolumeAttachments: {
      ASSIGN_OR_RETURN(const Value* v, items(doc, "attachments"));
      return renderAttachments(*v);
    }
    case CommandKind::kVolumeResolve:
      return "volume '" + cmd.name + "' keeps the data of " + cmd.node +
             "; the other copies are resynced from it\n\n" + renderVolume(doc);
    case CommandKind::kVolumeAdopt:
      return (cmd.dry_run ? "volume '" + cmd.name + "' could adopt " + cmd.backing + " (" + size(doc, "size_bytes") +
                                ")\n\n"
                          : status == 201 ? "adopted " + cmd.backing + " of " + cmd.node + "/" + cmd.pool +
                                                " as volume '" + cmd.name + "'\n\n"
                                          : "volume '" + cmd.name + "' already adopts " + cmd.backing + "\n\n") +
             renderVolume(doc);
    case CommandKind::kVolumeForget:
      return "forgot volume '" + cmd.name + "': its data stays on node " + text(doc, "node") + ", pool " +
             text(doc, "pool") + ", as '" + text(doc, "backing_name") + "'" +
             (text(doc, "backing_path").empty() ? std::string() : " (" + text(doc, "backing_path") + ")") + "\n";
    case CommandKind::kVolumeUpdate: return "updated volume '" + cmd.name + "'\n\n" + renderVolume(doc);
    case CommandKind::kLibvirtPoolXml:
      return libvirtPoolXml(cmd.libvirt_pool.empty() ? libvirtPoolName(text(doc, "name")) : cmd.libvirt_pool,
                            cmd.mount);
    case CommandKind::kLibvirtDiskXml: return renderDiskXml(cmd, doc);
    case CommandKind::kVersion:
      return std::string("client: ") + TANDEM_VERSION + "\nserver: " + text(doc, "version") +
             " (API " + text(doc, "api_version") + ")\n";
    case CommandKind::kGroupDelete:
    case CommandKind::kVolumeDelete:
    case CommandKind::kSnapshotDelete:
    case CommandKind::kVolumeDetach:
    case CommandKind::kNodeDelete: break;
  }
  return unexpected("unknown command");
}

std::string renderApiError(int status, const std::string& body) {
  rapidjson::Document doc;
  doc.Parse(body.c_str(), body.size());
  if (!doc.HasParseError()) {
    const Value* error = member(doc, "error");
    if (error != nullptr && error->IsObject()) {
      const Value* message = member(*error, "message");
      const Value* code = member(*error, "code");
      if (message && message->IsString() && code && code->IsString()) {
        return std::string("error: ") + message->GetString() + " (" + code->GetString() +
               ", HTTP " + std::to_string(status) + ")";
      }
    }
  }
  std::string excerpt = body.substr(0, 200);
  for (char& c : excerpt) {
    if (c == '\n' || c == '\r') c = ' ';
  }
  return "error: HTTP " + std::to_string(status) + (excerpt.empty() ? "" : ": " + excerpt);
}

}  // namespace tandem::cli
