#include "tandem/drbd/events2.h"

#include <charconv>
#include <cstdlib>
#include <vector>

namespace tandem::drbd {
namespace {

struct VerbName {
  EventVerb verb;
  std::string_view name;
};
constexpr VerbName kVerbs[] = {{EventVerb::kExists, "exists"}, {EventVerb::kCreate, "create"},
                               {EventVerb::kChange, "change"}, {EventVerb::kDestroy, "destroy"},
                               {EventVerb::kCall, "call"},     {EventVerb::kResponse, "response"}};

struct ObjectName {
  EventObject object;
  std::string_view name;
};
constexpr ObjectName kObjects[] = {{EventObject::kResource, "resource"},     {EventObject::kDevice, "device"},
                                   {EventObject::kConnection, "connection"}, {EventObject::kPeerDevice, "peer-device"},
                                   {EventObject::kPath, "path"},             {EventObject::kHelper, "helper"},
                                   {EventObject::kEndOfDump, "-"}};

Status bad(std::string_view line, const std::string& why) {
  std::string shown(line.substr(0, 120));
  return Status(ErrorCode::kProtocol, "events2 line '" + shown + "': " + why);
}

std::vector<std::string_view> words(std::string_view line) {
  std::vector<std::string_view> out;
  size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && (line[i] == ' ' || line[i] == '\t' || line[i] == '\r')) ++i;
    size_t start = i;
    while (i < line.size() && line[i] != ' ' && line[i] != '\t' && line[i] != '\r') ++i;
    if (i > start) out.push_back(line.substr(start, i - start));
  }
  return out;
}

// "2026-09-29T14:15:14.414179+08:00": a --timestamps prefix.
bool isTimestamp(std::string_view w) { return w.size() > 10 && w[0] >= '0' && w[0] <= '9' && w[4] == '-'; }

Result<uint64_t> number(const std::map<std::string, std::string>& f, const std::string& key) {
  auto it = f.find(key);
  if (it == f.end()) return Status(ErrorCode::kProtocol, "events2: missing " + key + ":");
  uint64_t v = 0;
  auto [end, ec] = std::from_chars(it->second.data(), it->second.data() + it->second.size(), v);
  if (ec != std::errc() || end != it->second.data() + it->second.size()) {
    return Status(ErrorCode::kProtocol, "events2: " + key + ":" + it->second.substr(0, 40) + " is not a number");
  }
  return v;
}

// The number under `key`, or nullopt when the line does not carry it.
Result<std::optional<uint64_t>> optionalNumber(const std::map<std::string, std::string>& f, const std::string& key) {
  if (f.find(key) == f.end()) return std::optional<uint64_t>{};
  ASSIGN_OR_RETURN(uint64_t v, number(f, key));
  return std::optional<uint64_t>{v};
}

Result<uint32_t> smallNumber(const std::map<std::string, std::string>& f, const std::string& key, uint64_t max) {
  ASSIGN_OR_RETURN(uint64_t v, number(f, key));
  if (v > max) return Status(ErrorCode::kProtocol, "events2: " + key + ":" + std::to_string(v) + " is too large");
  return static_cast<uint32_t>(v);
}

const std::string* field(const std::map<std::string, std::string>& f, const std::string& key) {
  auto it = f.find(key);
  return it == f.end() ? nullptr : &it->second;
}

void setText(const std::map<std::string, std::string>& f, const std::string& key, std::string& out) {
  if (auto* v = field(f, key)) out = *v;
}

void setBool(const std::map<std::string, std::string>& f, const std::string& key, bool& out) {
  if (auto* v = field(f, key)) out = (*v == "yes");
}

}  // namespace

std::string_view eventVerbName(EventVerb verb) {
  for (const auto& v : kVerbs) {
    if (v.verb == verb) return v.name;
  }
  return "?";
}

std::string_view eventObjectName(EventObject object) {
  for (const auto& o : kObjects) {
    if (o.object == object) return o.name;
  }
  return "?";
}

