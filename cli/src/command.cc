#include "tandem/cli/command.h"

#include <charconv>
#include <set>

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "tandem/cli/size.h"
#include "tandem/common/object_name.h"
#include "tandem/http/url.h"

namespace tandem::cli {
namespace {

Status usage(std::string message) { return Status(ErrorCode::kInvalidArgument, std::move(message)); }

Status checkName(const std::string& what, const std::string& name) {
  if (!isValidObjectName(name)) {
    return usage("invalid " + what + " name '" + name +
                 "': use 1-64 letters, digits, '_', '.', '-', starting with a letter or digit");
  }
  return Status::ok();
}

// Every option present must be in `allowed`.
Status checkOptions(const ParsedArgs& args, const std::string& command,
                    const std::set<std::string>& allowed) {
  for (const auto& [name, value] : args.options) {
    if (!allowed.count(name)) return usage("option --" + name + " does not apply to '" + command + "'");
  }
  return Status::ok();
}

Status checkArity(const ParsedArgs& args, size_t expected, const std::string& command,
                  const std::string& shape) {
  if (args.words.size() != expected) return usage("usage: tandem " + command + shape);
  return Status::ok();
}

Result<int> parseReplicas(const std::string& text) {
  int value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || value < 1 || value > 8) {
    return usage("--replicas must be an integer from 1 to 8, not '" + text + "'");
  }
  return value;
}

// "a,b,c" → names, each checked; `what` names them in errors ("pool", "label key").
Result<std::vector<std::string>> parseNameList(const std::string& text, const std::string& what) {
  std::vector<std::string> out;
  size_t start = 0;
  while (true) {
    size_t comma = text.find(',', start);
    std::string item = text.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    RETURN_IF_ERROR(checkName(what, item));
    out.push_back(item);
    if (comma == std::string::npos) return out;
    start = comma + 1;
  }
}

Result<double> parseOverprovision(const std::string& text) {
  double value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || !(value >= 1.0 && value <= 1000.0)) {
    return usage("--overprovision must be a number from 1 to 1000, not '" + text + "'");
  }
  return value;
}

// --weights free_space=1,provisioned=2,replica_count=0.5 (any subset).
Result<std::map<std::string, double>> parseWeights(const std::string& text) {
  std::map<std::string, double> out;
  size_t start = 0;
  while (true) {
    size_t comma = text.find(',', start);
    std::string item = text.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    size_t eq = item.find('=');
    const std::string key = item.substr(0, eq);
    if (eq == std::string::npos || (key != "free_space" && key != "provisioned" && key != "replica_count")) {
      return usage("--weights takes KEY=W items with KEY free_space, provisioned or replica_count, not '" + item + "'");
    }
    double value = -1;
    const std::string number = item.substr(eq + 1);
    auto [end, ec] = std::from_chars(number.data(), number.data() + number.size(), value);
    if (ec != std::errc() || end != number.data() + number.size() || !(value >= 0.0 && value <= 1000.0)) {
      return usage("--weights: " + key + " must be a number from 0 to 1000, not '" + number + "'");
    }
    out[key] = value;
    if (comma == std::string::npos) return out;
    start = comma + 1;
  }
}

