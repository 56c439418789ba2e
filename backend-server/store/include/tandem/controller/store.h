// Store: the controller's declared state. The embedded implementation is SQLite (WAL,
// synchronous=FULL, versioned migrations); the interface leaves room for an etcd-backed one.
//
// Every method is atomic (one transaction). Every change that alters some node's desired state
// increments the state generation in the same transaction, so a node long-polling with
// `after=<generation>` can never miss a change, across controller restarts too. Each node also
// has a node generation: that of the last change that altered its desired state (the store
// names the nodes each change concerns), so a change wakes only the long-polls it concerns.
// Thread-safety: implementations are thread-safe (internally serialised).
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "tandem/common/status.h"
#include "tandem/controller/drbd_allocation.h"
#include "tandem/controller/node_change_log.h"
#include "tandem/controller/records.h"

namespace tandem::controller {

// What one node's desired state is built from (Store::nodeSlice), or one page of volume views
// (Store::volumePageSlice).
struct NodeSlice {
  std::vector<VolumeRecord> volumes;          // every volume with a replica on the node or attached there
  std::vector<ReplicaRecord> replicas;        // every replica of those volumes (the node's peers too)
  std::vector<SnapshotRecord> snapshots;      // the snapshots of those volumes
  std::vector<AttachmentRecord> attachments;  // the attachments on host `node`
};

class Store {
 public:
  virtual ~Store() = default;

  // A uuid made when the store was created; nodes refuse to delete data for another cluster.
  virtual std::string clusterId() const = 0;
  virtual Result<uint64_t> generation() = 0;
  // The generation of the last change that altered `node`'s desired state (<= generation()): of
  // a volume it holds a replica of or is attached to (before or after the change), of a peer's
  // addresses, of its releases, of itself. Kept in memory: after opening, every node's is the
  // generation at that time (so a node that missed a change while the controller was down is
  // answered at once). A change nothing scoped counts for every node.
  virtual Result<uint64_t> nodeGeneration(const std::string& node) = 0;
  // What changed in `node`'s desired state after generation `after`, for a node that has the
  // state of `after` (node_change_log.h): its whole state, or the volumes whose part of it
  // changed. Forgets the node's changes at or below `after` (a later call with an older `after`
  // answers `full`).
  virtual Result<NodeChanges> nodeChangesSince(const std::string& node, uint64_t after) = 0;

  // Inserts or replaces the node (by name) and its pools. Bumps the generation.
  virtual Status upsertNode(const NodeRecord& node, const std::vector<PoolRecord>& pools) = 0;
  virtual Result<NodeRecord> getNode(const std::string& name) = 0;  // kNotFound
  // Removes the node and its pools. kNotFound; kConflict (node_in_use) while it holds replicas or
  // attachments.
  // Bumps the generation.
  virtual Status deleteNode(const std::string& name) = 0;
  virtual Result<std::vector<NodeRecord>> listNodes() = 0;
  // Sets the node's `evacuating` flag. kNotFound (node_not_found). Changes no desired state.
  virtual Status setNodeEvacuating(const std::string& name, bool evacuating) = 0;
  virtual Result<std::vector<PoolRecord>> listPools() = 0;

  virtual Status createGroup(const GroupRecord& group) = 0;  // kAlreadyExists
  virtual Result<GroupRecord> getGroup(const std::string& name) = 0;
  virtual Result<std::vector<GroupRecord>> listGroups() = 0;
  // kNotFound; kConflict while volumes use the group.
  virtual Status deleteGroup(const std::string& name) = 0;

