// ClusterService: the controller's facade over the store and the pure units that hold its logic
// (HTTP-free: the API layer maps requests onto it). It owns the lock, the store calls, the clock
// and logging; the decisions are the units':
//   observed_state.h        what nodes report (liveness, capacity, replica states), in memory
//   volume_state.h          a volume's derived state from its replicas' reports
//   placement_inputs.h      placement requests and candidates (placement.h chooses)
//   healing_planner.h       which lost replicas move where (self-healing, run by tick())
//   promotion.h             whether a replica may become the primary
//   desired_state_builder.h a node's desired state from the declared state
//   desired_state_watch.h   the pending desired-state long-polls
//   attachments.h           attach rules, attachment views and connection info
//
// Thread-safety: all methods are thread-safe. mu_ guards the observed state and the healing
// warnings, and serializes every read-modify-write of the store (registration, creates,
// deletes, healing, promotion) so that two of them never decide on the same stale state. It is
// never held while calling out: a change to the declared state releases mu_ and then hands the
// long-polls it made due to the answering thread (answers_), so callbacks given to
// watchDesiredState() are called without internal locks held, from the calling thread (a poll
// answered at once) or from the answering thread.
//
// Desired-state long-polls wake by node: a poll of node N with `after=G` returns once N's node
// generation (Store::nodeGeneration: the last change that altered N's desired state) passes G,
// with the current global generation. A change therefore wakes only the nodes it concerns.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "tandem/common/clock.h"
#include "tandem/common/status.h"
#include "tandem/controller/adoption.h"
#include "tandem/controller/attachments.h"
#include "tandem/controller/cluster_views.h"
#include "tandem/controller/desired_state_builder.h"
#include "tandem/controller/desired_state_watch.h"
#include "tandem/controller/drbd_allocation.h"
#include "tandem/controller/observed_state.h"
#include "tandem/controller/placement.h"
#include "tandem/controller/pool_ledger.h"
#include "tandem/controller/serial_worker.h"
#include "tandem/controller/store.h"

namespace tandem::controller {

struct ClusterOptions {
  std::chrono::milliseconds heartbeat_timeout{6000};  // a node silent this long is offline
  // Self-healing: a secondary replica whose node has been offline this long (and that the
  // primary no longer counts as up to date) is re-created on another node. 0: never.
  std::chrono::milliseconds replace_after{0};
  // How long a detach waits for the host to report its block device removed (or busy).
  std::chrono::milliseconds detach_wait{10000};
  // How long a clone of a live volume waits for the source's primary to take its snapshot.
  std::chrono::milliseconds clone_snapshot_wait{30000};
  // The numbers drbd-engine volumes get (drbd_allocation.h): minors, ports, node-ids.
  DrbdRanges drbd_ranges{};
  // A drbd volume's cluster-wide snapshot (drbd_snapshot.h) not done this long after the
  // controller first drove it becomes `error`, and every replica resumes I/O.
  std::chrono::milliseconds drbd_snapshot_timeout{30000};
};

struct CreateVolumeRequest {
  std::string name;
  uint64_t size_bytes = 0;
  std::string group;
  std::string source_volume{};    // make it from a snapshot of this volume (names)...
  std::string source_snapshot{};  // ...this one; empty with a source volume: a clone of it (cloneVolume)
};

// Where a new volume's replicas would go (POST /v1/volumes?dry_run=true): the placements, best
// (the primary) first, each with its score.
struct VolumePlan {
  std::string name;
  uint64_t size_bytes = 0;
  GroupRecord group;
  std::vector<Placement> placements;
};

// The snapshot a clone of the live volume `source` made for the new volume `clone` is taken
// under (a snapshot of `source`, deleted once the clone has its data): "clone-for-<clone>", or
// for long names a shortened name with a hash of the whole name (still a valid object name).
std::string cloneSnapshotName(const std::string& clone);

// What forgetVolume answers: the volume is gone and its data is kept on `node`, in `pool`, as
// `backing_name` (at `backing_path` on that node, "" when it has not reported where).
struct ForgetResult {
  std::string volume;
  std::string uuid;
  std::string node;
  std::string pool;
  std::string backing_name;
  std::string backing_path;
};

// PATCH /v1/volumes/{v}: each field absent means "keep".
struct UpdateVolumeRequest {
  std::optional<uint64_t> size_bytes;
  std::optional<uint32_t> replicas;
  std::optional<std::string> group;
};

class ClusterService {
 public:
  ClusterService(Store& store, Clock& clock, ClusterOptions options);
  ~ClusterService();

