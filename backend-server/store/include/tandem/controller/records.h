// The controller's declared-state records, as stored. Observed state (liveness, capacity,
// replica sync state) is not here: nodes report it and the controller keeps it in memory.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tandem/controller/placement_weights.h"

namespace tandem::controller {

// A thin pool may be promised this many times its size unless the resource group says otherwise
// (Cinder's and LINSTOR's default over-subscription ratio).
inline constexpr double kDefaultOverprovision = 20.0;

struct NodeRecord {
  std::string uuid;
  std::string name;
  std::string address;            // host nodes and clients use to reach it
  uint16_t nbd_port = 0;
  uint16_t replication_port = 0;
  std::string token_hash;         // SHA-256 (hex) of the node's bearer token
  int64_t registered_at = 0;      // unix seconds
  std::map<std::string, std::string> labels;  // placement labels (zone, rack, ...), from the node
  // The operator asked to move every replica off it (POST /v1/nodes/{n}/evacuate): nothing new
  // is placed on it. Kept across re-registrations.
  bool evacuating = false;
};

struct PoolRecord {
  std::string node_name;
  std::string name;
  std::string provider;           // "file", "lvm-thin", "zfs"
  bool thin = false;
  bool snapshots = false;
};

struct GroupRecord {
  std::string uuid;
  std::string name;
  uint32_t replicas = 0;
  std::string engine = "native";
  bool thin = true;
  std::vector<std::string> pools;                   // allowed pool names; empty: any
  std::vector<std::string> replicas_on_different;   // node label keys whose values must differ
  double overprovision = kDefaultOverprovision;     // thin groups: provisioned may reach total × this
  bool quorum = false;                              // writes need a majority of up-to-date replicas
  bool allow_multiattach = false;                   // a volume may be attached on several hosts at once
  PlacementWeights weights = {};                    // how placement scores candidate pools
};

struct VolumeRecord {
  std::string uuid;
  std::string name;
  uint64_t size_bytes = 0;
  std::string group;              // resource group name
  std::string primary_node;       // node that serves the volume (writer)
  uint64_t epoch = 1;             // writer epoch (fencing seam)
  int64_t created_at = 0;         // unix seconds
  // A planned handover to this node is under way (the primary follows an attachment): the
  // current primary is asked to stop serving first; "" when none.
  std::string handover_to = std::string();
  // While the volume is being made from a snapshot: that snapshot's uuid (its primary clones it,
  // the other replicas are synced from the primary); empty once every replica has the data.
  std::string source_snapshot{};
  // A pending revert: the snapshot's uuid and the request's id; empty when none.
  std::string revert_snapshot{};
  std::string revert_id{};
  // An adopted volume (POST /v1/volumes/{v}/adopt): the name its backing volume had in its pool
  // before Tandem took it (forget gives it that name back); empty for volumes Tandem created.
  std::string adopted_from{};
  // True until the primary reports the adopted backing volume in its engine: meanwhile its
  // desired replica asks the node to rename adopted_from to the volume's uuid and to add it with
  // its data (a new generation); afterwards the replica is like any other.
  bool adopting = false;
};

// A forgotten volume's backing volume that its node is to let go of without deleting it: the
// node removes it from its engine, deletes its metadata and renames it from the volume's uuid to
// `backing_name`. The row goes once the node reported, after applying state generation
// `generation`, that it no longer holds the volume.
struct ReleaseRecord {
  std::string volume_uuid;
  std::string volume_name;
  std::string node_name;
  std::string pool_name;
  std::string backing_name;
  uint64_t generation = 0;  // the state generation that forgot the volume
  bool operator==(const ReleaseRecord&) const = default;
};


// kCreating until the primary reports the snapshot taken, then kAvailable; kError when the
// primary could not take it (message says why). API names only in the API's codec.
enum class SnapshotState { kCreating = 0, kAvailable = 1, kError = 2 };
// The phase of a drbd volume's cluster-wide snapshot while it is kCreating (docs/drbd.md,
// Snapshots): every diskful replica suspends DRBD I/O, then takes it, then resumes.
enum class SnapshotPhase { kSuspend = 0, kTake = 1, kResume = 2 };

// A crash-consistent snapshot of a volume, taken on the volume's up-to-date replicas. Names are
// unique in the cluster (Cinder's are); the nodes name the provider snapshot by its uuid.
struct SnapshotRecord {
  std::string uuid;
  std::string name;
  std::string volume_uuid;
  uint64_t size_bytes = 0;  // the volume's size when taken
  int64_t created_at = 0;   // unix seconds
  SnapshotState state = SnapshotState::kCreating;
  std::string message;      // why kError
  SnapshotPhase drbd_phase = SnapshotPhase::kSuspend;  // a drbd volume's, while kCreating
};

// The pool_name of a drbd volume's diskless replicas (never a real pool: not a valid object name):
// the tie-breaker a two-replica volume gets for quorum, and the client a block attachment on a host
// without a replica gets (removed again with the attachment).
inline constexpr const char* kDrbdTieBreakerPool = "(tie-breaker)";
inline constexpr const char* kDrbdClientPool = "(client)";

struct ReplicaRecord {
  std::string volume_uuid;
  std::string node_name;
  std::string pool_name;
  bool diskful = true;
  // Split-brain resolution: the generation of this replica's copy that an operator chose to
  // discard (`tandem volume resolve --keep` another node). The node's engine lets a primary
  // whose history diverged from that exact generation fully resync it; it has no effect once the
  // copy's generation has changed. Empty: never discard.
  std::string discard_generation{};
  // A resource-group change excludes this replica but moves the primary off it first: it stays
  // a full replica (the primary, or synced) until the primary is on a replica the new group
  // allows and every such replica is up to date; then it is deleted (regroup.h).
  bool leaving = false;
};

// A change of a volume's size, group and replicas, applied by the store in one transaction.
struct VolumeChange {
  std::string volume_uuid;
  std::optional<uint64_t> size_bytes;
  std::optional<std::string> group;
  std::vector<std::string> remove_nodes;  // secondaries to delete (never the primary)
  std::vector<ReplicaRecord> add;         // new replicas (synced from the primary)
  std::vector<std::string> leave_nodes{};  // replicas to mark leaving (ReplicaRecord::leaving)
};

// How a host uses an attached volume: a local block device (/dev/tandem/<volume>) or an NBD URI.
enum class AttachMode { kBlock, kNbd };
// "block", "nbd" (the API's and the store's names).
std::string_view name(AttachMode mode);
std::optional<AttachMode> parseAttachMode(std::string_view text);

// A volume attached (or being detached) on a host.
struct AttachmentRecord {
  std::string volume_uuid;
  std::string host;               // node name
  AttachMode mode = AttachMode::kBlock;
  std::string connector;          // Cinder's connector object as given (JSON text); "" when none
  bool detaching = false;         // a detach waits for the host to remove the device
  int64_t created_at = 0;         // unix seconds
  bool force_detach = false;      // detaching even while processes have the device open
  bool operator==(const AttachmentRecord&) const = default;
};

}  // namespace tandem::controller