Result<Command> parseGroup(const ParsedArgs& args) {
  const std::string verb = args.words.size() > 1 ? args.words[1] : "";
  Command cmd;
  if (verb == "list") {
    RETURN_IF_ERROR(checkArity(args, 2, "group list", ""));
    RETURN_IF_ERROR(checkOptions(args, "group list", {}));
    cmd.kind = CommandKind::kGroupList;
    return cmd;
  }
  if (verb == "show" || verb == "delete") {
    RETURN_IF_ERROR(checkArity(args, 3, "group " + verb, " NAME"));
    RETURN_IF_ERROR(checkOptions(args, "group " + verb, {}));
    RETURN_IF_ERROR(checkName("group", args.words[2]));
    cmd.kind = verb == "show" ? CommandKind::kGroupShow : CommandKind::kGroupDelete;
    cmd.name = args.words[2];
    return cmd;
  }
  if (verb == "create") {
    const std::string shape =
        " NAME --replicas N [--engine native|drbd] [--thin|--thick] [--pools P,...] [--spread-by KEY,...]"
        " [--overprovision R] [--quorum off|majority] [--multiattach]"
        " [--weights free_space=W,provisioned=W,replica_count=W]";
    RETURN_IF_ERROR(checkArity(args, 3, "group create", shape));
    RETURN_IF_ERROR(checkOptions(args, "group create",
                                 {"replicas", "engine", "thin", "thick", "pools", "spread-by", "overprovision",
                                  "quorum", "multiattach", "weights"}));
    RETURN_IF_ERROR(checkName("group", args.words[2]));
    cmd.kind = CommandKind::kGroupCreate;
    cmd.name = args.words[2];
    auto replicas = args.options.find("replicas");
    if (replicas == args.options.end()) return usage("group create needs --replicas N");
    ASSIGN_OR_RETURN(cmd.replicas, parseReplicas(replicas->second));
    if (auto engine = args.options.find("engine"); engine != args.options.end()) {
      if (engine->second != "native" && engine->second != "drbd") {
        return usage("--engine must be native or drbd, not '" + engine->second + "'");
      }
      cmd.engine = engine->second;
    }
    bool thin = args.options.count("thin") > 0;
    bool thick = args.options.count("thick") > 0;
    if (thin && thick) return usage("--thin and --thick exclude each other");
    cmd.thin = !thick;
    if (auto pools = args.options.find("pools"); pools != args.options.end()) {
      ASSIGN_OR_RETURN(cmd.pools, parseNameList(pools->second, "pool"));
    }
    if (auto spread = args.options.find("spread-by"); spread != args.options.end()) {
      ASSIGN_OR_RETURN(cmd.spread_by, parseNameList(spread->second, "label key"));
    }
    if (auto ratio = args.options.find("overprovision"); ratio != args.options.end()) {
      if (thick) return usage("--overprovision applies only to thin groups, not with --thick");
      ASSIGN_OR_RETURN(cmd.overprovision, parseOverprovision(ratio->second));
    }
    cmd.multiattach = args.options.count("multiattach") > 0;
    if (auto weights = args.options.find("weights"); weights != args.options.end()) {
      ASSIGN_OR_RETURN(cmd.weights, parseWeights(weights->second));
    }
    if (auto quorum = args.options.find("quorum"); quorum != args.options.end()) {
      if (quorum->second != "off" && quorum->second != "majority") {
        return usage("--quorum must be off or majority, not '" + quorum->second + "'");
      }
      cmd.quorum = quorum->second;
    }
    return cmd;
  }
  return usage("usage: tandem group create|list|show|delete ...");
}

// The --size option as bytes; a usage error (`missing` when it is absent) otherwise.
Result<uint64_t> sizeOption(const ParsedArgs& args, const std::string& missing) {
  auto size = args.options.find("size");
  if (size == args.options.end()) return usage(missing);
  auto bytes = parseSize(size->second);
  if (!bytes.isOk()) return usage(bytes.status().message());
  return *bytes;
}

// What every "volume VERB NAME [--options]" shares: exactly one name after the verb, only
// `allowed` options, a valid volume name. Returns the command with its kind and name set.
Result<Command> volumeCommand(const ParsedArgs& args, CommandKind kind, const std::string& shape,
                              const std::set<std::string>& allowed) {
  const std::string command = "volume " + args.words[1];
  RETURN_IF_ERROR(checkArity(args, 3, command, shape));
  RETURN_IF_ERROR(checkOptions(args, command, allowed));
  RETURN_IF_ERROR(checkName("volume", args.words[2]));
  Command cmd;
  cmd.kind = kind;
  cmd.name = args.words[2];
  return cmd;
}

// A required option whose value is a `what` name; usage(`missing`) when it is absent.
Result<std::string> nameOption(const ParsedArgs& args, const std::string& option, const std::string& what,
                               const std::string& missing) {
  auto it = args.options.find(option);
  if (it == args.options.end()) return usage(missing);
  RETURN_IF_ERROR(checkName(what, it->second));
  return it->second;
}