  // Registers a node, or re-registers it (same name and uuid) with new addresses and a new
  // token. kAlreadyExists (reason node_exists) when the name belongs to another uuid.
  Result<RegisterNodeResult> registerNode(const RegisterNodeRequest& request);
  // True when `token` is the current token of node `name`.
  bool authenticateNode(const std::string& name, std::string_view token);
  // True when `token` is the current token of some node.
  bool isNodeToken(std::string_view token);
  // Records a heartbeat with the node's observed state: a full report, a delta against the last
  // report applied, or a liveness heartbeat (StatusReport in nodeapi/messages.h). A delta whose
  // base is not the node's last applied report (a controller restart, a lost acknowledgement)
  // keeps the node online and asks for a full report (send_full). A liveness heartbeat keeps
  // the node online and its last report as it was, and shows `report_error` on the node: its
  // replicas are never taken for lost because its reports are refused. kNotFound for an unknown
  // node.
  Result<nodeapi::StatusAck> receiveReport(const std::string& name, NodeStatusReport report);
  // receiveReport without the acknowledgement (an old node's full report).
  Status reportStatus(const std::string& name, NodeStatusReport report) {
    return receiveReport(name, std::move(report)).status();
  }

  // Forgets a node that is gone for good: kConflict (node_online) while it reports, (node_in_use)
  // while it holds replicas; kNotFound.
  Status deleteNode(const std::string& name);
  Result<std::vector<NodeView>> listNodes();
  Result<NodeView> getNode(const std::string& name);
  // Evacuation (POST /v1/nodes/{n}/evacuate; DELETE cancels): with `evacuate`, nothing new is
  // placed on the node and tick() moves its replicas off, a few volumes at a time: for each, a
  // replica is placed elsewhere under the volume's group and the node's replica leaves once the
  // replicas that stay hold the data (the primary is handed over first: regroup.h). A volume that
  // cannot move now (attached on the node, no room, a snapshot's last copy, a drbd volume, the
  // primary offline) is shown in the node view's evacuation and retried. Cancelling lets the
  // moves already started finish and starts no more. kNotFound (node_not_found).
  Result<NodeView> evacuateNode(const std::string& name, bool evacuate);
  Result<std::vector<PoolView>> listPools();

  // Creates a group; an identical existing group is returned with created=false; a different
  // one with the same name is kAlreadyExists (reason resource_group_exists).
  Result<std::pair<GroupRecord, bool>> createGroup(GroupRecord spec);
  Result<GroupRecord> getGroup(const std::string& name);
  Result<std::vector<GroupRecord>> listGroups();
  Status deleteGroup(const std::string& name);

