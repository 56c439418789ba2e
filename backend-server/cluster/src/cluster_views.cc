#include "tandem/controller/cluster_views.h"

#include "tandem/common/name_table.h"

namespace tandem::controller {
namespace {

constexpr NameEntry<ReplicaState> kReplicaStates[] = {
    {ReplicaState::kCreating, "creating"}, {ReplicaState::kUpToDate, "up_to_date"},
    {ReplicaState::kSyncing, "syncing"},   {ReplicaState::kOutdated, "outdated"},
    {ReplicaState::kOffline, "offline"},   {ReplicaState::kError, "error"},
    {ReplicaState::kSplitBrain, "split_brain"},
};

constexpr NameEntry<VolumeState> kVolumeStates[] = {
    {VolumeState::kCreating, "creating"},
    {VolumeState::kAvailable, "available"},
    {VolumeState::kAttached, "attached"},
    {VolumeState::kResyncing, "resyncing"},
    {VolumeState::kDegraded, "degraded"},
    {VolumeState::kSplitBrain, "split_brain"},
};

constexpr NameEntry<SnapshotState> kSnapshotStates[] = {
    {SnapshotState::kCreating, "creating"},
    {SnapshotState::kAvailable, "available"},
    {SnapshotState::kError, "error"},
};

}  // namespace

std::string_view name(SnapshotState state) { return nameIn(kSnapshotStates, state); }
std::string_view name(ReplicaState state) { return nameIn(kReplicaStates, state); }
std::string_view name(VolumeState state) { return nameIn(kVolumeStates, state); }

}  // namespace tandem::controller