Result<Events2Event> parseEvents2Line(std::string_view line) {
  auto w = words(line);
  size_t i = 0;
  if (!w.empty() && isTimestamp(w[0])) i = 1;
  if (w.size() < i + 2) return bad(line, "expected '<verb> <object> key:value...'");
  Events2Event ev;
  bool found = false;
  for (const auto& v : kVerbs) {
    if (v.name == w[i]) {
      ev.verb = v.verb;
      found = true;
    }
  }
  if (!found) return bad(line, "unknown verb '" + std::string(w[i].substr(0, 40)) + "'");
  found = false;
  for (const auto& o : kObjects) {
    if (o.name == w[i + 1]) {
      ev.object = o.object;
      found = true;
    }
  }
  if (!found) return bad(line, "unknown object '" + std::string(w[i + 1].substr(0, 40)) + "'");
  for (size_t k = i + 2; k < w.size(); ++k) {
    auto colon = w[k].find(':');
    if (colon == std::string_view::npos || colon == 0) {
      return bad(line, "'" + std::string(w[k].substr(0, 40)) + "' is not key:value");
    }
    std::string value(w[k].substr(colon + 1));
    if (auto arrow = value.find("->"); arrow != std::string::npos) value = value.substr(arrow + 2);
    ev.fields[std::string(w[k].substr(0, colon))] = std::move(value);
  }
  if (ev.object == EventObject::kEndOfDump && !ev.fields.empty()) return bad(line, "'-' takes no fields");
  if (ev.object != EventObject::kEndOfDump && !field(ev.fields, "name")) return bad(line, "no name:");
  return ev;
}

Result<Events2State> foldEvents2Dump(std::string_view text) {
  Events2State state;
  size_t number = 0;
  while (!text.empty()) {
    const size_t end = text.find('\n');
    std::string_view line = text.substr(0, end);
    text = end == std::string_view::npos ? std::string_view{} : text.substr(end + 1);
    ++number;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.find_first_not_of(" \t") == std::string_view::npos) continue;
    auto event = parseEvents2Line(line);
    Status applied = event.isOk() ? state.apply(*event) : event.status();
    if (!applied.isOk()) {
      return Status(ErrorCode::kProtocol, "events2 dump line " + std::to_string(number) + ": " + applied.message());
    }
  }
  if (!state.initialDumpDone()) return Status(ErrorCode::kProtocol, "events2 dump without its end (`exists -`)");
  return state;
}

const DrbdResourceState* Events2State::resource(const std::string& name) const {
  auto it = resources_.find(name);
  return it == resources_.end() ? nullptr : &it->second;
}

