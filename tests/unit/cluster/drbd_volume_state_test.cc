// A DRBD resource's events2 state, mapped by the node onto its replica report, gives the
// controller the same volume states as the native engine (drbd/replica_report.h).
#include <gtest/gtest.h>

#include "cluster_fixtures.h"
#include "tandem/controller/volume_state.h"
#include "tandem/drbd/events2.h"
#include "tandem/drbd/replica_report.h"

namespace tandem::controller {
namespace {

using namespace fixtures;

class DrbdVolumeStateTest : public ::testing::Test {
 protected:
  // Folds the events2 lines of one host and reports its replica as that node would.
  ReplicaReport fromEvents(const std::vector<std::string>& lines) {
    drbd::Events2State state;
    for (const auto& l : lines) {
      auto ev = drbd::parseEvents2Line(l);
      EXPECT_TRUE(ev.isOk()) << l;
      if (ev.isOk()) {
        EXPECT_TRUE(state.apply(*ev).isOk()) << l;
      }
    }
    return drbd::drbdReplicaReport(volume_.uuid, volume_.size_bytes, state.resource("v"));
  }
  VolumeView derive(const std::vector<std::string>& primary_lines, const std::vector<std::string>& secondary_lines) {
    report(observed_, "n1", {fromEvents(primary_lines)});
    report(observed_, "n2", {fromEvents(secondary_lines)});
    return deriveVolumeView(volume_, pointers(replicas_), &primary_record_, observed_);
  }
  VolumeRecord volume_ = volume("v", "n1");
  std::vector<ReplicaRecord> replicas_ = replicasOf(volume_, {"n1", "n2"});
  NodeRecord primary_record_{"", "n1", "10.0.0.1", 10809, 7000, "", 0, {}};
  ObservedState observed_{kStart};
};

const std::vector<std::string> kPrimary{
    "exists resource name:v role:Primary suspended:no",
    "exists connection name:v peer-node-id:1 conn-name:n2 connection:Connected role:Secondary",
    "exists device name:v volume:0 minor:1000 disk:UpToDate client:no quorum:yes",
    "exists peer-device name:v peer-node-id:1 conn-name:n2 volume:0 replication:Established peer-disk:UpToDate",
    "exists -"};
const std::vector<std::string> kSecondary{
    "exists resource name:v role:Secondary suspended:no",
    "exists connection name:v peer-node-id:0 conn-name:n1 connection:Connected role:Primary",
    "exists device name:v volume:0 minor:1000 disk:UpToDate client:no quorum:yes",
    "exists peer-device name:v peer-node-id:0 conn-name:n1 volume:0 replication:Established peer-disk:UpToDate",
    "exists -"};

std::vector<std::string> plus(std::vector<std::string> lines, const std::vector<std::string>& more) {
  lines.insert(lines.end(), more.begin(), more.end());
  return lines;
}

// Both hosts UpToDate and the peer Established: available.
TEST_F(DrbdVolumeStateTest, UpToDateEverywhereIsAvailable) {
  EXPECT_EQ(derive(kPrimary, kSecondary).state, VolumeState::kAvailable);
}

// SyncSource with done:25.00 on the primary: resyncing, the secondary at 25%.
TEST_F(DrbdVolumeStateTest, ResyncShowsProgress) {
  auto view = derive(plus(kPrimary, {"change peer-device name:v peer-node-id:1 conn-name:n2 volume:0 "
                                     "replication:SyncSource peer-disk:Inconsistent done:25.00"}),
                     plus(kSecondary, {"change device name:v volume:0 disk:Inconsistent"}));
  EXPECT_EQ(view.state, VolumeState::kResyncing);
  EXPECT_EQ(view.replicas[1].state, ReplicaState::kSyncing);
  EXPECT_DOUBLE_EQ(view.replicas[1].sync_progress, 0.25);
}

// A StandAlone peer without a split-brain call: outdated, the volume degraded.
TEST_F(DrbdVolumeStateTest, StandalonePeerIsOutdatedAndDegraded) {
  auto view = derive(plus(kPrimary, {"change connection name:v peer-node-id:1 conn-name:n2 connection:StandAlone"}),
                     plus(kSecondary, {"change device name:v volume:0 disk:Outdated",
                                       "change connection name:v peer-node-id:0 conn-name:n1 connection:StandAlone"}));
  EXPECT_EQ(view.state, VolumeState::kDegraded);
  EXPECT_EQ(view.replicas[1].state, ReplicaState::kOutdated);
}

// The split-brain helper was called for the peer: the volume is split brain.
TEST_F(DrbdVolumeStateTest, SplitBrainHelperMakesTheVolumeSplitBrain) {
  auto view = derive(plus(kPrimary, {"change connection name:v peer-node-id:1 conn-name:n2 connection:StandAlone",
                                     "call helper name:v peer-node-id:1 conn-name:n2 volume:0 helper:split-brain"}),
                     kSecondary);
  EXPECT_EQ(view.state, VolumeState::kSplitBrain);
  EXPECT_EQ(view.replicas[1].state, ReplicaState::kSplitBrain);
}

// A Failed disk is a replica error whose reason names the DRBD state.
TEST_F(DrbdVolumeStateTest, FailedDiskIsAnError) {
  auto view = derive(kPrimary, plus(kSecondary, {"change device name:v volume:0 disk:Failed"}));
  EXPECT_EQ(view.state, VolumeState::kDegraded);
  EXPECT_EQ(view.replicas[1].state, ReplicaState::kError);
  EXPECT_NE(view.replicas[1].reason.find("DRBD disk state Failed"), std::string::npos) << view.replicas[1].reason;
}

}  // namespace
}  // namespace tandem::controller

namespace tandem::controller {
namespace {

using namespace fixtures;

// A diskless tie-breaker (n3) counts by its own report: the primary's peer list leaves diskless
// peers out, so without this the volume would look degraded. Running diskless: available; its
// node reporting the resource down: degraded, naming n3.
TEST_F(DrbdVolumeStateTest, DisklessTieBreakerCountsByItsOwnReport) {
  replicas_.push_back(ReplicaRecord{volume_.uuid, "n3", "", false, ""});
  report(observed_, "n3",
         {fromEvents({"exists resource name:v role:Secondary suspended:no",
                      "exists device name:v volume:0 minor:1000 disk:Diskless client:yes quorum:yes", "exists -"})});
  auto view = derive(kPrimary, kSecondary);
  EXPECT_EQ(view.state, VolumeState::kAvailable) << view.reason;
  report(observed_, "n3", {fromEvents({"exists -"})});
  view = derive(kPrimary, kSecondary);
  EXPECT_EQ(view.state, VolumeState::kDegraded);
  EXPECT_NE(view.reason.find("n3"), std::string::npos) << view.reason;
}

}  // namespace
}  // namespace tandem::controller
