// ReplicationService: the native replication engine of one node (see docs/replication.md).
//
// One service per node owns one TCP port that carries every volume's replication traffic
// (framed, checksummed). For each volume the node holds, the service keeps a replica:
// - on the volume's primary it provides a BlockDevice (primaryDevice()) whose writes go to the
//   local backing device and to every connected peer, and complete only when every up-to-date
//   (or syncing) peer has them (protocol C); FUA writes and flushes are durable on all of them
//   before they complete;
// - on a secondary it accepts the primary's writes and full-sync data.
// A peer that was away (new, restarted, reconnected) gets a background full sync from the
// primary while writes continue, and is up to date when it ends.
//
// Per-volume metadata (generation identifiers, disk state) is kept in `metadata_path` so a
// restarted node knows whether its data can be trusted.
//
// Thread-safety: every method is thread-safe.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "tandem/common/clock.h"
#include "tandem/common/status.h"
#include "tandem/devices/block_device.h"
#include "tandem/devices/snapshot_staging.h"

namespace tandem::replication {

struct PeerAddress {
  std::string node;   // node name
  std::string host;   // address to connect to
  uint16_t port = 0;  // that node's replication port
  bool operator==(const PeerAddress&) const = default;
};

struct VolumeConfig {
  std::string volume_uuid;  // identifies the volume on the wire
  std::string name;         // for logs and status
  uint64_t size_bytes = 0;
  bool primary = false;            // this node is the volume's writer
  uint64_t epoch = 0;              // writer epoch (seam for fencing; replicas refuse older)
  std::vector<PeerAddress> peers;  // the other diskful replicas
  // The primary acknowledges a write only when a majority of the diskful replicas (itself and
  // `peers`) is up to date and has it; without a majority it refuses writes and flushes
  // (kUnavailable, reason "no_quorum") before applying them locally, instead of diverging alone.
  bool quorum = false;
  // Read by addVolume only: the caller created `local` empty (zero-filled) just before this
  // call. Binds the metadata to the device: an existing metadata file beside a new device
  // (a replaced disk) and a missing metadata file beside an old device (lost metadata) both
  // make the copy Inconsistent (full sync; it cannot become primary). Only a new device
  // without metadata starts UpToDate at the initial generation.
  bool new_device = false;
  // Read by addVolume only, as primary: the local data was replaced outside the engine (reverted
  // to a snapshot) while the volume was removed. The copy starts at a new generation (the old one
  // kept in its history), so every peer is fully synced from it. With new_device and no
  // metadata file: the device came with data (an adopted backing volume), so it starts UpToDate
  // at a new generation rather than the initial one ("never written").
  bool data_replaced = false;
  // Operator-driven split-brain resolution (DRBD's --discard-my-data). If this replica's
  // current generation (16 hex digits, as VolumeStatus::generation reports it) equals this
  // value, a primary whose history diverged from it may still connect and fully sync it: this
  // copy's own writes are discarded. Empty or any other generation: never. Once the replica
  // is synced its generation changes, so the value has no further effect.
  std::string discard_generation;
  bool operator==(const VolumeConfig&) const = default;
};

enum class DiskState { kUpToDate, kInconsistent, kOutdated };
// kSplitBrain (primary's view): the peer refused the connection because its copy holds writes
// this primary does not have (its generation is neither ours nor in our history: it wrote
// after a split, or this primary is behind it). It is neither connected nor synced; its copy is
// kept untouched until an operator resolves (VolumeConfig::discard_generation on the copy to
// discard, or promote the copy to keep). The link keeps retrying.
enum class PeerState { kConnecting, kSyncing, kUpToDate, kDisconnected, kSplitBrain };

std::string_view diskStateName(DiskState s);
std::string_view peerStateName(PeerState s);

struct PeerStatus {
  std::string node;
  PeerState state = PeerState::kConnecting;
  uint64_t sync_done_bytes = 0;
  uint64_t sync_total_bytes = 0;
};

struct VolumeStatus {
  std::string volume_uuid;
  std::string name;
  bool primary = false;
  DiskState disk = DiskState::kOutdated;
  std::string generation;         // current data generation identifier
  std::vector<PeerStatus> peers;  // known only on the primary
};

struct ServiceOptions {
  std::string node_name;
  std::string bind_address = "127.0.0.1";
  uint16_t port = 0;  // 0: any free port; read back with port()
  std::chrono::milliseconds reconnect_interval{500};
  std::chrono::milliseconds peer_timeout{5000};  // no ack within this: the peer is dropped
  uint32_t sync_chunk_bytes = 1u << 20;
  // Takes the storage provider's snapshot `snapshot` of the volume's local backing store (the
  // engine has flushed the device and applies no write meanwhile). Called by snapshotVolume on
  // the primary and, on a replica, when the SNAPSHOT frame arrives. Unset: snapshots fail.
  std::function<Status(const std::string& volume_uuid, const std::string& snapshot)> take_snapshot;
  // The same snapshot in two steps (tandem/devices/snapshot_staging.h), so that writes are held
  // back only while the provider copies what changed during its precopy: the primary precopies
  // before its pause, and a replica from the SNAPSHOT_PREPARE frame until the SNAPSHOT frame.
  // Unset: take_snapshot at the cut.
  std::function<Result<std::unique_ptr<devices::SnapshotStaging>>(const std::string& volume_uuid,
                                                                  const std::string& snapshot)>
      stage_snapshot;
};

class ReplicationService {
 public:
  virtual ~ReplicationService() = default;
  // Binds options.bind_address:options.port and starts accepting peers. `clock` must outlive
  // the service.
  static Result<std::unique_ptr<ReplicationService>> start(const ServiceOptions& options, Clock& clock);

