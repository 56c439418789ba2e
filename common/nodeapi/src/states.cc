#include "tandem/nodeapi/states.h"

#include "tandem/common/name_table.h"

namespace tandem::nodeapi {
namespace {

constexpr NameEntry<DiskState> kDiskStates[] = {
    {DiskState::kUpToDate, "up_to_date"},
    {DiskState::kInconsistent, "inconsistent"},
    {DiskState::kOutdated, "outdated"},
    {DiskState::kFailed, "failed"},
};

constexpr NameEntry<PeerState> kPeerStates[] = {
    {PeerState::kConnecting, "connecting"},  {PeerState::kSyncing, "syncing"},
    {PeerState::kUpToDate, "up_to_date"},    {PeerState::kDisconnected, "disconnected"},
    {PeerState::kSplitBrain, "split_brain"},
};

constexpr NameEntry<DeviceHealth> kDeviceHealths[] = {
    {DeviceHealth::kHealthy, "healthy"},
    {DeviceHealth::kDisconnected, "disconnected"},
    {DeviceHealth::kBroken, "broken"},
    {DeviceHealth::kAbsent, "absent"},
};

constexpr NameEntry<SnapshotPhase> kSnapshotPhases[] = {
    {SnapshotPhase::kSuspend, "suspend"},
    {SnapshotPhase::kTake, "take"},
    {SnapshotPhase::kResume, "resume"},
};

}  // namespace

std::string_view name(SnapshotPhase phase) { return nameIn(kSnapshotPhases, phase); }
std::optional<SnapshotPhase> snapshotPhaseNamed(std::string_view name) { return valueIn(kSnapshotPhases, name); }
std::string_view name(DeviceHealth health) { return nameIn(kDeviceHealths, health); }
std::optional<DeviceHealth> deviceHealthNamed(std::string_view name) { return valueIn(kDeviceHealths, name); }
std::string_view name(DiskState state) { return nameIn(kDiskStates, state); }
std::string_view name(PeerState state) { return nameIn(kPeerStates, state); }
std::optional<DiskState> diskStateNamed(std::string_view name) { return valueIn(kDiskStates, name); }
std::optional<PeerState> peerStateNamed(std::string_view name) { return valueIn(kPeerStates, name); }

}  // namespace tandem::nodeapi