  // Places and creates a volume (idempotent by name like createGroup; reason volume_exists).
  // With a source snapshot (which must be `available`: 409 snapshot_not_ready; 404
  // volume_not_found / snapshot_not_found) the primary is placed on a node holding a copy, in
  // the source replica's pool, and clones it there; the other replicas are synced from it; the
  // volume is `creating` until all have the data. Its size must be at least the snapshot's (422
  // volume_too_small). A source volume without a snapshot: use cloneVolume.
  Result<std::pair<VolumeView, bool>> createVolume(const CreateVolumeRequest& request);
  // What createVolume would place for a new empty volume, changing nothing: the same checks and
  // placement (errors as createVolume), but an existing name is 409 volume_exists and a source
  // is 400 invalid_field (clones are placed where their source's copies are).
  Result<VolumePlan> planVolume(const CreateVolumeRequest& request);
  // A clone of the live volume `request.source_volume` (no source snapshot), answered through
  // `done` (deferred, without mu_): takes the crash-consistent snapshot cloneSnapshotName(name)
  // of the source (as createSnapshot), waits until its primary has taken it, then creates the
  // volume from it (as createVolume with that snapshot). The snapshot belongs to the clone: it
  // is deleted once every replica of the clone has the data, or with the clone. Idempotent by
  // name (a repeat while the snapshot is being taken waits for the same snapshot). Errors as
  // createVolume, plus 503 clone_timeout (the snapshot was not taken within
  // clone_snapshot_wait; nothing else was made, retrying continues) and 500 snapshot_failed.
  void cloneVolume(const CreateVolumeRequest& request,
                   std::function<void(Result<std::pair<VolumeView, bool>>)> done);
  Result<VolumeView> getVolume(const std::string& name);
  Result<std::vector<VolumeView>> listVolumes();
  // One page of GET /v1/volumes: at most `limit` volumes whose names sort after `after`, in name
  // order, and the cursor of the next page ("" when this is the last). O(the page): indexed
  // reads of those volumes' rows only.
  struct VolumePage {
    std::vector<VolumeView> volumes;
    std::string next;
  };
  Result<VolumePage> listVolumesPage(const std::string& after, size_t limit);
  // kConflict (volume_has_snapshots) while it has snapshots, unless `cascade` (they go too).
  Status deleteVolume(const std::string& name, bool cascade = false);

  // Asks for a crash-consistent snapshot `snapshot` of `volume` (docs/replication.md,
  // "Snapshots"); it is `creating` until the primary reports it taken. Idempotent by name
  // (created=false); a name used by another volume's snapshot is kAlreadyExists
  // (snapshot_exists). kNotFound (volume_not_found).
  Result<std::pair<SnapshotView, bool>> createSnapshot(const std::string& volume, const std::string& snapshot);
  Result<std::vector<SnapshotView>> listSnapshots(const std::string& volume);
  // kNotFound (volume_not_found, or snapshot_not_found also when it belongs to another volume).
  Result<SnapshotView> getSnapshot(const std::string& volume, const std::string& snapshot);
  // Nodes remove their copies when they read their desired state.
  Status deleteSnapshot(const std::string& volume, const std::string& snapshot);
  // Returns the volume to `snapshot` (newer snapshots stay; the size stays, space past the
  // snapshot's size reads as zeroes): its primary reverts its copy while the volume is out of
  // service, then every other replica is fully synced from it. The view says `creating` until
  // the primary reports the revert done. Refused with nothing changed: 409 volume_attached (seam,
  // see checkDetachedLocked), snapshot_not_ready, snapshot_not_on_primary (the primary holds no
  // copy), node_offline (the primary's node), revert_in_progress; 404 as getSnapshot.
  Result<VolumeView> revertSnapshot(const std::string& volume, const std::string& snapshot);
  // Changes a volume, all or nothing (one store transaction, after every check). size_bytes
  // grows it online (volume_growth.h checks every replica's pool that stays: 422 volume_shrink /
  // volume_too_large / no_space naming the pool); the nodes grow backing store, engine and
  // export when they read their desired state. `replicas` and `group` change which replicas the
  // volume has (replica_layout.h: new secondaries are placed and fully synced by the primary,
  // surplus ones deleted; its refusals). An absent field keeps its value (a group change keeps
  // the replica count unless `replicas` is given). The same values as now change nothing.
  // kNotFound (volume_not_found, resource_group_not_found).
  Result<VolumeView> updateVolume(const std::string& name, const UpdateVolumeRequest& request);
  // Puts an existing backing volume under Tandem as a 1-replica volume (adoption.h has the checks
  // and how the node takes it). Idempotent by name: the same adoption again is created=false, a
  // volume of that name that is anything else is kAlreadyExists (volume_exists). With dry_run
  // nothing changes and the answer is the would-be view (created=false).
  Result<std::pair<VolumeView, bool>> adoptVolume(const AdoptRequest& request);
  // Releases a volume without deleting its data: the volume (its row, its replicas) goes at
  // once; the primary's node, when it reads its desired state, takes it out of its engine,
  // deletes its metadata and renames its backing volume to releaseName() (the other replicas
  // are deleted). Refused with nothing changed: 404 volume_not_found; 409 volume_has_snapshots,
  // volume_attached, revert_in_progress; 409 backing_exists when the primary's pool already
  // holds a volume of that name (by its last report), release_pending when one is being released
  // under it.
  Result<ForgetResult> forgetVolume(const std::string& name);
  // Makes the replica on `node` the volume's primary, with a new writer epoch, when the primary's
  // node is gone (see docs/architecture.md, "Promotion"). Without `force` it also requires that
  // the volume's group has quorum, that the old primary's last report counted that replica up to
  // date and that every reporting replica has its generation. Idempotent for the current primary.
  Result<VolumeView> promoteVolume(const std::string& name, const std::string& node, bool force);
  // Resolves a split brain by keeping the copy on `keep` (split_brain.h): it becomes or stays the
  // primary and every other reported copy is discarded and fully resynced from it.
  Result<VolumeView> resolveSplitBrain(const std::string& name, const std::string& keep);