Status Events2State::apply(const Events2Event& ev) {
  const auto& f = ev.fields;
  if (ev.object == EventObject::kEndOfDump) {
    initial_dump_done_ = true;
    return Status::ok();
  }
  const std::string* name = field(f, "name");
  if (!name) return Status(ErrorCode::kProtocol, "events2: " + std::string(eventObjectName(ev.object)) + " without name:");
  const bool gone = ev.verb == EventVerb::kDestroy;
  switch (ev.object) {
    case EventObject::kResource: {
      if (gone) {
        resources_.erase(*name);
        return Status::ok();
      }
      if (ev.verb == EventVerb::kCall || ev.verb == EventVerb::kResponse) return Status::ok();
      auto& r = resources_[*name];
      setText(f, "role", r.role);
      // `suspended:no`, or why it is: user (suspend-io), no-data, fencing, quorum (comma-joined).
      if (auto* v = field(f, "suspended")) r.suspended = *v != "no";
      return Status::ok();
    }
    case EventObject::kDevice: {
      ASSIGN_OR_RETURN(uint32_t volume, smallNumber(f, "volume", 65535));
      ASSIGN_OR_RETURN(std::optional<uint64_t> size, optionalNumber(f, "size"));
      ASSIGN_OR_RETURN(std::optional<uint64_t> upper, optionalNumber(f, "upper-pending"));
      ASSIGN_OR_RETURN(std::optional<uint64_t> lower, optionalNumber(f, "lower-pending"));
      std::optional<uint32_t> minor;
      if (field(f, "minor")) {
        ASSIGN_OR_RETURN(uint32_t m, smallNumber(f, "minor", (1u << 20) - 1));
        minor = m;
      }
      if (gone) {
        if (auto it = resources_.find(*name); it != resources_.end()) it->second.devices.erase(volume);
        return Status::ok();
      }
      auto& d = resources_[*name].devices[volume];
      if (minor) d.minor = *minor;
      if (size) d.size_kib = *size;
      if (upper) d.upper_pending = *upper;
      if (lower) d.lower_pending = *lower;
      setText(f, "disk", d.disk);
      setBool(f, "client", d.client);
      setBool(f, "quorum", d.quorum);
      return Status::ok();
    }
    case EventObject::kConnection:
    case EventObject::kPeerDevice:
    case EventObject::kPath:
    case EventObject::kHelper: {
      if (ev.object == EventObject::kHelper && !field(f, "peer-node-id")) return Status::ok();  // resource helpers
      ASSIGN_OR_RETURN(uint32_t peer, smallNumber(f, "peer-node-id", 31));
      uint32_t volume = 0;
      if (ev.object == EventObject::kPeerDevice) {
        ASSIGN_OR_RETURN(volume, smallNumber(f, "volume", 65535));
      }
      std::optional<double> done;
      if (auto* d = field(f, "done")) {
        char* end = nullptr;
        double v = std::strtod(d->c_str(), &end);
        if (d->empty() || end != d->c_str() + d->size() || !(v >= 0.0 && v <= 100.0)) {
          return Status(ErrorCode::kProtocol, "events2: done:" + d->substr(0, 40) + " is not a percentage");
        }
        done = v;
      }
      ASSIGN_OR_RETURN(std::optional<uint64_t> out_of_sync, optionalNumber(f, "out-of-sync"));
      ASSIGN_OR_RETURN(std::optional<uint64_t> pending, optionalNumber(f, "pending"));
      ASSIGN_OR_RETURN(std::optional<uint64_t> unacked, optionalNumber(f, "unacked"));
      ASSIGN_OR_RETURN(std::optional<uint64_t> ap_in_flight, optionalNumber(f, "ap-in-flight"));
      if (gone && ev.object == EventObject::kConnection) {
        if (auto it = resources_.find(*name); it != resources_.end()) it->second.peers.erase(peer);
        return Status::ok();
      }
      if (ev.verb == EventVerb::kResponse) return Status::ok();
      auto& p = resources_[*name].peers[peer];
      setText(f, "conn-name", p.conn_name);
      switch (ev.object) {
        case EventObject::kConnection:
          setText(f, "connection", p.connection);
          setText(f, "role", p.role);
          if (ap_in_flight) p.ap_in_flight = *ap_in_flight;
          if (p.connection == "Connected") p.split_brain = false;  // resolved and reconnected
          break;
        case EventObject::kPeerDevice:
          if (volume != 0 || gone) break;
          setText(f, "replication", p.replication);
          setText(f, "peer-disk", p.peer_disk);
          if (done) p.done_percent = done;
          if (p.replication != "SyncSource" && p.replication != "SyncTarget" && p.replication.rfind("PausedSync", 0) != 0) {
            p.done_percent.reset();
          }
          if (out_of_sync) p.out_of_sync_kib = *out_of_sync;
          if (pending) p.pending = *pending;
          if (unacked) p.unacked = *unacked;
          break;
        case EventObject::kPath:
          if (gone) {
            p.path_established = false;
          } else {
            setBool(f, "established", p.path_established);
          }
          break;
        case EventObject::kHelper:
          if (auto* h = field(f, "helper"); h && *h == "split-brain" && ev.verb == EventVerb::kCall) p.split_brain = true;
          break;
        default:
          break;
      }
      return Status::ok();
    }
    case EventObject::kEndOfDump:
      break;
  }
  return Status::ok();
}

std::string inFlight(const DrbdResourceState& r) {
  std::string out;
  auto add = [&out](const std::string& who, const char* key, uint64_t v) {
    if (v == 0) return;
    if (!out.empty()) out += ", ";
    out += who + ": " + key + ":" + std::to_string(v);
  };
  if (auto d = r.devices.find(0); d != r.devices.end()) {
    add("device", "upper-pending", d->second.upper_pending);
    add("device", "lower-pending", d->second.lower_pending);
  }
  for (const auto& [id, p] : r.peers) {
    const std::string who = "peer " + (p.conn_name.empty() ? std::to_string(id) : p.conn_name);
    add(who, "pending", p.pending);
    add(who, "unacked", p.unacked);
    add(who, "ap-in-flight", p.ap_in_flight);
  }
  return out;
}

}  // namespace tandem::drbd
