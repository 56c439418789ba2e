// Values the cluster service takes from nodes (reports) and gives to the API (views, desired
// state). Reports are observed state: kept in memory, never in the store.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "tandem/controller/records.h"

namespace tandem::controller {

struct PoolReport {
  std::string name;
  std::string provider;
  bool thin = false;
  bool snapshots = false;
  uint64_t total_bytes = 0;
  uint64_t free_bytes = 0;
  uint64_t provisioned_bytes = 0;
};

struct PeerReport {
  std::string node;
  std::string state;              // connecting | syncing | up_to_date | disconnected
  uint64_t sync_done_bytes = 0;
  uint64_t sync_total_bytes = 0;
};

struct ReplicaReport {
  std::string volume_uuid;
  std::string disk;               // up_to_date | inconsistent | outdated | failed
  std::string generation;         // the copy's data generation (equal and up to date: same data)
  bool primary = false;
  std::string error;              // set when the node failed to make the replica real
  std::vector<PeerReport> peers;  // the primary's view of the other replicas
};

struct NodeStatusReport {
  uint64_t applied_generation = 0;
  std::vector<PoolReport> pools;
  std::vector<ReplicaReport> replicas;
};

struct RegisterNodeRequest {
  std::string name;
  std::string uuid;               // empty on first registration
  std::string address;
  uint16_t nbd_port = 0;
  uint16_t replication_port = 0;
  std::map<std::string, std::string> labels;
  std::vector<PoolReport> pools;
};

struct RegisterNodeResult {
  NodeRecord node;
  std::string token;              // the node's new bearer token (shown once)
  std::string cluster_id;
  bool created = false;
};

struct NodeView {
  NodeRecord node;
  bool online = false;
  int64_t last_heartbeat = 0;     // unix seconds; 0: never since the controller started
  std::vector<PoolReport> pools;
};

struct PoolView {
  std::string node;
  bool node_online = false;
  PoolReport pool;
  bool reported = false;          // capacity figures are from a live report
};

struct ReplicaView {
  std::string node;
  std::string pool;
  bool diskful = true;
  bool primary = false;
  std::string state;              // creating | up_to_date | syncing | outdated | offline | error
  double sync_progress = 0.0;     // 0..1, meaningful while syncing
  std::string reason;
};

struct VolumeView {
  VolumeRecord volume;
  std::string state;              // creating | available | degraded | resyncing | error
  std::string reason;
  std::string nbd_uri;            // where the primary serves it
  std::vector<ReplicaView> replicas;
};

struct DesiredPeer {
  std::string node;
  std::string host;
  uint16_t port = 0;
};

struct DesiredReplica {
  VolumeRecord volume;
  std::string pool;
  bool thin = true;                // from the volume's resource group: thin or preallocated
  bool quorum = false;             // from the volume's resource group: writes need a majority
  bool primary = false;
  std::vector<DesiredPeer> peers;  // the volume's other diskful replicas
};

struct DesiredState {
  uint64_t generation = 0;
  std::string cluster_id;
  std::string node;
  std::vector<DesiredReplica> replicas;
};

}  // namespace tandem::controller
