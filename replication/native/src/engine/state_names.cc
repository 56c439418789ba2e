#include "tandem/replication/replication_service.h"

namespace tandem::replication {

std::string_view diskStateName(DiskState s) {
  switch (s) {
    case DiskState::kUpToDate:
      return "UpToDate";
    case DiskState::kInconsistent:
      return "Inconsistent";
    case DiskState::kOutdated:
      return "Outdated";
  }
  return "Unknown";
}

std::string_view peerStateName(PeerState s) {
  switch (s) {
    case PeerState::kConnecting:
      return "Connecting";
    case PeerState::kSyncing:
      return "Syncing";
    case PeerState::kUpToDate:
      return "UpToDate";
    case PeerState::kDisconnected:
      return "Disconnected";
    case PeerState::kSplitBrain:
      return "SplitBrain";
  }
  return "Unknown";
}

}  // namespace tandem::replication
