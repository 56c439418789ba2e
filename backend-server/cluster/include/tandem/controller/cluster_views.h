// Values the cluster service takes from nodes (reports, registrations: the nodeapi messages) and
// gives to the API (views, desired state). Reports are observed state: kept in memory, never in
// the store. View states are enums; their API names are in one table each (cluster_views.cc),
// converted only where views are rendered.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tandem/controller/records.h"
#include "tandem/nodeapi/messages.h"

namespace tandem::controller {

// The node <-> controller contract is nodeapi's; these names are the controller's for it.
using PoolReport = nodeapi::PoolReport;
using PeerReport = nodeapi::PeerReport;
using ReplicaReport = nodeapi::ReplicaReport;
using NodeStatusReport = nodeapi::StatusReport;
using RegisterNodeRequest = nodeapi::Registration;
using DesiredPeer = nodeapi::DesiredPeer;
using DesiredReplica = nodeapi::DesiredReplica;
using DesiredState = nodeapi::DesiredState;

struct RegisterNodeResult {
  NodeRecord node;
  std::string token;  // the node's new bearer token (shown once)
  std::string cluster_id;
  bool created = false;
};

struct NodeView {
  NodeRecord node;
  bool online = false;
  int64_t last_heartbeat = 0;  // unix seconds; 0: never since the controller started
  std::vector<PoolReport> pools;
  std::string report_error{};  // the node heartbeats but says its status reports are refused, and why
  // From the last status report; before the first one: not loaded, saying so.
  nodeapi::DrbdCapabilityReport drbd{false, "", "the node has not reported since the controller started"};
  // While node.evacuating: its diskful replicas still on it, how many of them are moving (a new
  // replica placed elsewhere, this one leaving once it holds the data), and the volumes that
  // cannot move now, each with why (retried every tick).
  struct Evacuation {
    uint32_t replicas_left = 0;
    uint32_t moving = 0;
    std::map<std::string, std::string> blocked;  // volume name -> reason
  };
  std::optional<Evacuation> evacuation{};
};

struct PoolView {
  std::string node;
  bool node_online = false;
  PoolReport pool;
  bool reported = false;  // capacity figures are from a live report
};

// A replica as the controller sees it (derived, see volume_state.h).
enum class ReplicaState {
  kCreating,  // placed; its node has not reported it yet (or the primary is still connecting)
  kUpToDate,  // has every write
  kSyncing,   // receiving a full sync (sync_progress says how far)
  kOutdated,  // may miss writes
  kOffline,   // its node is offline
  kError,     // its node failed to make it real (reason says why)
  kSplitBrain,  // its copy holds writes the primary does not have: kept apart until resolved
};

// A volume's state, derived from its replicas' states.
enum class VolumeState {
  kCreating,   // some replicas not reported yet, none bad or syncing
  kAvailable,  // every replica up to date
  kAttached,   // available, and attached on some host (attached_hosts)
  kResyncing,  // some replicas syncing, none bad
  kDegraded,   // some replica offline, outdated or in error (reason names each)
  kSplitBrain,  // some copy diverged from the primary's: an operator must resolve (reason says how)
};

// The API's (snake_case) names: "up_to_date", "available"...
std::string_view name(ReplicaState state);
std::string_view name(VolumeState state);
std::string_view name(SnapshotState state);

struct ReplicaView {
  std::string node;
  std::string pool;
  bool diskful = true;
  bool primary = false;
  ReplicaState state = ReplicaState::kCreating;
  double sync_progress = 0.0;  // 0..1, meaningful while syncing
  std::string reason;
  uint64_t allocated_bytes = 0;  // from the node's last report (0 when none)
  bool leaving = false;          // deleted once a resource-group change has moved the primary (regroup.h)
};

// A snapshot with where its copies are: the nodes whose last report holds it.
struct SnapshotView {
  SnapshotRecord snapshot;
  std::string volume;  // the volume's name
  std::vector<std::string> copies;
};

struct VolumeView {
  VolumeRecord volume;
  std::string engine = "native";  // its resource group's engine ("native" or "drbd")
  VolumeState state = VolumeState::kCreating;
  std::string reason;
  std::string nbd_uri;  // where the primary serves it
  std::vector<ReplicaView> replicas;
  std::vector<std::string> attached_hosts;  // hosts it is attached on (detaching ones included)
};

}  // namespace tandem::controller
