// The node <-> controller contract as values: what a node sends when it registers
// (POST /v1/nodes), what it reports every heartbeat (PUT /v1/internal/nodes/{n}/status) and the
// desired state it long-polls (GET /v1/internal/nodes/{n}/desired). Both sides build and read
// these structs; codec.h is their one JSON form (docs/openapi.yaml describes the same fields).
// Plain values: copyable, comparable, thread-compatible.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "tandem/nodeapi/states.h"

namespace tandem::nodeapi {

// A volume in a node's pool that Tandem does not manage (its name is not a volume uuid): what
// POST /v1/volumes/{v}/adopt may take.
struct UnmanagedVolume {
  std::string name;   // the provider's volume name (a file pool's <name>.img)
  uint64_t size_bytes = 0;
  std::string path;   // where its data is on the node (file or device node)
  bool operator==(const UnmanagedVolume&) const = default;
};

// A storage pool of a node, with its live capacity.
struct PoolReport {
  std::string name;
  std::string provider;  // "file", "lvm-thin", "zfs"
  bool thin = false;
  bool snapshots = false;
  uint64_t total_bytes = 0;
  uint64_t free_bytes = 0;         // never above total_bytes
  uint64_t provisioned_bytes = 0;  // sum of the virtual sizes of the pool's volumes
  std::vector<UnmanagedVolume> unmanaged{};  // status reports only: volumes Tandem does not manage
  bool operator==(const PoolReport&) const = default;
};

// Registration (and re-registration, with the uuid the node was given).
struct Registration {
  std::string name;
  std::string uuid;     // empty on first registration
  std::string address;  // host peers and clients use to reach the node
  uint16_t nbd_port = 0;
  uint16_t replication_port = 0;
  std::map<std::string, std::string> labels;  // placement labels (zone, rack, ...)
  std::vector<PoolReport> pools;
  bool operator==(const Registration&) const = default;
};

// What the node needs from the registration's answer (which also carries the node's public view).
struct RegistrationReply {
  std::string node_uuid;
  std::string token;       // the node's bearer token from now on
  std::string cluster_id;  // the cluster the controller serves
  bool operator==(const RegistrationReply&) const = default;
};

// Another replica of a volume, as the primary sees it.
struct PeerReport {
  std::string node;
  PeerState state = PeerState::kDisconnected;
  uint64_t sync_done_bytes = 0;
  uint64_t sync_total_bytes = 0;
  bool operator==(const PeerReport&) const = default;
};

struct ReplicaReport {
  std::string volume_uuid;
  DiskState disk = DiskState::kOutdated;
  std::string generation;  // the copy's data generation (equal and up to date: same data)
  bool primary = false;
  std::string error;              // set when the node failed to make the replica real
  std::vector<PeerReport> peers;  // the primary's view of the other replicas
  std::vector<std::string> snapshots;         // snapshot uuids this node holds of the volume
  std::vector<std::string> failed_snapshots;  // primary: snapshots it was asked to take and could not
  std::string reverted{};                     // primary: the id of the last revert it completed
  uint64_t allocated_bytes = 0;  // blocks the copy's backing volume really uses (thin pools: < size)
  std::string backing_path{};                 // where the backing volume's data is on the node
  // A drbd replica: the snapshot (uuid) for which it holds DRBD I/O suspended now ("": none).
  std::string suspended_for{};
  bool operator==(const ReplicaReport&) const = default;
};

// A local block device the node holds for an attachment (or failed to make or remove).
struct AttachmentReport {
  std::string volume_uuid;
  std::string device_path;  // the stable path (<link root>/<volume>) when the device exists
  DeviceHealth health = DeviceHealth::kAbsent;
  bool busy = false;   // a detach was refused: the device is mounted or open
  std::string error;   // why the last attach or detach failed
  bool operator==(const AttachmentReport&) const = default;
};

// Whether the node can run the DRBD engine (docs/drbd.md): the DRBD 9 kernel module is loaded
// (its version from /proc/drbd) and drbd-utils is installed. `reason` says why not ("" when it can).
struct DrbdCapabilityReport {
  bool loaded = false;   // a 9.x module is loaded and drbd-utils is present
  std::string version;   // the kernel module's version ("9.2.8"); "" when none is loaded
  std::string reason;    // why the drbd engine cannot run here; "" when loaded
  bool operator==(const DrbdCapabilityReport&) const = default;
};

// The heartbeat: observed state. Three forms (docs/architecture.md, "Status reports"):
//  - full (base_seq 0): everything the node holds; with report_seq 0 it is an old node's report,
//    which the controller does not acknowledge;
//  - delta (base_seq > 0): against the report the controller acknowledged as base_seq: `replicas`
//    holds only the replicas new or changed since, `removed_replicas` the volume uuids no longer
//    held; every other field is whole (pools, attachments and the scalars are small);
//  - liveness (liveness_only): the node's reports are being refused (`report_error` says why);
//    the controller keeps the node online and its last report as it was. No other field counts.
struct StatusReport {
  uint64_t report_seq = 0;  // > 0: the node's number for this report, echoed in the StatusAck
  uint64_t base_seq = 0;    // > 0: this is a delta against acknowledged report base_seq
  std::vector<std::string> removed_replicas{};  // a delta's volume uuids the node no longer holds
  bool liveness_only = false;
  std::string report_error{};  // liveness: why the node's last report was refused
  uint64_t applied_generation = 0;  // the last desired-state generation the node applied
  std::vector<PoolReport> pools;
  std::vector<ReplicaReport> replicas;
  std::vector<AttachmentReport> attachments;  // every attachment device the node holds or is making
  std::string nbd_socket;                     // the node's NBD UNIX socket ("" when none)
  std::string device_link_root;               // where its block attachments' stable paths go ("": none)
  std::string no_block_devices{};             // why the node cannot make local block devices ("": it can)
  // The DRBD engine's capability. A report without the field (an older node) reads as not loaded,
  // with a reason saying so.
  DrbdCapabilityReport drbd{false, "", "the node did not report its DRBD capability"};
  bool operator==(const StatusReport&) const = default;
};

// The controller's answer to a report with a report_seq: the report it applied (`acknowledged`,
// that report_seq; 0 when it applied none) or a request for a full report (`send_full`: a delta
// whose base it does not hold, e.g. after a controller restart or a lost acknowledgement).
struct StatusAck {
  uint64_t acknowledged = 0;
  bool send_full = false;
  bool operator==(const StatusAck&) const = default;
};

struct DesiredPeer {
  std::string node;
  std::string host;
  uint16_t port = 0;  // the peer's replication port
  bool operator==(const DesiredPeer&) const = default;
};

// One host of a DRBD resource as the controller allocated it (drbd_allocation.h).
struct DesiredDrbdHost {
  std::string node;       // the node's name (DRBD's `on` host name)
  std::string address;    // the node's address peers connect to
  uint16_t port = 0;      // the resource's TCP port on that node
  uint32_t node_id = 0;   // 0..31, stable for the replica's life
  bool diskful = true;    // false: a diskless client or tie-breaker
  bool operator==(const DesiredDrbdHost&) const = default;
};

// The DRBD resource of a drbd-engine volume, the same on every host that has it.
struct DesiredDrbd {
  std::string resource;       // the resource name (the volume's name)
  uint32_t minor = 0;         // /dev/drbd<minor> on every host
  std::string shared_secret;  // the peers' cram-hmac-alg secret (per volume)
  uint32_t max_peers = 7;     // peer slots in the metadata
  std::vector<DesiredDrbdHost> hosts;
  bool operator==(const DesiredDrbd&) const = default;
};

struct DesiredReplica {
  std::string volume_name;
  std::string volume_uuid;  // always a UUID (names the backing volume on the node)
  uint64_t size_bytes = 0;
  uint64_t epoch = 0;  // writer epoch
  std::string pool;
  bool thin = true;     // false: preallocate the backing volume
  bool quorum = false;  // writes need a majority of up-to-date replicas
  bool primary = false;
  std::vector<DesiredPeer> peers;  // the volume's other diskful replicas
  std::vector<std::string> snapshots;       // snapshot uuids to keep; the node removes the others
  std::vector<std::string> take_snapshots;  // primary only: snapshots to take now (not yet taken)
  // A volume being made from a snapshot. The primary makes its backing volume by cloning
  // snapshot `clone_snapshot` of volume `clone_volume` (uuids; in the same pool); the others
  // (`from_primary`) create theirs empty and are fully synced from the primary.
  std::string clone_volume{};
  std::string clone_snapshot{};
  bool from_primary = false;
  // Primary only: revert the local copy to snapshot `revert_snapshot` (uuid) once for request
  // `revert_id`; the other replicas are then fully synced from it.
  std::string revert_snapshot{};
  std::string revert_id{};
  // Split-brain resolution: the generation of this node's copy that an operator chose to
  // discard (empty: none). The engine lets a diverged primary fully resync exactly that copy.
  std::string discard_generation{};
  // Adoption (primary only): the pool's volume of this name holds the volume's data. Unless the
  // node already has the replica's metadata, it renames it to the volume's uuid (if not done
  // yet) and adds it to the engine with its data, at a new generation.
  std::string adopt_from{};
  // engine "drbd" (docs/drbd.md): the node realises the replica as this DRBD resource instead of
  // with the native engine. Absent for native volumes.
  std::optional<DesiredDrbd> drbd{};
  // A diskful drbd replica: the cluster-wide snapshot (uuid, one at a time per volume) being taken
  // and its phase (docs/drbd.md, Snapshots); "" none. A suspension for any other snapshot, or
  // with none desired, is resumed.
  std::string drbd_snapshot{};
  SnapshotPhase drbd_snapshot_phase = SnapshotPhase::kSuspend;
  bool operator==(const DesiredReplica&) const = default;
};

// A volume to attach on the node as a local block device, served by the primary's NBD export.
struct DesiredAttachment {
  std::string volume_name;
  std::string volume_uuid;  // always a UUID
  uint64_t size_bytes = 0;
  std::string nbd_host;    // the primary's NBD endpoint (TCP)
  uint16_t nbd_port = 0;
  std::string nbd_export;  // the export name (the volume's name)
  bool primary_here = false;  // the primary is this node: the node may use its own UNIX socket
  // A drbd-engine volume: the attachment is /dev/drbd/by-res/<resource>/0, with this node a
  // diskless client of the resource when it holds no replica. Absent for native volumes.
  std::optional<DesiredDrbd> drbd{};
  // An nbd attachment of a drbd volume (only those reach the node; native nbd attachments are
  // served by the primary's export): this node runs the resource as for a block attachment and
  // its NBD server exports /dev/drbd/by-res/<resource>/0 as `nbd_export`, opened only while an
  // NBD client is connected.
  bool nbd = false;
  bool operator==(const DesiredAttachment&) const = default;
};

// A forgotten volume whose backing volume the node lets go of without deleting it: out of the
// engine, metadata deleted, renamed from the volume's uuid to `backing_name` in `pool`.
struct DesiredRelease {
  std::string volume_name;
  std::string volume_uuid;
  std::string pool;
  std::string backing_name;
  bool operator==(const DesiredRelease&) const = default;
};

// Every replica placed on one node and every block attachment on it, at one state generation
// of one cluster. An attachment device the node holds and that is not listed is to be removed.
struct DesiredState {
  uint64_t generation = 0;
  std::string cluster_id;
  std::string node;
  std::vector<DesiredReplica> replicas;
  std::vector<DesiredAttachment> attachments{};
  // Volume names whose device the node removes even while processes have it open (a forced
  // detach; a mounted device is still kept).
  std::vector<std::string> force_detach{};
  std::vector<DesiredRelease> release{};  // backing volumes of forgotten volumes to keep
  // A delta (asked for with `delta=true`, desired_delta.h): `replicas` and `attachments` hold only
  // the entries of the volumes in `covers` (volume uuids, sorted), which replace the node's
  // entries of those volumes (a covered volume without an entry is gone from the node);
  // `release` and `force_detach` are whole. The node applies it to the state of the `after` it
  // asked with.
  bool delta = false;
  std::vector<std::string> covers{};
  bool operator==(const DesiredState&) const = default;
};

}  // namespace tandem::nodeapi