Result<Command> parseVolume(const ParsedArgs& args) {
  const std::string verb = args.words.size() > 1 ? args.words[1] : "";
  if (verb == "list") {
    RETURN_IF_ERROR(checkArity(args, 2, "volume list", ""));
    RETURN_IF_ERROR(checkOptions(args, "volume list", {}));
    Command cmd;
    cmd.kind = CommandKind::kVolumeList;
    return cmd;
  }
  if (verb == "show" || verb == "delete" || verb == "attachments") {
    CommandKind kind = verb == "show"     ? CommandKind::kVolumeShow
                       : verb == "delete" ? CommandKind::kVolumeDelete
                                          : CommandKind::kVolumeAttachments;
    return volumeCommand(args, kind, " NAME", {});
  }
  if (verb == "create") {
    ASSIGN_OR_RETURN(Command cmd, volumeCommand(args, CommandKind::kVolumeCreate,
                                                " NAME --size SIZE --group GROUP [--dry-run]",
                                                {"size", "group", "dry-run"}));
    cmd.dry_run = args.options.count("dry-run") > 0;
    ASSIGN_OR_RETURN(cmd.size_bytes, sizeOption(args, "volume create needs --size SIZE (e.g. 10GiB)"));
    ASSIGN_OR_RETURN(cmd.group, nameOption(args, "group", "group", "volume create needs --group GROUP"));
    return cmd;
  }
  if (verb == "promote") {
    ASSIGN_OR_RETURN(Command cmd, volumeCommand(args, CommandKind::kVolumePromote, " NAME --node NODE [--force]",
                                                {"node", "force"}));
    ASSIGN_OR_RETURN(cmd.node, nameOption(args, "node", "node",
                                          "volume promote needs --node NODE (the replica to promote)"));
    cmd.force = args.options.count("force") > 0;
    return cmd;
  }
  if (verb == "attach" || verb == "detach") {
    const bool attach = verb == "attach";
    ASSIGN_OR_RETURN(Command cmd,
                     volumeCommand(args, attach ? CommandKind::kVolumeAttach : CommandKind::kVolumeDetach,
                                   attach ? " NAME --host HOST [--mode block|nbd]" : " NAME --host HOST [--force]",
                                   attach ? std::set<std::string>{"host", "mode"}
                                          : std::set<std::string>{"host", "force"}));
    ASSIGN_OR_RETURN(cmd.host, nameOption(args, "host", "host", "volume " + verb + " needs --host HOST (a node name)"));
    if (auto mode = args.options.find("mode"); mode != args.options.end()) {
      if (mode->second != "block" && mode->second != "nbd") {
        return usage("--mode must be block or nbd, not '" + mode->second + "'");
      }
      cmd.mode = mode->second;
    }
    cmd.force = args.options.count("force") > 0;
    return cmd;
  }
  if (verb == "resolve") {
    ASSIGN_OR_RETURN(Command cmd, volumeCommand(args, CommandKind::kVolumeResolve, " NAME --keep NODE", {"keep"}));
    ASSIGN_OR_RETURN(cmd.node, nameOption(args, "keep", "node",
                                          "volume resolve needs --keep NODE (the copy whose data the volume keeps)"));
    return cmd;
  }
  if (verb == "grow") {
    ASSIGN_OR_RETURN(Command cmd, volumeCommand(args, CommandKind::kVolumeGrow, " NAME --size SIZE", {"size"}));
    ASSIGN_OR_RETURN(cmd.size_bytes, sizeOption(args, "volume grow needs --size SIZE (the new size, e.g. 20GiB)"));
    return cmd;
  }
  if (verb == "clone") {
    ASSIGN_OR_RETURN(Command cmd,
                     volumeCommand(args, CommandKind::kVolumeClone,
                                   " NAME --from VOLUME [--snapshot SNAPSHOT] --size SIZE --group GROUP",
                                   {"from", "snapshot", "size", "group"}));
    ASSIGN_OR_RETURN(cmd.source, nameOption(args, "from", "volume", "volume clone needs --from"));
    if (args.options.count("snapshot")) {  // without it: a clone of the live volume
      ASSIGN_OR_RETURN(cmd.snapshot, nameOption(args, "snapshot", "snapshot", ""));
    }
    ASSIGN_OR_RETURN(cmd.size_bytes, sizeOption(args, "volume clone needs --size"));
    ASSIGN_OR_RETURN(cmd.group, nameOption(args, "group", "group", "volume clone needs --group"));
    return cmd;
  }
  if (verb == "adopt") {
    ASSIGN_OR_RETURN(Command cmd,
                     volumeCommand(args, CommandKind::kVolumeAdopt,
                                   " NAME --node NODE --pool POOL --backing BACKING --group GROUP [--dry-run]",
                                   {"node", "pool", "backing", "group", "dry-run"}));
    ASSIGN_OR_RETURN(cmd.node, nameOption(args, "node", "node", "volume adopt needs --node NODE"));
    ASSIGN_OR_RETURN(cmd.pool, nameOption(args, "pool", "pool", "volume adopt needs --pool POOL"));
    auto backing = args.options.find("backing");
    if (backing == args.options.end() || backing->second.empty()) {
      return usage("volume adopt needs --backing NAME (the pool's volume: a file pool's <dir>/NAME.img)");
    }
    cmd.backing = backing->second;
    ASSIGN_OR_RETURN(cmd.group, nameOption(args, "group", "group", "volume adopt needs --group GROUP"));
    cmd.dry_run = args.options.count("dry-run") > 0;
    return cmd;
  }
  if (verb == "forget") return volumeCommand(args, CommandKind::kVolumeForget, " NAME", {});
  if (verb == "update") {
    ASSIGN_OR_RETURN(Command cmd, volumeCommand(args, CommandKind::kVolumeUpdate,
                                                " NAME [--replicas N] [--group GROUP] [--size SIZE]",
                                                {"replicas", "group", "size"}));
    if (args.options.empty()) return usage("volume update needs --replicas N, --group GROUP or --size SIZE");
    if (auto replicas = args.options.find("replicas"); replicas != args.options.end()) {
      ASSIGN_OR_RETURN(cmd.replicas, parseReplicas(replicas->second));
    }
    if (args.options.count("group")) {
      ASSIGN_OR_RETURN(cmd.group, nameOption(args, "group", "group", ""));
    }
    if (args.options.count("size")) {
      ASSIGN_OR_RETURN(cmd.size_bytes, sizeOption(args, ""));
    }
    return cmd;
  }
  if (verb == "export" || verb == "import") {
    const bool out = verb == "export";
    const std::string command = "volume " + verb;
    RETURN_IF_ERROR(checkArity(args, 4, command,
                               out ? " NAME FILE [--offset BYTES] [--progress]   (FILE -: stdout)"
                                   : " NAME FILE [--offset BYTES] [--progress] [--target-is-zero]   (FILE -: stdin)"));
    RETURN_IF_ERROR(checkOptions(args, command,
                                 out ? std::set<std::string>{"offset", "progress"}
                                     : std::set<std::string>{"offset", "progress", "target-is-zero"}));
    RETURN_IF_ERROR(checkName("volume", args.words[2]));
    Command cmd;
    cmd.kind = out ? CommandKind::kVolumeExport : CommandKind::kVolumeImport;
    cmd.name = args.words[2];
    cmd.file = args.words[3];
    if (auto offset = args.options.find("offset"); offset != args.options.end()) {
      const std::string& text = offset->second;
      auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), cmd.offset);
      if (text.empty() || ec != std::errc() || end != text.data() + text.size()) {
        return usage("--offset must be a byte count, not '" + text + "'");
      }
    }
    cmd.progress = args.options.count("progress") > 0;
    cmd.target_is_zero = args.options.count("target-is-zero") > 0;
    return cmd;
  }
  return usage(
      "usage: tandem volume create|list|show|delete|promote|resolve|grow|update|clone|adopt|forget|attach|detach|"
      "attachments|export|import ...");
}

