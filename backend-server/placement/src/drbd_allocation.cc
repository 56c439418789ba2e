#include "tandem/controller/drbd_allocation.h"

#include <algorithm>
#include <charconv>
#include <set>

namespace tandem::controller {
namespace {

Status exhausted(const std::string& what, uint32_t first, uint32_t last, const std::string& holder) {
  return Status(ErrorCode::kNoSpace, "no free DRBD " + what + " in " + std::to_string(first) + ".." +
                                         std::to_string(last) + ": all " + std::to_string(last - first + 1) +
                                         " are used by " + holder)
      .withReason("drbd_range_exhausted");
}

// The lowest number in first..last not in `used`, or nothing.
bool lowestFree(const std::set<uint32_t>& used, uint32_t first, uint32_t last, uint32_t* out) {
  for (uint64_t n = first; n <= last; ++n) {
    if (!used.count(static_cast<uint32_t>(n))) {
      *out = static_cast<uint32_t>(n);
      return true;
    }
  }
  return false;
}

std::set<uint32_t> portsOn(const std::string& node, const std::vector<DrbdVolumeAllocation>& in_use) {
  std::set<uint32_t> used;
  for (const auto& v : in_use) {
    for (const auto& r : v.replicas) {
      if (r.node == node) used.insert(r.port);
    }
  }
  return used;
}

Result<uint32_t> freePort(const std::string& node, std::set<uint32_t> used, const DrbdRanges& ranges) {
  uint32_t port = 0;
  if (!lowestFree(used, ranges.port_first, ranges.port_last, &port)) {
    return exhausted("port on node '" + node + "'", ranges.port_first, ranges.port_last,
                     "other DRBD resources on that node");
  }
  return port;
}

}  // namespace

Status validateDrbdRanges(const DrbdRanges& r) {
  if (r.minor_first > r.minor_last || r.minor_last > (1u << 20) - 1) {
    return Status(ErrorCode::kInvalidArgument, "DRBD minor range " + std::to_string(r.minor_first) + ".." +
                                                   std::to_string(r.minor_last) + " is empty or above 1048575");
  }
  if (r.port_first == 0 || r.port_first > r.port_last || r.port_last > 65535) {
    return Status(ErrorCode::kInvalidArgument, "DRBD port range " + std::to_string(r.port_first) + ".." +
                                                   std::to_string(r.port_last) + " is empty or outside 1..65535");
  }
  if (r.max_node_ids == 0 || r.max_node_ids > 32) {
    return Status(ErrorCode::kInvalidArgument,
                  "DRBD node-ids: " + std::to_string(r.max_node_ids) + " is outside 1..32");
  }
  return Status::ok();
}

Result<DrbdVolumeAllocation> allocateDrbdVolume(const std::string& volume_uuid, const std::vector<std::string>& nodes,
                                                const std::vector<DrbdVolumeAllocation>& in_use,
                                                const DrbdRanges& ranges) {
  RETURN_IF_ERROR(validateDrbdRanges(ranges));
  if (nodes.empty()) return Status(ErrorCode::kInvalidArgument, "a DRBD volume needs at least one node");
  if (std::set<std::string>(nodes.begin(), nodes.end()).size() != nodes.size()) {
    return Status(ErrorCode::kInvalidArgument, "a node is listed twice for DRBD volume " + volume_uuid);
  }
  std::set<uint32_t> minors;
  for (const auto& v : in_use) {
    if (v.volume_uuid == volume_uuid) {
      return Status(ErrorCode::kAlreadyExists, "DRBD volume " + volume_uuid + " already has minor " +
                                                   std::to_string(v.minor));
    }
    minors.insert(v.minor);
  }
  if (nodes.size() > ranges.max_node_ids) {
    return exhausted("node-id for volume " + volume_uuid + " (" + std::to_string(nodes.size()) + " replicas)", 0,
                     ranges.max_node_ids - 1, "its other replicas");
  }
  DrbdVolumeAllocation out{volume_uuid, 0, {}};
  if (!lowestFree(minors, ranges.minor_first, ranges.minor_last, &out.minor)) {
    return exhausted("minor", ranges.minor_first, ranges.minor_last, "other volumes of the cluster");
  }
  for (size_t i = 0; i < nodes.size(); ++i) {
    ASSIGN_OR_RETURN(uint32_t port, freePort(nodes[i], portsOn(nodes[i], in_use), ranges));
    out.replicas.push_back({volume_uuid, nodes[i], static_cast<uint32_t>(i), port});
  }
  return out;
}

Result<DrbdReplicaAllocation> allocateDrbdReplica(const std::string& volume_uuid, const std::string& node,
                                                  const std::vector<DrbdVolumeAllocation>& in_use,
                                                  const DrbdRanges& ranges) {
  RETURN_IF_ERROR(validateDrbdRanges(ranges));
  auto it = std::find_if(in_use.begin(), in_use.end(),
                         [&](const DrbdVolumeAllocation& v) { return v.volume_uuid == volume_uuid; });
  if (it == in_use.end()) {
    return Status(ErrorCode::kNotFound, "DRBD volume " + volume_uuid + " has no allocation");
  }
  std::set<uint32_t> ids;
  for (const auto& r : it->replicas) {
    if (r.node == node) {
      return Status(ErrorCode::kAlreadyExists, "DRBD volume " + volume_uuid + " already has a replica on node '" +
                                                   node + "' (node-id " + std::to_string(r.node_id) + ")");
    }
    ids.insert(r.node_id);
  }
  DrbdReplicaAllocation out{volume_uuid, node, 0, 0};
  if (!lowestFree(ids, 0, ranges.max_node_ids - 1, &out.node_id)) {
    return exhausted("node-id for volume " + volume_uuid, 0, ranges.max_node_ids - 1, "its other replicas");
  }
  ASSIGN_OR_RETURN(out.port, freePort(node, portsOn(node, in_use), ranges));
  return out;
}

Result<std::pair<uint32_t, uint32_t>> parseDrbdRange(std::string_view text, const std::string& what) {
  auto bad = [&] {
    return Status(ErrorCode::kInvalidArgument,
                  what + " must be FIRST-LAST (decimal, FIRST <= LAST), got '" + std::string(text.substr(0, 40)) + "'");
  };
  const size_t dash = text.find('-');
  if (dash == std::string_view::npos) return bad();
  uint32_t first = 0, last = 0;
  auto number = [](std::string_view part, uint32_t& out) {
    auto [end, ec] = std::from_chars(part.data(), part.data() + part.size(), out);
    return !part.empty() && ec == std::errc() && end == part.data() + part.size();
  };
  if (!number(text.substr(0, dash), first) || !number(text.substr(dash + 1), last) || first > last) return bad();
  return std::make_pair(first, last);
}

}  // namespace tandem::controller