  virtual uint16_t port() const = 0;

  // Adds a volume (idempotent for the same config) backed by `local`. A new volume (a new
  // device, config.new_device, and no metadata file) starts with the initial generation derived
  // from its uuid, so replicas created together need no initial sync. As primary, the local
  // copy must be UpToDate (kConflict otherwise: an Outdated or Inconsistent copy never serves).
  virtual Status addVolume(const VolumeConfig& config, std::shared_ptr<devices::BlockDevice> local,
                           const std::string& metadata_path) = 0;
  // Applies a changed config (peers, role, epoch, quorum, discard_generation, a larger
  // size_bytes). kNotFound if the volume was not added; kConflict (nothing changed) if it should
  // become primary while its copy is not UpToDate.
  // Growing (online): the caller first grows the local backing store (StorageProvider::resize);
  // the engine then re-reads the device's size (BlockDevice::refreshSize) — kInvalidArgument,
  // nothing changed, if it is still smaller. A primary sends RESIZE to its receiving peers
  // before any write past the old end; each replica's node must grow its copy within
  // peer_timeout / 2 of that or the peer is dropped and resynced. A smaller size is ignored.
  virtual Status updateVolume(const VolumeConfig& config) = 0;
  // Stops replicating the volume and closes its connections; kNotFound if unknown.
  virtual Status removeVolume(const std::string& volume_uuid) = 0;
  // Deletes a removed volume's metadata file durably (the directory is fsynced); OK if it does
  // not exist; kConflict while a volume of this service uses it.
  virtual Status deleteMetadata(const std::string& metadata_path) = 0;

  // A crash-consistent snapshot across replicas (docs/replication.md, "Snapshots"): under the
  // ordering mutex the primary flushes, takes its own snapshot and queues SNAPSHOT to every up-to-
  // date peer, so each copy is taken at the same point of the write order; then it waits for
  // their ACKs. Returns the nodes holding a copy (this one first). Peers not up to date get none.
  // kUnavailable unless primary; the local snapshot's error (nothing queued) if it fails.
  virtual Result<std::vector<std::string>> snapshotVolume(const std::string& volume_uuid,
                                                          const std::string& snapshot) = 0;

  // The replicating device of a volume this node is primary for; null otherwise.
  virtual std::shared_ptr<devices::BlockDevice> primaryDevice(const std::string& volume_uuid) = 0;

  virtual std::vector<VolumeStatus> status() = 0;
  // Blocks until `predicate(status())` holds or `timeout` passes; returns whether it held. The
  // predicate is re-evaluated whenever a volume's or peer's state or sync progress changes, so
  // callers (the node agent, tests) wait on state instead of polling.
  virtual bool waitForStatus(const std::function<bool(const std::vector<VolumeStatus>&)>& predicate,
                             std::chrono::milliseconds timeout) = 0;
  // Closes every connection and volume (flushing and recording a clean shutdown) and joins all
  // threads. Idempotent; the service cannot be restarted (start a new one).
  virtual void stop() = 0;
};

}  // namespace tandem::replication
