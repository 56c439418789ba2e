#include "tandem/controller/healing_planner.h"

#include <gtest/gtest.h>

#include "cluster_fixtures.h"
#include "tandem/controller/placement_inputs.h"

namespace tandem::controller {
namespace {

using namespace fixtures;
using nodeapi::DiskState;
using nodeapi::PeerState;

// Three nodes hold volume v (primary n1), n4 is spare; n2 is lost.
class HealingPlannerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    group_.name = "g";
    group_.replicas = 3;
    for (const char* n : {"n1", "n2", "n3", "n4"}) {
      NodeRecord node;
      node.name = n;
      node.labels = {{"zone", std::string("z-") + n}};
      nodes_.push_back(node);
      pools_.push_back(PoolRecord{n, "p", "file", true, false});
    }
    // n2 never reports: offline.
    report(observed_, "n1",
           {replicaReport(v_, DiskState::kUpToDate, {peer("n2", PeerState::kDisconnected)})});
    report(observed_, "n3", {replicaReport(v_, DiskState::kUpToDate)});
    report(observed_, "n4", {});
  }
  HealingInput input() {
    HealingInput in;
    in.volumes = {v_};
    in.replicas = replicas_;
    in.groups = {group_};
    in.nodes = nodes_;
    in.lost_nodes = {"n2"};
    in.candidates = placementCandidates(pools_, nodes_, observed_, {});
    return in;
  }

  VolumeRecord v_ = volume("v", "n1");
  std::vector<ReplicaRecord> replicas_ = replicasOf(v_, {"n1", "n2", "n3"});
  GroupRecord group_;
  std::vector<NodeRecord> nodes_;
  std::vector<PoolRecord> pools_;
  ObservedState observed_{kStart};
};

// A lost secondary moves to the spare node, resynced from the up-to-date primary.
TEST_F(HealingPlannerTest, MovesALostSecondaryToASpareNode) {
  HealingPlan plan = planReplicaMoves(input(), observed_);
  ASSERT_EQ(plan.moves.size(), 1u);
  EXPECT_EQ(plan.moves[0].volume.name, "v");
  EXPECT_EQ(plan.moves[0].from_node, "n2");
  EXPECT_EQ(plan.moves[0].to.node, "n4");
  EXPECT_EQ(plan.moves[0].to.pool, "p");
  EXPECT_EQ(plan.moves[0].key, "v/n2");
  EXPECT_TRUE(plan.skipped.empty());
}

// The replacement is chosen by placement's scoring: of two equal spare nodes, the one holding
// fewer replicas (n5, though n4 comes first by name).
TEST_F(HealingPlannerTest, ReplacementGoesToTheLessLoadedEqualNode) {
  NodeRecord n5;
  n5.name = "n5";
  n5.labels = {{"zone", "z-n5"}};
  nodes_.push_back(n5);
  pools_.push_back(PoolRecord{"n5", "p", "file", true, false});
  report(observed_, "n5", {});
  HealingInput in = input();
  VolumeRecord w = volume("w", "n4");
  in.volumes.push_back(w);
  for (const auto& r : replicasOf(w, {"n4"})) in.replicas.push_back(r);
  addReplicaCounts(in.candidates, in.replicas);
  HealingPlan plan = planReplicaMoves(std::move(in), observed_);
  ASSERT_EQ(plan.moves.size(), 1u);
  EXPECT_EQ(plan.moves[0].to.node, "n5");
  EXPECT_EQ(plan.moves[0].to.score.node_replicas, 0u);
}

// Nothing moves while the primary still counts the "lost" node up to date (cut off from the
// controller only), nor without lost nodes.
TEST_F(HealingPlannerTest, KeepsAReplicaThePrimaryStillSeesUpToDate) {
  report(observed_, "n1", {replicaReport(v_, DiskState::kUpToDate, {peer("n2", PeerState::kUpToDate)})});
  HealingPlan plan = planReplicaMoves(input(), observed_);
  EXPECT_TRUE(plan.moves.empty());
  EXPECT_TRUE(plan.skipped.empty());
  HealingInput none = input();
  none.lost_nodes.clear();
  EXPECT_TRUE(planReplicaMoves(none, observed_).moves.empty());
}

// Without an online, up-to-date primary there is no sync source: skipped, with the reason.
TEST_F(HealingPlannerTest, NeedsAnUpToDatePrimary) {
  report(observed_, "n1", {replicaReport(v_, DiskState::kOutdated)});
  HealingPlan plan = planReplicaMoves(input(), observed_);
  EXPECT_TRUE(plan.moves.empty());
  ASSERT_EQ(plan.skipped.size(), 1u);
  EXPECT_EQ(plan.skipped[0].key, "v/n2:primary");
  EXPECT_NE(plan.skipped[0].message.find("not online and up to date"), std::string::npos);
}

// A lost primary is never moved (promotion is the operator's call).
TEST_F(HealingPlannerTest, NeverMovesThePrimary) {
  HealingInput in = input();
  in.lost_nodes = {"n1"};
  EXPECT_TRUE(planReplicaMoves(in, observed_).moves.empty());
}

// The target avoids the label values of the replicas that stay; no such node: skipped.
TEST_F(HealingPlannerTest, SpreadRulesHoldForTheReplacement) {
  group_.replicas_on_different = {"zone"};
  nodes_[3].labels["zone"] = "z-n3";  // the spare shares n3's zone
  HealingPlan plan = planReplicaMoves(input(), observed_);
  EXPECT_TRUE(plan.moves.empty());
  ASSERT_EQ(plan.skipped.size(), 1u);
  EXPECT_EQ(plan.skipped[0].key, "v/n2:placement");
}

// One move per volume per plan; a second volume's move sees the space the first one took.
TEST_F(HealingPlannerTest, OneMovePerVolumeAndSpaceIsAccounted) {
  // n2 and n3 are lost; n4 has 60 MiB free; the group is thick.
  ObservedState observed(kStart);
  VolumeRecord w = volume("w", "n1", 60 << 20);
  report(observed, "n1", {replicaReport(v_, DiskState::kUpToDate), replicaReport(w, DiskState::kUpToDate)});
  report(observed, "n4", {}, 60 << 20);
  group_.thin = false;
  HealingInput in = input();
  in.lost_nodes = {"n2", "n3"};
  auto w_replicas = replicasOf(w, {"n1", "n2"});
  in.replicas.insert(in.replicas.end(), w_replicas.begin(), w_replicas.end());
  in.volumes.push_back(w);
  in.candidates = placementCandidates(pools_, nodes_, observed, {});
  HealingPlan plan = planReplicaMoves(in, observed);
  ASSERT_EQ(plan.moves.size(), 1u) << "v moves one of its two lost replicas; w (60 MiB) no longer fits on n4";
  EXPECT_EQ(plan.moves[0].volume.name, "v");
  ASSERT_EQ(plan.skipped.size(), 1u);
  EXPECT_EQ(plan.skipped[0].key, "w/n2:placement");
}

}  // namespace
}  // namespace tandem::controller
