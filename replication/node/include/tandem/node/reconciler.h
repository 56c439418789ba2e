// Reconciler: makes this node's local state match its desired state — level-triggered and
// idempotent: applying the same desired state twice changes nothing.
//
// For each desired replica: the backing volume exists in its pool (named by the volume uuid),
// the replication engine holds it with the desired peers and role, and the primary exports it
// over NBD under the volume's name. A desired size larger than the replica's grows the backing
// volume, then the engine (online; see ReplicationService::updateVolume). The primary takes the
// snapshots asked for (ReplicationService::snapshotVolume); every replica removes the ones no
// longer desired, and its volume's snapshots before the volume itself. A primary asked to revert
// does it once per request (revert_marker.h), out of service, and comes back at a new generation
// so its peers are fully synced. Replicas that are no longer desired are unexported,
// released by the engine and deleted — except the backing volumes of forgotten volumes
// (DesiredState::release), which are renamed and kept. A primary asked to adopt a backing volume
// (DesiredReplica::adopt_from) renames it to the volume's uuid and adds it to the engine with its
// data. The report lists each pool's volumes whose names are not uuids (what may be adopted).
// The reconciler trusts its caller about the cluster: the
// NodeAgent, which owns the cluster id, never hands it a desired state from another cluster.
//
// Thread-safety: apply() and report() may be called from different threads (internal mutex).
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>

#include "tandem/devices/storage_provider.h"
#include "tandem/node/attachment_reconciler.h"
#include "tandem/nbd/static_export_registry.h"
#include "tandem/nodeapi/messages.h"
#include "tandem/replication/replication_service.h"

namespace tandem::node {

// The node applies the controller's desired state as nodeapi defines it.
using nodeapi::DesiredPeer;
using nodeapi::DesiredReplica;
using nodeapi::DesiredState;

struct Pool {
  std::string name;
  std::unique_ptr<devices::StorageProvider> provider;
};

class DrbdVolumes;

struct ReconcilerOptions {
  std::string metadata_dir;     // per-replica engine metadata files live here
};

class Reconciler {
 public:
  // `on_unexport` is called with an export name after it was removed from the registry (the
  // node worker closes that export's NBD connections).
  Reconciler(ReconcilerOptions options, std::map<std::string, Pool>& pools,
             replication::ReplicationService& engine, nbd::StaticExportRegistry& exports,
             std::function<void(const std::string&)> on_unexport);

  // Also applies and reports the desired state's block attachments through `attachments`
  // (after the replicas). Without it (null, the default) attachments are ignored.
  void setAttachments(AttachmentReconciler* attachments) { attachments_ = attachments; }
  // Why this host cannot make local block devices (no attachments reconciler); reported so that
  // the controller refuses block attachments here with that reason.
  void setNoBlockDevices(std::string why) { no_block_devices_ = std::move(why); }
  // Replicas and attachments of drbd-engine volumes (those with `drbd`) go to `drbd` (applied
  // first, reported with the others); the native engine, exports and attachment devices never
  // see them. Without it (null, the default) such a replica is reported failed, saying why.
  void setDrbd(DrbdVolumes* drbd) { drbd_ = drbd; }
  // Where each report's DRBD capability comes from (called once per report, without the
  // reconciler's lock). Without one the report says the node does not probe DRBD.
  void setDrbdCapability(std::function<nodeapi::DrbdCapabilityReport()> probe) { drbd_probe_ = std::move(probe); }

  // Applies `desired` (which must be from this node's cluster). Per-replica failures do not stop
  // the others; they are kept and reported (see report()). Returns the first failure, or OK.
  Status apply(const DesiredState& desired);

  // The heartbeat: pools with live capacity, every replica the engine holds with its state (and
  // the error of its last reconcile, if any), replicas that failed before reaching the engine
  // (disk kFailed, with the error), and the last applied generation.
  nodeapi::StatusReport report();

  // The configured pools with their live capacity (a pool whose capacity cannot be read reports 0).
  std::vector<nodeapi::PoolReport> pools();

  // The names of the snapshots `provider` holds of volume `uuid` (none when it cannot list).
  static std::vector<std::string> localSnapshots(devices::StorageProvider& provider, const std::string& uuid);

 private:
  Status ensureReplica(const DesiredReplica& d);
  Status removeReplica(const std::string& volume_uuid);
  // Lets go of a forgotten volume's replica without deleting its data: out of the engine and
  // the NBD exports, the backing volume renamed to r.backing_name, the metadata deleted.
  // Idempotent (a pass after a crash finishes what is left).
  Status releaseReplica(const nodeapi::DesiredRelease& r);
  // Removes the replica's snapshots not in d.snapshots and, on the primary, takes those in
  // d.take_snapshots it does not hold (through the engine, on every up-to-date replica at once).
  // A snapshot that fails is reported (failed_snapshots) and not retried.
  Status reconcileSnapshots(devices::StorageProvider& provider, const DesiredReplica& d);
  // Reverts the primary's copy of `d` to d.revert_snapshot: unexports it, removes it from the
  // engine, reverts and regrows the backing volume, and records d.revert_id (revert_marker.h).
  Status revertReplica(devices::StorageProvider& provider, const DesiredReplica& d);
  // The id of the last revert completed on volume `uuid` (cached from its marker file).
  Result<std::string> revertedId(const std::string& uuid);
  // Grows the backing volume of `d` to d.size_bytes (nothing if it is that large already).
  Status growBacking(devices::StorageProvider& provider, const DesiredReplica& d);
  std::string metadataPath(const std::string& uuid) const;
  // Removes export `name` (if any) and closes its NBD connections.
  void unexport(const std::string& name);

  ReconcilerOptions options_;
  std::map<std::string, Pool>& pools_;
  replication::ReplicationService& engine_;
  nbd::StaticExportRegistry& exports_;
  std::function<void(const std::string&)> on_unexport_;
  AttachmentReconciler* attachments_ = nullptr;
  std::string no_block_devices_;
  std::function<nodeapi::DrbdCapabilityReport()> drbd_probe_;
  DrbdVolumes* drbd_ = nullptr;

  std::mutex mu_;
  uint64_t applied_generation_ = 0;
  std::map<std::string, DesiredReplica> active_;   // by volume uuid: what the engine holds
  std::map<std::string, std::string> errors_;      // by volume uuid
  std::map<std::string, std::string> exported_;    // export name -> volume uuid
  std::map<std::string, std::set<std::string>> failed_snapshots_;  // by volume uuid
  std::map<std::string, std::string> reverted_;                    // by volume uuid: last revert id done
};

}  // namespace tandem::node
