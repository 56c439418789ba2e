#include "tandem/drbd/replica_report.h"

#include <cmath>

namespace tandem::drbd {
namespace {

bool syncing(const std::string& replication) {
  return replication == "SyncSource" || replication == "SyncTarget" || replication.rfind("PausedSync", 0) == 0;
}

}  // namespace

nodeapi::ReplicaReport drbdReplicaReport(const std::string& volume_uuid, uint64_t size_bytes,
                                         const DrbdResourceState* state) {
  nodeapi::ReplicaReport r;
  r.volume_uuid = volume_uuid;
  if (!state || !state->devices.count(0)) {
    r.disk = nodeapi::DiskState::kFailed;
    r.error = "the DRBD resource is not running on this node";
    return r;
  }
  const DrbdDeviceState& dev = state->devices.at(0);
  r.primary = state->role == "Primary";
  if (dev.disk == "UpToDate") {
    r.disk = nodeapi::DiskState::kUpToDate;
  } else if (dev.disk == "Inconsistent" || dev.disk == "Attaching" || dev.disk == "Negotiating") {
    r.disk = nodeapi::DiskState::kInconsistent;
  } else if (dev.disk == "Outdated" || dev.disk == "Consistent" || dev.disk == "DUnknown") {
    r.disk = nodeapi::DiskState::kOutdated;
  } else if (dev.disk == "Diskless" && dev.client) {
    r.disk = nodeapi::DiskState::kUpToDate;  // a client reads through its peers
  } else {
    r.disk = nodeapi::DiskState::kFailed;
    r.error = "DRBD disk state " + (dev.disk.empty() ? std::string("unknown") : dev.disk);
  }
  if (!dev.quorum && r.error.empty()) r.error = "DRBD lost quorum: I/O fails until a majority is reachable";
  for (const auto& [node_id, p] : state->peers) {
    if (p.peer_disk == "Diskless") continue;
    nodeapi::PeerReport peer;
    peer.node = p.conn_name.empty() ? "node-id-" + std::to_string(node_id) : p.conn_name;
    if (p.split_brain) {
      peer.state = nodeapi::PeerState::kSplitBrain;
    } else if (p.connection == "Connected" && syncing(p.replication)) {
      peer.state = nodeapi::PeerState::kSyncing;
      peer.sync_total_bytes = size_bytes;
      double done = p.done_percent.value_or(0.0);
      peer.sync_done_bytes = static_cast<uint64_t>(std::floor(static_cast<double>(size_bytes) * done / 100.0));
    } else if (p.connection == "Connected" && p.replication == "Established" && p.peer_disk == "UpToDate") {
      peer.state = nodeapi::PeerState::kUpToDate;
    } else if (p.connection == "Connecting") {
      peer.state = nodeapi::PeerState::kConnecting;
    } else {
      peer.state = nodeapi::PeerState::kDisconnected;
    }
    r.peers.push_back(std::move(peer));
  }
  return r;
}

}  // namespace tandem::drbd