  // Attaches the volume on `request.host` (see checkAttach in attachments.h for the refusals);
  // kNotFound (volume_not_found). Repeating it returns the same attachment with created=false.
  Result<std::pair<AttachmentView, bool>> attachVolume(const std::string& volume, const AttachRequest& request);
  // The volume's attachments; kNotFound (volume_not_found).
  Result<std::vector<AttachmentView>> listAttachments(const std::string& volume);
  // Detaches the volume from `host`; calls `done` once (from this thread, reportStatus() or tick()).
  // OK when it was not attached there; kNotFound (volume_not_found). An nbd attachment, or any
  // attachment of an offline host with `force`, is removed at once; an offline host without
  // `force` is kConflict (node_offline). A block attachment on an online host is marked
  // detaching (the host's desired state drops it) and `done` waits for the host's next report
  // made after it applied that change: device gone → removed, OK; device busy (mounted; or
  // open, without `force`) → unmarked, kConflict (device_busy); no such report within detach_wait → unmarked, kUnavailable
  // (detach_timeout).
  void detachVolume(const std::string& volume, const std::string& host, bool force,
                    std::function<void(Status)> done);

  Result<DesiredState> desiredState(const std::string& node);
  // Replicas moved by self-healing since this service started.
  uint64_t replicasReplaced() const { return replicas_replaced_.load(); }
  // The store's state generation (also a readiness probe of the store).
  Result<uint64_t> storeGeneration() { return store_.generation(); }
  // Calls `done` once with the node's current desired state: at once if the node's generation
  // (the last change to its desired state) is already past `after`, else when it passes `after`
  // or when `wait` has elapsed. The state carries the global generation, as desiredState().
  // With DesiredForm::kDelta, for a node that has the state of `after`, the answer is a delta
  // (DesiredState::delta) when the store can say what changed since: the entries of the volumes
  // whose part changed (`covers`; a covered volume without an entry is gone from the node), and
  // the node's whole `release` and `force_detach` lists; else (a whole-state change, `after`
  // older than the store's change log, or 0) the full state.
  void watchDesiredState(const std::string& node, uint64_t after, std::chrono::milliseconds wait,
                         std::function<void(Result<DesiredState>)> done, DesiredForm form = DesiredForm::kFull);