// snapshot create|delete|revert VOLUME SNAPSHOT, snapshot list VOLUME.
Result<Command> parseSnapshot(const ParsedArgs& args) {
  const std::string verb = args.words.size() > 1 ? args.words[1] : "";
  Command cmd;
  if (verb == "list") {
    RETURN_IF_ERROR(checkArity(args, 3, "snapshot list", " VOLUME"));
    RETURN_IF_ERROR(checkOptions(args, "snapshot list", {}));
    RETURN_IF_ERROR(checkName("volume", args.words[2]));
    cmd.kind = CommandKind::kSnapshotList;
    cmd.name = args.words[2];
    return cmd;
  }
  if (verb == "create" || verb == "delete" || verb == "revert") {
    RETURN_IF_ERROR(checkArity(args, 4, "snapshot " + verb, " VOLUME SNAPSHOT"));
    RETURN_IF_ERROR(checkOptions(args, "snapshot " + verb, {}));
    RETURN_IF_ERROR(checkName("volume", args.words[2]));
    RETURN_IF_ERROR(checkName("snapshot", args.words[3]));
    cmd.kind = verb == "create"   ? CommandKind::kSnapshotCreate
               : verb == "delete" ? CommandKind::kSnapshotDelete
                                  : CommandKind::kSnapshotRevert;
    cmd.name = args.words[2];
    cmd.snapshot = args.words[3];
    return cmd;
  }
  return usage("usage: tandem snapshot create|list|delete|revert ...");
}

