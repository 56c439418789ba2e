// The states a node reports about its replicas, as values. Their wire names (snake_case, e.g.
// "up_to_date") are in one table per enum (states.cc), used by the codec and in messages only.
// The node maps its replication engine's states onto these with a typed switch (reconciler.cc).
#pragma once

#include <optional>
#include <string_view>

namespace tandem::nodeapi {

// A replica's own copy.
enum class DiskState {
  kUpToDate,      // has every acknowledged write
  kInconsistent,  // a sync into it is incomplete: not usable as a source
  kOutdated,      // consistent but may miss writes
  kFailed,        // the node could not make the replica real (its error says why)
};

// Another replica, as the primary sees it.
enum class PeerState {
  kConnecting,
  kSyncing,   // receiving a full sync
  kUpToDate,  // has every write
  kDisconnected,
  kSplitBrain,  // its copy holds writes the primary does not have: kept untouched for an operator
};

// A local block device of an attachment on the node (see replication/attach).
enum class DeviceHealth {
  kHealthy,       // present, connected to the current primary
  kDisconnected,  // present, not connected: I/O fails with EIO while it reconnects
  kBroken,        // its server or device is gone: I/O fails with EIO for good
  kAbsent,        // not made (yet): the report's error says why
};

// The phase of a drbd volume's cluster-wide snapshot (docs/drbd.md, Snapshots), as the
// controller drives it through the desired state of every diskful replica.
enum class SnapshotPhase {
  kSuspend,  // suspend DRBD I/O for it (and report suspended_for)
  kTake,     // every diskful replica has suspended: take the provider snapshot
  kResume,   // every diskful replica has taken it: resume I/O
};

std::string_view name(DiskState state);
std::string_view name(SnapshotPhase phase);
std::optional<SnapshotPhase> snapshotPhaseNamed(std::string_view name);
std::string_view name(DeviceHealth health);
std::string_view name(PeerState state);
// The value with that wire name, or nullopt.
std::optional<DiskState> diskStateNamed(std::string_view name);
std::optional<PeerState> peerStateNamed(std::string_view name);
std::optional<DeviceHealth> deviceHealthNamed(std::string_view name);

}  // namespace tandem::nodeapi