  // Periodic work: marks silent nodes offline, re-creates replicas lost with a node (see
  // ClusterOptions::replace_after) and answers expired long-polls.
  void tick();
  // Builds what the first create would otherwise build (placement's running totals, read from
  // every volume and replica, in pages). Call once after serving has started (the controller's
  // main does): it holds mu_ only to install what it read, and the store one page at a time, so
  // health, reports and creates are served meanwhile. When the state keeps changing under it, it
  // leaves the ledger to the first create.
  Status warmUp();

 private:
  // The volumes' views (one volume when `only_name` is set; none if it does not exist). Needs mu_.
  Result<std::vector<VolumeView>> viewsLocked(const std::string* only_name);
  // Every pool of every node as a placement candidate, with the ledger's running totals. Needs mu_.
  Result<std::vector<PoolCandidate>> candidatesLocked();
  // Builds ledger_ from the store once (at the first use after the start). Needs mu_.
  Status ledgerReadyLocked();
  // Tells ledger_ that volume `uuid` changed (or is gone): reads that volume's rows. Needs mu_.
  void ledgerVolumeLocked(const std::string& uuid);
  // Tells ledger_ which of `node`'s replicas it started (`appeared`) or stopped reporting. Needs mu_.
  void ledgerReportsLocked(const std::string& node, const std::vector<std::string>& appeared,
                           const std::vector<std::string>& vanished);
  // Self-healing pass; true when some replica was moved. Needs mu_.
  bool replaceLostReplicasLocked();
  // Takes the next step of every resource-group change that moves the primary (regroup.h):
  // starts its handover or deletes its leaving replicas; true when one did. Needs mu_.
  bool advanceRegroupsLocked();
  // Starts the moves of evacuating nodes' replicas (at most kEvacuationBatch volumes per node at
  // a time) and records the blocked ones. True when something changed.
  bool advanceEvacuationsLocked();
  // Places a replica of the volume off `node` and marks the node's replica leaving.
  Status moveOffLocked(const std::string& volume_uuid, const std::string& node);
  // Stores `change` of `volume` (one transaction) and updates what depends on replicas: the
  // placement ledger, pending regroups, the observed state's placement generations.
  Status applyReplicaChangeLocked(const VolumeRecord& volume, const VolumeChange& change);
  // 409 volume_has_snapshots when the replicas on the nodes `going` (removed, or leaving) hold
  // every copy of one of the volume's snapshots: no change may lose a snapshot's last copy
  // (snapshots are not copied to new replicas). Needs mu_.
  Status checkSnapshotsKeepACopyLocked(const VolumeRecord& volume, const std::vector<std::string>& going);
  // Completes the planned handovers whose old primary has demoted; true when one did. Needs mu_.
  bool completeHandoversLocked();
  // After a detach of `volume_name`: when the one host it stays attached on should become its
  // primary (shouldHandOver: the end of a live migration), plans that handover. A failure is
  // logged, never returned: the detach itself is done. Needs mu_.
  void followRemainingAttachmentLocked(const std::string& volume_name);
  // A snapshot's view with its copies from the observed state. Needs mu_.
  SnapshotView snapshotViewLocked(const SnapshotRecord& snapshot, const VolumeRecord& volume);
  // The snapshot `snapshot` of `volume` (kNotFound as getSnapshot says). Needs mu_.
  Result<std::pair<VolumeRecord, SnapshotRecord>> findSnapshotLocked(const std::string& volume,
                                                                     const std::string& snapshot);
  // Clears the source of volumes made from a snapshot once every replica is up to date; true when
  // the store changed. Needs mu_.
  bool finishSourcesLocked();
  // kConflict (snapshot_in_use) when a volume is still being made from one of `snapshots`. Needs mu_.
  Status checkNotASourceLocked(const std::vector<SnapshotRecord>& snapshots);
  // Placement of a volume made from `snapshot` of `source`: the primary on a node holding a copy.
  Result<std::vector<Placement>> placeFromSnapshotLocked(const GroupRecord& group, uint64_t size,
                                                         const VolumeRecord& source,
                                                         const SnapshotRecord& snapshot);
  // For a drbd-engine volume (nothing otherwise): allocates a minor, node-ids and ports for its
  // replicas on `nodes` (a new volume: also its minor and shared secret) and stores them. A new
  // volume whose allocation fails is deleted again, so nothing is left half made. Needs mu_.
  Status allocateDrbdLocked(const VolumeRecord& volume, const GroupRecord& group,
                            const std::vector<std::string>& nodes, bool new_volume);
  // Removes the diskless DRBD client replica a block attachment made on `host` (nothing when
  // there is none; a failure is logged). Needs mu_.
  void dropDrbdClientLocked(const std::string& volume_uuid, const std::string& host);
  // The view of attachment `a` of `volume`: its NBD endpoint is the primary's (`primary_node`),
  // or for an nbd attachment of a drbd volume its host's own export (docs/drbd.md, NBD mode).
  AttachmentView attachmentViewLocked(const VolumeRecord& volume, bool drbd, const AttachmentRecord& a,
                                      const NodeRecord* primary_node, uint64_t generation);
  // kConflict (volume_attached) while the volume is attached to a host. Needs mu_.
  Status checkDetachedLocked(const VolumeRecord& volume);
  // Clears the pending revert of volumes whose primary `node` reports it done; true when the
  // store changed. Needs mu_.
  bool finishRevertsLocked(const std::string& node, const std::vector<ReplicaReport>& replicas);
  // Ends the adoption of volumes whose primary `node` reports holding them; true when the store
  // changed. Needs mu_.
  bool finishAdoptionsLocked(const std::string& node, const std::vector<ReplicaReport>& replicas);
  // Drops the releases that `node` reports done (it applied their generation and no longer holds
  // the volume); true when the store changed. Needs mu_.
  bool finishReleasesLocked(const std::string& node, const NodeStatusReport& report);
  // Records the snapshots a primary reports taken or failed; true when the store changed. Needs mu_.
  bool recordSnapshotsLocked(const std::string& node, const std::vector<ReplicaReport>& replicas);
  // Drives the drbd volumes' cluster-wide snapshots (drbd_snapshot.h) from the reports: advances
  // phases, marks them available or error, and fails those past drbd_snapshot_timeout. True when
  // something changed.
  bool coordinateDrbdSnapshotsLocked();
  // What every node's desired state reads whole (small tables), read once for many nodes.
  struct DeclaredCommon {
    uint64_t generation = 0;
    std::vector<NodeRecord> nodes;
    std::vector<GroupRecord> groups;
    std::vector<ReleaseRecord> releases;
    std::unordered_map<std::string, size_t> by_name;  // index into nodes
  };
  Result<DeclaredCommon> declaredCommon();
  // A node's desired state from `common` and its slice of the store (O(its replicas)).
  Result<DesiredState> desiredStateFrom(const std::string& node, const DeclaredCommon& common);
  // The state a poll of `node` with `after` and `form` gets (watchDesiredState): a delta over
  // the volumes whose part changed when the store can say which (O(those)), else the full state.
  Result<DesiredState> desiredAfter(const std::string& node, uint64_t after, DesiredForm form,
                                    const DeclaredCommon& common);
  // The declared state that `slice` (of `node`) and `common` give buildDesiredState().
  Result<DeclaredState> declaredFor(const std::string& node, NodeSlice slice, const DeclaredCommon& common);
  // Hands the long-polls that are due to the answering thread. Must be called without mu_.
  void notifyWatchers();
  // Builds each watcher's desired state and answers it (on the answering thread).
  void answerWatchers(std::vector<DesiredStateWatch::Watcher> due);
  // The body of createVolume. Needs mu_ (the caller notifies the watchers after releasing it
  // when a volume was created).
  Result<std::pair<VolumeView, bool>> createVolumeLocked(const CreateVolumeRequest& request);
  // A clone of a live volume waiting for its snapshot.
  struct PendingClone {
    CreateVolumeRequest request;  // with source_snapshot set to the clone's snapshot
    std::string snapshot_uuid;
    std::chrono::steady_clock::time_point deadline;
    std::function<void(Result<std::pair<VolumeView, bool>>)> done;
  };
  // Creates the clones whose snapshot is taken, fails those whose snapshot failed or (with the
  // clock) whose wait ran out. Needs mu_; returns the callbacks to run after releasing it.
  std::vector<std::function<void()>> settleClonesLocked();
  // A detach waiting for its host's report.
  struct PendingDetach {
    std::string volume_uuid;
    std::string volume;
    std::string host;
    uint64_t generation = 0;  // the state generation that dropped the device from the host
    std::chrono::steady_clock::time_point deadline;
    std::function<void(Status)> done;
  };
  // Settles the pending detaches that `host`'s report (or, with host empty, the clock) decides.
  // Needs mu_; returns the callbacks to call, with their results, after releasing it.
  std::vector<std::pair<std::function<void(Status)>, Status>> settleDetachesLocked(const std::string& host);

