#include "tandem/nodeapi/states.h"

#include <gtest/gtest.h>

namespace tandem::nodeapi {
namespace {

// Every state has its own wire name, and the name leads back to the state.
TEST(NodeApiStates, NamesRoundTrip) {
  for (DiskState s :
       {DiskState::kUpToDate, DiskState::kInconsistent, DiskState::kOutdated, DiskState::kFailed}) {
    EXPECT_NE(name(s), "unknown");
    EXPECT_EQ(diskStateNamed(name(s)), s) << name(s);
  }
  for (PeerState s : {PeerState::kConnecting, PeerState::kSyncing, PeerState::kUpToDate,
                      PeerState::kDisconnected, PeerState::kSplitBrain}) {
    EXPECT_NE(name(s), "unknown");
    EXPECT_EQ(peerStateNamed(name(s)), s) << name(s);
  }
  for (DeviceHealth h : {DeviceHealth::kHealthy, DeviceHealth::kDisconnected, DeviceHealth::kBroken,
                         DeviceHealth::kAbsent}) {
    EXPECT_NE(name(h), "unknown");
    EXPECT_EQ(deviceHealthNamed(name(h)), h) << name(h);
  }
}

// The wire names are the controller's snake_case ones (the engine's CamelCase is not on the wire).
TEST(NodeApiStates, WireNamesAreSnakeCase) {
  EXPECT_EQ(name(DiskState::kUpToDate), "up_to_date");
  EXPECT_EQ(name(DiskState::kFailed), "failed");
  EXPECT_EQ(name(PeerState::kUpToDate), "up_to_date");
  EXPECT_EQ(diskStateNamed("UpToDate"), std::nullopt);
  EXPECT_EQ(peerStateNamed(""), std::nullopt);
}

}  // namespace
}  // namespace tandem::nodeapi
