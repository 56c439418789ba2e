#include "tandem/controller/volume_state.h"

#include <gtest/gtest.h>

#include "cluster_fixtures.h"

namespace tandem::controller {
namespace {

using namespace std::chrono_literals;
using namespace fixtures;
using nodeapi::DiskState;
using nodeapi::PeerState;

class VolumeStateTest : public ::testing::Test {
 protected:
  VolumeView derive() { return deriveVolumeView(volume_, pointers(replicas_), &primary_record_, observed_); }
  VolumeRecord volume_ = volume("v", "n1");
  std::vector<ReplicaRecord> replicas_ = replicasOf(volume_, {"n1", "n2"});
  NodeRecord primary_record_{"", "n1", "10.0.0.1", 10809, 7000, "", 0, {}};
  ObservedState observed_{kStart};
};

// Every replica placed and not yet reported: creating; the NBD URI names the primary.
TEST_F(VolumeStateTest, UnreportedReplicasAreCreating) {
  report(observed_, "n1", {});
  report(observed_, "n2", {});
  VolumeView view = derive();
  EXPECT_EQ(view.state, VolumeState::kCreating);
  EXPECT_EQ(view.nbd_uri, "nbd://10.0.0.1:10809/v");
  ASSERT_EQ(view.replicas.size(), 2u);
  EXPECT_TRUE(view.replicas[0].primary);
  EXPECT_EQ(view.replicas[1].state, ReplicaState::kCreating);
}

// The primary's view decides a secondary's state: up to date everywhere is available.
TEST_F(VolumeStateTest, AvailableWhenThePrimarySeesEveryPeerUpToDate) {
  report(observed_, "n1", {replicaReport(volume_, DiskState::kUpToDate, {peer("n2", PeerState::kUpToDate)})});
  report(observed_, "n2", {replicaReport(volume_, DiskState::kOutdated)});
  VolumeView view = derive();
  EXPECT_EQ(view.state, VolumeState::kAvailable);
  EXPECT_EQ(view.replicas[1].state, ReplicaState::kUpToDate) << "the secondary's own disk state is not asked";
  EXPECT_EQ(view.replicas[1].sync_progress, 1.0);
}

// Each replica's view carries the allocation its node reported (thin copies use less than the size).
TEST_F(VolumeStateTest, ReplicasShowTheirReportedAllocation) {
  ReplicaReport primary = replicaReport(volume_, DiskState::kUpToDate, {peer("n2", PeerState::kUpToDate)});
  primary.allocated_bytes = 1 << 20;
  ReplicaReport secondary = replicaReport(volume_, DiskState::kUpToDate);
  secondary.allocated_bytes = 2 << 20;
  report(observed_, "n1", {primary});
  report(observed_, "n2", {secondary});
  VolumeView view = derive();
  ASSERT_EQ(view.replicas.size(), 2u);
  EXPECT_EQ(view.replicas[0].allocated_bytes, 1u << 20);
  EXPECT_EQ(view.replicas[1].allocated_bytes, 2u << 20);
}

// A syncing peer makes the volume resyncing, with the primary's progress.
TEST_F(VolumeStateTest, SyncingPeerShowsProgress) {
  report(observed_, "n1",
         {replicaReport(volume_, DiskState::kUpToDate, {peer("n2", PeerState::kSyncing, 1, 4)})});
  report(observed_, "n2", {replicaReport(volume_, DiskState::kInconsistent)});
  VolumeView view = derive();
  EXPECT_EQ(view.state, VolumeState::kResyncing);
  EXPECT_EQ(view.replicas[1].state, ReplicaState::kSyncing);
  EXPECT_DOUBLE_EQ(view.replicas[1].sync_progress, 0.25);
}

// A connecting peer is syncing if its copy is inconsistent, else still creating.
TEST_F(VolumeStateTest, ConnectingPeerByItsOwnDisk) {
  report(observed_, "n1",
         {replicaReport(volume_, DiskState::kUpToDate, {peer("n2", PeerState::kConnecting)})});
  report(observed_, "n2", {replicaReport(volume_, DiskState::kInconsistent)});
  EXPECT_EQ(derive().replicas[1].state, ReplicaState::kSyncing);
  report(observed_, "n2", {replicaReport(volume_, DiskState::kOutdated)});
  EXPECT_EQ(derive().replicas[1].state, ReplicaState::kCreating);
  EXPECT_EQ(derive().state, VolumeState::kCreating);
}

// An offline node, a disconnected peer and a node error each degrade the volume, named in the reason.
TEST_F(VolumeStateTest, DegradedNamesEachBadReplica) {
  replicas_ = replicasOf(volume_, {"n1", "n2", "n3", "n4"});
  report(observed_, "n1",
         {replicaReport(volume_, DiskState::kUpToDate, {peer("n2", PeerState::kDisconnected)})});
  report(observed_, "n2", {replicaReport(volume_, DiskState::kOutdated)});
  ReplicaReport failed = replicaReport(volume_, DiskState::kFailed);
  failed.error = "pool full";
  report(observed_, "n3", {failed});
  VolumeView view = derive();
  EXPECT_EQ(view.state, VolumeState::kDegraded);
  EXPECT_EQ(view.replicas[1].state, ReplicaState::kOutdated);
  EXPECT_EQ(view.replicas[2].state, ReplicaState::kError);
  EXPECT_EQ(view.replicas[3].state, ReplicaState::kOffline);
  EXPECT_EQ(view.reason, "n2: outdated; n3: error (pool full); n4: offline (node n4 is offline)");
}

// A peer in split brain (its copy has writes the primary lacks) makes the volume split_brain,
// whatever the other replicas are, with a reason naming the copy and the way out.
TEST_F(VolumeStateTest, SplitBrainPeerMakesTheVolumeSplitBrain) {
  report(observed_, "n1",
         {replicaReport(volume_, DiskState::kUpToDate, {peer("n2", PeerState::kSplitBrain)})});
  report(observed_, "n2", {replicaReport(volume_, DiskState::kUpToDate)});
  VolumeView view = derive();
  EXPECT_EQ(view.replicas[1].state, ReplicaState::kSplitBrain);
  EXPECT_NE(view.replicas[1].reason.find("writes the primary does not have"), std::string::npos);
  EXPECT_EQ(view.state, VolumeState::kSplitBrain);
  EXPECT_NE(view.reason.find("the copy on n2 diverged from the primary n1"), std::string::npos) << view.reason;
  EXPECT_NE(view.reason.find("tandem volume resolve " + volume_.name + " --keep NODE"), std::string::npos)
      << view.reason;
  EXPECT_EQ(name(view.state), "split_brain");
  EXPECT_EQ(name(view.replicas[1].state), "split_brain");
}

// Without the primary's view a secondary is outdated (or syncing if inconsistent), with the reason.
TEST_F(VolumeStateTest, SecondaryWithoutThePrimarysView) {
  report(observed_, "n2", {replicaReport(volume_, DiskState::kInconsistent)});
  VolumeView view = derive();
  EXPECT_EQ(view.replicas[0].state, ReplicaState::kOffline);
  EXPECT_EQ(view.replicas[1].state, ReplicaState::kSyncing);
  EXPECT_EQ(view.replicas[1].reason, "primary n1 has not reported");
  report(observed_, "n2", {replicaReport(volume_, DiskState::kUpToDate)});
  EXPECT_EQ(derive().replicas[1].state, ReplicaState::kOutdated)
      << "only the primary can vouch for a secondary";
}

// An outdated primary degrades the volume.
TEST_F(VolumeStateTest, PrimaryByItsOwnDisk) {
  report(observed_, "n1", {replicaReport(volume_, DiskState::kOutdated, {peer("n2", PeerState::kUpToDate)})});
  report(observed_, "n2", {replicaReport(volume_, DiskState::kUpToDate)});
  VolumeView view = derive();
  EXPECT_EQ(view.replicas[0].state, ReplicaState::kOutdated);
  EXPECT_EQ(view.state, VolumeState::kDegraded);
}

// The API names of the view states.
TEST(ViewStates, ApiNames) {
  EXPECT_EQ(name(VolumeState::kAvailable), "available");
  EXPECT_EQ(name(VolumeState::kResyncing), "resyncing");
  EXPECT_EQ(name(ReplicaState::kUpToDate), "up_to_date");
  for (auto s : {ReplicaState::kCreating, ReplicaState::kUpToDate, ReplicaState::kSyncing,
                 ReplicaState::kOutdated, ReplicaState::kOffline, ReplicaState::kError}) {
    EXPECT_NE(name(s), "unknown");
  }
  for (auto s :
       {VolumeState::kCreating, VolumeState::kAvailable, VolumeState::kResyncing, VolumeState::kDegraded}) {
    EXPECT_NE(name(s), "unknown");
  }
}

}  // namespace
}  // namespace tandem::controller