// libvirt pool-xml GROUP --mount DIR [--name POOL]; libvirt disk-xml VOLUME [--nbd] [--pool POOL]
// [--target DEV]. Each reads its group or volume (GET) and prints XML.
Result<Command> parseLibvirt(const ParsedArgs& args) {
  const std::string verb = args.words.size() > 1 ? args.words[1] : "";
  Command cmd;
  if (verb == "pool-xml") {
    RETURN_IF_ERROR(checkArity(args, 3, "libvirt pool-xml", " GROUP --mount DIR [--name POOL]"));
    RETURN_IF_ERROR(checkOptions(args, "libvirt pool-xml", {"mount", "name"}));
    RETURN_IF_ERROR(checkName("group", args.words[2]));
    auto mount = args.options.find("mount");
    if (mount == args.options.end() || mount->second.empty() || mount->second[0] != '/') {
      return usage("libvirt pool-xml needs --mount DIR, an absolute path (tandem-pool-fs's mount point)");
    }
    cmd.kind = CommandKind::kLibvirtPoolXml;
    cmd.name = args.words[2];
    cmd.mount = mount->second;
    if (auto name = args.options.find("name"); name != args.options.end()) {
      RETURN_IF_ERROR(checkName("libvirt pool", name->second));
      cmd.libvirt_pool = name->second;
    }
    return cmd;
  }
  if (verb == "disk-xml") {
    RETURN_IF_ERROR(checkArity(args, 3, "libvirt disk-xml", " VOLUME [--nbd] [--pool POOL] [--target DEV]"));
    RETURN_IF_ERROR(checkOptions(args, "libvirt disk-xml", {"nbd", "pool", "target"}));
    RETURN_IF_ERROR(checkName("volume", args.words[2]));
    cmd.kind = CommandKind::kLibvirtDiskXml;
    cmd.name = args.words[2];
    cmd.nbd = args.options.count("nbd") > 0;
    if (auto pool = args.options.find("pool"); pool != args.options.end()) {
      if (cmd.nbd) return usage("--pool does not apply with --nbd");
      RETURN_IF_ERROR(checkName("libvirt pool", pool->second));
      cmd.libvirt_pool = pool->second;
    }
    if (auto target = args.options.find("target"); target != args.options.end()) {
      RETURN_IF_ERROR(checkName("target device", target->second));
      cmd.target = target->second;
    }
    return cmd;
  }
  return usage("usage: tandem libvirt pool-xml GROUP --mount DIR | libvirt disk-xml VOLUME [--nbd]");
}

Result<Command> parseListOnly(const ParsedArgs& args, CommandKind kind) {
  const std::string noun = args.words[0];
  if (args.words.size() != 2 || args.words[1] != "list") return usage("usage: tandem " + noun + " list");
  RETURN_IF_ERROR(checkOptions(args, noun + " list", {}));
  Command cmd;
  cmd.kind = kind;
  return cmd;
}

}  // namespace