  Store& store_;
  Clock& clock_;
  const ClusterOptions options_;
  const std::chrono::steady_clock::time_point started_;
  std::mutex mu_;
  ObservedState observed_;             // guarded by mu_
  std::set<std::string> heal_warned_;  // guarded by mu_: "volume/node:reason" already logged
  std::vector<PendingDetach> pending_detaches_;  // guarded by mu_
  std::vector<PendingClone> pending_clones_;     // guarded by mu_
  bool regroups_pending_ = true;                 // guarded by mu_: some replica may be leaving
  bool evacuations_pending_ = true;              // guarded by mu_: some node may be evacuating
  // Guarded by mu_: per evacuating node, the volumes that could not move at the last try, and why.
  std::map<std::string, std::map<std::string, std::string>> evacuation_blocked_;
  static constexpr uint32_t kEvacuationBatch = 4;  // volumes moving off one node at a time
  bool handovers_pending_ = true;                // guarded by mu_: some volume may have handover_to set
  bool adoptions_pending_ = true;                // guarded by mu_: some volume may be adopting
  bool drbd_snapshots_pending_ = true;           // guarded by mu_: some drbd snapshot may be creating
  // guarded by mu_: when each drbd snapshot being driven times out (by snapshot uuid)
  std::map<std::string, std::chrono::steady_clock::time_point> drbd_snapshot_deadlines_;
  bool sources_pending_ = true;                  // guarded by mu_: some volume may have source_snapshot
  PoolLedger ledger_;                            // guarded by mu_: placement's running totals
  // guarded by mu_: nodes self-healing looks at (offline since the start or marked offline since;
  // dropped once back online or holding nothing); filled from the store at the first tick.
  std::set<std::string> suspects_;
  bool suspects_ready_ = false;
  bool ledger_ready_ = false;                    // guarded by mu_: ledger_ built (else rebuilt on use)
  // guarded by mu_: the node and pool rows placement reads on every create, cached. Only
  // registerNode and deleteNode write those rows (under mu_); they drop it, the next placement
  // reads them again.
  struct NodeRows {
    std::vector<NodeRecord> nodes;
    std::vector<PoolRecord> pools;
  };
  std::optional<NodeRows> node_rows_;
  std::atomic<uint64_t> replicas_replaced_{0};
  DesiredStateWatch watch_;  // thread-safe on its own
  // Builds and answers woken long-polls in order. Last: stopped first (the destructor stops it
  // explicitly too, before failing the polls still waiting).
  SerialWorker answers_;
};

}  // namespace tandem::controller