  // Inserts a volume with its replicas. kAlreadyExists if the name is taken. Bumps the generation.
  virtual Status createVolume(const VolumeRecord& volume, const std::vector<ReplicaRecord>& replicas) = 0;
  virtual Result<VolumeRecord> getVolume(const std::string& name) = 0;
  virtual Result<std::vector<VolumeRecord>> listVolumes() = 0;
  // At most `limit` volumes whose names sort after `after` ("": from the first), in name order
  // (an indexed range read).
  virtual Result<std::vector<VolumeRecord>> listVolumesPage(const std::string& after, size_t limit) = 0;
  // listVolumesPage's volumes with their replicas and attachments (snapshots left empty), read
  // with three range queries: what one page of volume views needs.
  virtual Result<NodeSlice> volumePageSlice(const std::string& after, size_t limit) = 0;
  virtual Result<VolumeRecord> getVolumeByUuid(const std::string& uuid) = 0;  // kNotFound
  // The declared state one node's desired state needs, read through indexes: O(the node's
  // replicas and attachments), not O(the cluster).
  virtual Result<NodeSlice> nodeSlice(const std::string& node) = 0;
  // nodeSlice narrowed to `volumes` and the volumes attached on `node` (attachments: every one
  // on the node): what a delta of the node's desired state over those volumes needs. O(those).
  virtual Result<NodeSlice> nodeSliceOf(const std::string& node, const std::vector<std::string>& volumes) = 0;
  // Removes the volume and its replicas. kNotFound; kConflict (volume_attached) while some host
  // has it attached. Bumps the generation.
  virtual Status deleteVolume(const std::string& name) = 0;
  virtual Result<std::vector<ReplicaRecord>> listReplicas() = 0;
  // The replicas on one node (indexed).
  virtual Result<std::vector<ReplicaRecord>> listReplicasOnNode(const std::string& node) = 0;
  // The replicas of one volume (empty for an unknown uuid).
  virtual Result<std::vector<ReplicaRecord>> listReplicasOf(const std::string& volume_uuid) = 0;
  // Makes `node` the volume's primary with writer epoch `epoch` (and ends any handover). kNotFound.
  // Bumps the generation.
  virtual Status setPrimary(const std::string& volume_uuid, const std::string& node, uint64_t epoch) = 0;
  // Starts ("" ends) a planned handover of the volume's primary role to `node`. kNotFound. Bumps
  // the generation.
  virtual Status setHandover(const std::string& volume_uuid, const std::string& node) = 0;
  // Sets the volume's size (the caller checked that it grows). kNotFound. Bumps the generation.
  virtual Status setVolumeSize(const std::string& volume_uuid, uint64_t size_bytes) = 0;
  // The volume has all its data: clears source_snapshot. kNotFound. Bumps the generation.
  virtual Status clearVolumeSource(const std::string& volume_uuid) = 0;
  // Sets (or, with empty strings, clears) the volume's pending revert. kNotFound. Bumps the generation.
  virtual Status setVolumeRevert(const std::string& volume_uuid, const std::string& snapshot_uuid,
                                 const std::string& revert_id) = 0;
  // Snapshots. createSnapshot: kAlreadyExists (snapshot_exists) when the name is taken; bumps
  // the generation (the primary's desired state asks for it). Deleting a volume deletes its
  // snapshot records too.
  virtual Status createSnapshot(const SnapshotRecord& snapshot) = 0;
  virtual Result<SnapshotRecord> getSnapshot(const std::string& name) = 0;  // kNotFound (snapshot_not_found)
  virtual Result<std::vector<SnapshotRecord>> listSnapshots() = 0;
  virtual Result<std::vector<SnapshotRecord>> listSnapshotsOf(const std::string& volume_uuid) = 0;
  // Sets state and message. kNotFound. Bumps the generation.
  virtual Status setSnapshotState(const std::string& uuid, SnapshotState state, const std::string& message) = 0;
  // Sets a drbd volume's snapshot's phase. kNotFound. Bumps the generation (the nodes' desired
  // state carries it).
  virtual Status setSnapshotPhase(const std::string& uuid, SnapshotPhase phase) = 0;
  // kNotFound (snapshot_not_found). Bumps the generation.
  virtual Status deleteSnapshot(const std::string& name) = 0;
  // Split-brain resolution, atomically: makes `keep` the volume's primary at writer epoch `epoch`
  // and sets, for each (node -> generation) of `discard`, that replica's discard_generation.
  // kNotFound (volume_not_found, replica_not_found). Bumps the generation.
  virtual Status resolveSplitBrain(const std::string& volume_uuid, const std::string& keep, uint64_t epoch,
                                   const std::map<std::string, std::string>& discard) = 0;
  // Moves the volume's replica from `from_node` to `replacement` (same volume uuid), atomically.
  // kNotFound when the volume has no replica on `from_node`; kAlreadyExists when it already has
  // one on the replacement's node. Bumps the generation.
  virtual Status replaceReplica(const std::string& volume_uuid, const std::string& from_node,
                                const ReplicaRecord& replacement) = 0;
  // Applies `change` atomically: kNotFound (volume_not_found, resource_group_not_found,
  // replica_not_found for a node in remove_nodes without a replica), kAlreadyExists
  // (replica_exists) for an added node that has one. Bumps the generation.
  virtual Status changeVolume(const VolumeChange& change) = 0;
  // The adopted volume's primary holds it: clears `adopting`. kNotFound. Bumps the generation.
  virtual Status finishAdoption(const std::string& volume_uuid) = 0;