Result<Command> parseCommand(const ParsedArgs& args) {
  if (args.words.empty()) return usage("no command given");
  const std::string& noun = args.words[0];
  if (noun == "node" && args.words.size() > 1 && args.words[1] == "delete") {
    RETURN_IF_ERROR(checkArity(args, 3, "node delete", " NAME"));
    RETURN_IF_ERROR(checkOptions(args, "node delete", {}));
    RETURN_IF_ERROR(checkName("node", args.words[2]));
    Command cmd;
    cmd.kind = CommandKind::kNodeDelete;
    cmd.name = args.words[2];
    return cmd;
  }
  if (noun == "node" && args.words.size() > 1 && args.words[1] == "evacuate") {
    RETURN_IF_ERROR(checkArity(args, 3, "node evacuate", " NAME"));
    RETURN_IF_ERROR(checkOptions(args, "node evacuate", {"cancel"}));
    RETURN_IF_ERROR(checkName("node", args.words[2]));
    Command cmd;
    cmd.kind = CommandKind::kNodeEvacuate;
    cmd.name = args.words[2];
    cmd.cancel = args.options.count("cancel") > 0;
    return cmd;
  }
  if (noun == "node") return parseListOnly(args, CommandKind::kNodeList);
  if (noun == "pool") return parseListOnly(args, CommandKind::kPoolList);
  if (noun == "group") return parseGroup(args);
  if (noun == "volume") return parseVolume(args);
  if (noun == "snapshot") return parseSnapshot(args);
  if (noun == "libvirt") return parseLibvirt(args);
  if (noun == "version") {
    RETURN_IF_ERROR(checkArity(args, 1, "version", ""));
    RETURN_IF_ERROR(checkOptions(args, "version", {}));
    return Command{};
  }
  return usage("unknown command '" + noun + "'");
}

