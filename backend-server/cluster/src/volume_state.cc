#include "tandem/controller/volume_state.h"

namespace tandem::controller {
namespace {

// A secondary's state by the primary's view of it (`own`: its own report).
void fromPrimaryView(const ReplicaReport& primary_report, const ReplicaReport& own, ReplicaView& rv) {
  rv.state = ReplicaState::kOutdated;
  for (const auto& p : primary_report.peers) {
    if (p.node != rv.node) continue;
    switch (p.state) {
      case nodeapi::PeerState::kUpToDate:
        rv.state = ReplicaState::kUpToDate;
        break;
      case nodeapi::PeerState::kSyncing:
        rv.state = ReplicaState::kSyncing;
        rv.sync_progress =
            p.sync_total_bytes ? static_cast<double>(p.sync_done_bytes) / p.sync_total_bytes : 0;
        break;
      case nodeapi::PeerState::kConnecting:
        rv.state =
            own.disk == nodeapi::DiskState::kInconsistent ? ReplicaState::kSyncing : ReplicaState::kCreating;
        break;
      case nodeapi::PeerState::kSplitBrain:
        rv.state = ReplicaState::kSplitBrain;
        rv.reason = "its copy holds writes the primary does not have; it is kept apart, untouched";
        break;
      case nodeapi::PeerState::kDisconnected:
        break;  // outdated, unless another entry for that node said more
    }
  }
}

}  // namespace

VolumeView deriveVolumeView(const VolumeRecord& volume, const std::vector<const ReplicaRecord*>& replicas,
                            const NodeRecord* primary_node, const ObservedState& observed) {
  VolumeView view;
  view.volume = volume;
  const ReplicaReport* primary_report = observed.online(volume.primary_node)
                                            ? observed.replicaReport(volume.primary_node, volume.uuid)
                                            : nullptr;
  if (primary_node != nullptr) {
    view.nbd_uri =
        "nbd://" + primary_node->address + ":" + std::to_string(primary_node->nbd_port) + "/" + volume.name;
  }

  size_t creating = 0, up = 0, syncing = 0, bad = 0;
  std::vector<std::string> problems, diverged;
  for (const ReplicaRecord* record : replicas) {
    const ReplicaRecord& r = *record;
    ReplicaView rv;
    rv.node = r.node_name;
    rv.pool = r.pool_name;
    rv.diskful = r.diskful;
    rv.leaving = r.leaving;
    rv.primary = r.node_name == volume.primary_node;
    const ReplicaReport* own = observed.replicaReport(r.node_name, volume.uuid);
    if (own != nullptr) rv.allocated_bytes = own->allocated_bytes;
    if (!observed.online(r.node_name)) {
      rv.state = ReplicaState::kOffline;
      rv.reason = "node " + r.node_name + " is offline";
    } else if (own == nullptr) {
      rv.state = ReplicaState::kCreating;
    } else if (!own->error.empty()) {
      rv.state = ReplicaState::kError;
      rv.reason = own->error;
    } else if (!r.diskful) {
      // A diskless replica (a DRBD tie-breaker or client) holds no copy: its own report says
      // whether it runs (the primary's peer list leaves diskless peers out).
      rv.state = own->disk == nodeapi::DiskState::kUpToDate ? ReplicaState::kUpToDate : ReplicaState::kOutdated;
    } else if (rv.primary) {
      rv.state =
          own->disk == nodeapi::DiskState::kUpToDate ? ReplicaState::kUpToDate : ReplicaState::kOutdated;
    } else if (primary_report != nullptr) {
      fromPrimaryView(*primary_report, *own, rv);
    } else {
      rv.state =
          own->disk == nodeapi::DiskState::kInconsistent ? ReplicaState::kSyncing : ReplicaState::kOutdated;
      rv.reason = "primary " + volume.primary_node + " has not reported";
    }
    switch (rv.state) {
      case ReplicaState::kUpToDate:
        rv.sync_progress = 1.0;
        ++up;
        break;
      case ReplicaState::kCreating:
        ++creating;
        break;
      case ReplicaState::kSyncing:
        ++syncing;
        break;
      case ReplicaState::kSplitBrain:
        diverged.push_back(rv.node);
        [[fallthrough]];
      case ReplicaState::kOutdated:
      case ReplicaState::kOffline:
      case ReplicaState::kError:
        ++bad;
        problems.push_back(rv.node + ": " + std::string(name(rv.state)) +
                           (rv.reason.empty() ? "" : " (" + rv.reason + ")"));
        break;
    }
    view.replicas.push_back(std::move(rv));
  }
  if (!diverged.empty()) {
    view.state = VolumeState::kSplitBrain;
    std::string nodes;
    for (const auto& n : diverged) nodes += (nodes.empty() ? "" : ", ") + n;
    view.reason = "split brain: the copy on " + nodes + " diverged from the primary " + volume.primary_node +
                  " (each took writes the other lacks; nothing is resynced over it); choose the data to keep "
                  "with `tandem volume resolve " + volume.name + " --keep NODE`";
  } else if (up == replicas.size() && !replicas.empty()) {
    view.state = VolumeState::kAvailable;
  } else if (creating > 0 && bad == 0 && syncing == 0) {
    view.state = VolumeState::kCreating;
  } else if (syncing > 0 && bad == 0) {
    view.state = VolumeState::kResyncing;
  } else {
    view.state = VolumeState::kDegraded;
    for (const auto& p : problems) view.reason += (view.reason.empty() ? "" : "; ") + p;
  }
  if (volume.adopting && bad == 0) {
    view.state = VolumeState::kCreating;  // not usable until the node has taken the backing volume
    view.reason = "adopting backing volume '" + volume.adopted_from + "' on " + volume.primary_node;
  } else if (!volume.revert_id.empty()) {
    view.state = VolumeState::kCreating;  // not usable until the primary has reverted
    view.reason = "reverting to a snapshot";
  } else if (!volume.source_snapshot.empty() && bad == 0 && view.state != VolumeState::kAvailable) {
    // Made from a snapshot: not usable until every replica has the data.
    double done = 0;
    for (const auto& rv : view.replicas) done += rv.state == ReplicaState::kUpToDate ? 1.0 : rv.sync_progress;
    view.state = VolumeState::kCreating;
    view.reason = "copying from a snapshot: " +
                  std::to_string(static_cast<int>(100 * done / static_cast<double>(view.replicas.size()))) + "%";
  }
  return view;
}

void setEngine(VolumeView& view, const std::string& engine, const NodeRecord* nbd_attached_host) {
  view.engine = engine;
  if (engine == "drbd" && nbd_attached_host != nullptr) {
    view.nbd_uri = "nbd://" + nbd_attached_host->address + ":" + std::to_string(nbd_attached_host->nbd_port) + "/" +
                   view.volume.name;
  }
}

}  // namespace tandem::controller