  // Forgets volume `release.volume_name` (its replicas, its row) and records `release` with the
  // new state generation, which it returns: the node keeps the backing volume. kNotFound;
  // kConflict (volume_attached) while attached; kAlreadyExists (release_pending) when a release
  // of that backing name on that node and pool is still pending. Bumps the generation.
  virtual Result<uint64_t> forgetVolume(ReleaseRecord release) = 0;
  virtual Result<std::vector<ReleaseRecord>> listReleases() = 0;
  // The node has let go of the backing volume. kNotFound. Bumps the generation.
  virtual Status removeRelease(const std::string& volume_uuid) = 0;

  // Attachments. addAttachment: kNotFound (volume_not_found) for an unknown volume uuid;
  // kAlreadyExists (attachment_exists) when the host already has one. Bumps the generation.
  virtual Status addAttachment(const AttachmentRecord& attachment) = 0;
  // Marks (or unmarks) the host's attachment as detaching (`force`: even while it is open).
  // kNotFound (attachment_not_found). Bumps the generation.
  virtual Status setDetaching(const std::string& volume_uuid, const std::string& host, bool detaching,
                              bool force = false) = 0;
  // Removes the host's attachment. kNotFound (attachment_not_found). Bumps the generation.
  virtual Status removeAttachment(const std::string& volume_uuid, const std::string& host) = 0;
  // Every attachment, by volume uuid then host.
  virtual Result<std::vector<AttachmentRecord>> listAttachments() = 0;
  // The attachments of one volume, by host (empty for an unknown uuid).
  virtual Result<std::vector<AttachmentRecord>> listAttachmentsOf(const std::string& volume_uuid) = 0;

  // DRBD allocations (drbd_allocation.h). A replica's node-id and port are freed when its replica
  // record goes (replaceReplica, deleteVolume), the minor when its volume goes.
  // addDrbdVolumeAllocation: stores the minor and the replicas' numbers at once. kNotFound
  // (volume_not_found, replica_not_found) when the volume or one of the replicas has no record;
  // kAlreadyExists (drbd_number_in_use) when a minor, a node-id of the volume or a port of a node
  // is taken (nothing is stored). Bumps the generation (the volume's nodes' desired states
  // carry the resource; until it has an allocation a drbd volume is left out of them).
  virtual Status addDrbdVolumeAllocation(const DrbdVolumeAllocation& allocation) = 0;
  // One more replica of an allocated volume; same errors. Bumps the generation.
  virtual Status addDrbdReplicaAllocation(const DrbdReplicaAllocation& allocation) = 0;
  // Every allocation, by volume uuid, replicas by node-id.
  virtual Result<std::vector<DrbdVolumeAllocation>> listDrbdAllocations() = 0;
  // The allocations of `volumes` (those that have one), by volume uuid. O(those).
  virtual Result<std::vector<DrbdVolumeAllocation>> drbdAllocationsOf(const std::vector<std::string>& volumes) = 0;
};

struct SqliteStoreOptions {
  std::string path;   // database file; created with its directory's permissions if absent
};

Result<std::unique_ptr<Store>> openSqliteStore(const SqliteStoreOptions& options);

}  // namespace tandem::controller