ApiCall apiCallFor(const Command& cmd) {
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> json(buffer);
  const std::string group_path = "/v1/resource-groups/" + http::percentEncode(cmd.name);
  const std::string volume_path = "/v1/volumes/" + http::percentEncode(cmd.name);
  switch (cmd.kind) {
    case CommandKind::kNodeList: return {"GET", "/v1/nodes", ""};
    case CommandKind::kNodeDelete: return {"DELETE", "/v1/nodes/" + http::percentEncode(cmd.name), ""};
    case CommandKind::kNodeEvacuate:
      return {cmd.cancel ? "DELETE" : "POST", "/v1/nodes/" + http::percentEncode(cmd.name) + "/evacuate", ""};
    case CommandKind::kPoolList: return {"GET", "/v1/storage-pools", ""};
    case CommandKind::kGroupList: return {"GET", "/v1/resource-groups", ""};
    case CommandKind::kGroupShow: return {"GET", group_path, ""};
    case CommandKind::kGroupDelete: return {"DELETE", group_path, ""};
    case CommandKind::kGroupCreate:
      json.StartObject();
      json.Key("name");
      json.String(cmd.name);
      json.Key("replicas");
      json.Int(cmd.replicas);
      json.Key("engine");
      json.String(cmd.engine);
      json.Key("thin");
      json.Bool(cmd.thin);
      if (!cmd.pools.empty()) {
        json.Key("pools");
        json.StartArray();
        for (const auto& p : cmd.pools) json.String(p);
        json.EndArray();
      }
      if (!cmd.spread_by.empty()) {
        json.Key("replicas_on_different");
        json.StartArray();
        for (const auto& k : cmd.spread_by) json.String(k);
        json.EndArray();
      }
      if (cmd.overprovision) {
        json.Key("overprovision");
        json.Double(*cmd.overprovision);
      }
      if (!cmd.quorum.empty()) {
        json.Key("quorum");
        json.String(cmd.quorum);
      }
      if (cmd.multiattach) {
        json.Key("allow_multiattach");
        json.Bool(true);
      }
      if (!cmd.weights.empty()) {
        json.Key("placement_weights");
        json.StartObject();
        for (const auto& [key, value] : cmd.weights) {
          json.Key(key.c_str());
          json.Double(value);
        }
        json.EndObject();
      }
      json.EndObject();
      return {"POST", "/v1/resource-groups", buffer.GetString()};
    case CommandKind::kVolumeList: return {"GET", "/v1/volumes", ""};
    case CommandKind::kVolumeShow:
    case CommandKind::kVolumeExport:
    case CommandKind::kVolumeImport: return {"GET", volume_path, ""};
    case CommandKind::kVolumeDelete: return {"DELETE", volume_path, ""};
    case CommandKind::kVolumeCreate:
      json.StartObject();
      json.Key("name");
      json.String(cmd.name);
      json.Key("size_bytes");
      json.Uint64(cmd.size_bytes);
      json.Key("resource_group");
      json.String(cmd.group);
      json.EndObject();
      return {"POST", cmd.dry_run ? "/v1/volumes?dry_run=true" : "/v1/volumes", buffer.GetString()};
    case CommandKind::kVolumePromote:
      json.StartObject();
      json.Key("node");
      json.String(cmd.node);
      json.Key("force");
      json.Bool(cmd.force);
      json.EndObject();
      return {"POST", volume_path + "/promote", buffer.GetString()};
    case CommandKind::kVolumeGrow:
      json.StartObject();
      json.Key("size_bytes");
      json.Uint64(cmd.size_bytes);
      json.EndObject();
      return {"PATCH", volume_path, buffer.GetString()};
    case CommandKind::kVolumeClone:
      json.StartObject();
      json.Key("name");
      json.String(cmd.name);
      json.Key("size_bytes");
      json.Uint64(cmd.size_bytes);
      json.Key("resource_group");
      json.String(cmd.group);
      json.Key("source");
      json.StartObject();
      json.Key("volume");
      json.String(cmd.source);
      if (!cmd.snapshot.empty()) {
        json.Key("snapshot");
        json.String(cmd.snapshot);
      }
      json.EndObject();
      json.EndObject();
      return {"POST", "/v1/volumes", buffer.GetString()};
    case CommandKind::kSnapshotList: return {"GET", volume_path + "/snapshots", ""};
    case CommandKind::kSnapshotRevert:
      return {"POST", volume_path + "/snapshots/" + http::percentEncode(cmd.snapshot) + "/revert", "{}"};
    case CommandKind::kSnapshotDelete:
      return {"DELETE", volume_path + "/snapshots/" + http::percentEncode(cmd.snapshot), ""};
    case CommandKind::kSnapshotCreate:
      json.StartObject();
      json.Key("name");
      json.String(cmd.snapshot);
      json.EndObject();
      return {"POST", volume_path + "/snapshots", buffer.GetString()};
    case CommandKind::kVolumeAttach:
      json.StartObject();
      json.Key("host");
      json.String(cmd.host);
      json.Key("mode");
      json.String(cmd.mode);
      json.EndObject();
      return {"POST", volume_path + "/attachments", buffer.GetString()};
    case CommandKind::kVolumeDetach:
      return {"DELETE", volume_path + "/attachments/" + http::percentEncode(cmd.host) + (cmd.force ? "?force=true" : ""),
              ""};
    case CommandKind::kVolumeAttachments: return {"GET", volume_path + "/attachments", ""};
    case CommandKind::kVolumeResolve:
      json.StartObject();
      json.Key("keep");
      json.String(cmd.node);
      json.EndObject();
      return {"POST", volume_path + "/resolve", buffer.GetString()};
    case CommandKind::kVolumeAdopt:
      json.StartObject();
      json.Key("node");
      json.String(cmd.node);
      json.Key("pool");
      json.String(cmd.pool);
      json.Key("backing_name");
      json.String(cmd.backing);
      json.Key("resource_group");
      json.String(cmd.group);
      if (cmd.dry_run) {
        json.Key("dry_run");
        json.Bool(true);
      }
      json.EndObject();
      return {"POST", volume_path + "/adopt", buffer.GetString()};
    case CommandKind::kVolumeForget: return {"POST", volume_path + "/forget", "{}"};
    case CommandKind::kVolumeUpdate:
      json.StartObject();
      if (cmd.size_bytes != 0) {
        json.Key("size_bytes");
        json.Uint64(cmd.size_bytes);
      }
      if (cmd.replicas != 0) {
        json.Key("replicas");
        json.Int(cmd.replicas);
      }
      if (!cmd.group.empty()) {
        json.Key("resource_group");
        json.String(cmd.group);
      }
      json.EndObject();
      return {"PATCH", volume_path, buffer.GetString()};
    case CommandKind::kLibvirtPoolXml: return {"GET", group_path, ""};
    case CommandKind::kLibvirtDiskXml: return {"GET", volume_path, ""};
    case CommandKind::kVersion: return {"GET", "/v1/version", ""};
  }
  return {"GET", "/v1/version", ""};
}

std::string usageText() {
  return "usage: tandem [--url URL] [--token TOKEN] [--ca-file PATH] [--insecure] [--json]\n"
         "              [--config PATH] COMMAND\n"
         "\n"
         "commands:\n"
         "  node list | node delete NAME   (delete: a node gone for good, holding no replicas)\n"
         "  node evacuate NAME [--cancel]   (move every replica off it; `node list` shows the progress)\n"
         "  pool list\n"
         "  group create NAME --replicas N [--engine native|drbd] [--thin|--thick]\n"
         "               [--pools P,...] [--spread-by LABEL-KEY,...] [--overprovision R]\n"
         "               [--quorum off|majority]   (majority: no writes without a majority)\n"
         "               [--multiattach]   (volumes may be attached on several hosts at once)\n"
         "               [--weights free_space=W,provisioned=W,replica_count=W]   (placement; default 1,1,0)\n"
         "  group list | group show NAME | group delete NAME\n"
         "  volume create NAME --size SIZE --group GROUP [--dry-run]   (SIZE: 1GiB, 512MiB, 10G, bytes;\n"
         "               --dry-run: show where its replicas would go, with their scores; create nothing)\n"
         "  volume list | volume show NAME | volume delete NAME\n"
         "  volume promote NAME --node NODE [--force]   (when the primary's node is gone)\n"
         "  volume attach NAME --host HOST [--mode block|nbd]   (block: /dev/tandem/NAME on HOST)\n"
         "  volume detach NAME --host HOST [--force]   (force: also when open, or host offline)\n"
         "  volume attachments NAME\n"
         "  volume grow NAME --size SIZE   (online; the new size, never smaller)\n"
         "  volume update NAME [--replicas N] [--group GROUP] [--size SIZE]\n"
         "               (all or nothing: new replicas are synced from the primary, surplus ones go)\n"
         "  volume adopt NAME --node NODE --pool POOL --backing BACKING --group GROUP [--dry-run]\n"
         "               (an existing backing volume, e.g. a file pool's <dir>/BACKING.img, becomes\n"
         "               a 1-replica volume with its data; --dry-run only checks and shows its size)\n"
         "  volume forget NAME   (Tandem lets go of it; its data stays on the primary's node)\n"
         "  volume clone NAME --from VOLUME [--snapshot SNAPSHOT] --size SIZE --group GROUP\n"
         "               (a new volume with the snapshot's data; SIZE at least the snapshot's)\n"
         "  snapshot create VOLUME SNAPSHOT   (crash-consistent, on every up-to-date replica)\n"
         "  snapshot list VOLUME | snapshot delete VOLUME SNAPSHOT\n"
         "  snapshot revert VOLUME SNAPSHOT   (the volume returns to it; not while attached)\n"
         "  volume resolve NAME --keep NODE   (split brain: keep NODE's data, resync the others)\n"
         "  volume export NAME FILE [--offset BYTES] [--progress]\n"
         "               (the volume's bytes to FILE, sparse; FILE - is stdout; --offset resumes)\n"
         "  volume import NAME FILE [--offset BYTES] [--progress] [--target-is-zero]\n"
         "               (FILE's bytes into the volume; - is stdin; --target-is-zero skips zero chunks)\n"
         "  libvirt pool-xml GROUP --mount DIR [--name POOL]   (a dir pool on tandem-pool-fs's mount)\n"
         "  libvirt disk-xml VOLUME [--pool POOL] [--target DEV]   (<disk type='volume'> of the pool)\n"
         "  libvirt disk-xml VOLUME --nbd [--target DEV]   (<disk type='network'>: the NBD export)\n"
         "  version\n"
         "\n"
         "settings: flags > TANDEM_URL, TANDEM_TOKEN, TANDEM_CA_FILE > config file\n"
         "(--config PATH, $TANDEM_CONFIG or ~/.config/tandem/cli.conf: 'key = value' lines,\n"
         "keys url, token, ca_file, insecure).\n"
         "exit codes: 0 ok, 1 the server refused, 2 usage error, 3 cannot reach the server.\n";
}

}  // namespace tandem::cli
