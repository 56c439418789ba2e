#include "tandem/controller/replica_layout.h"

#include <gtest/gtest.h>

#include "cluster_fixtures.h"
#include "tandem/controller/placement_inputs.h"

namespace tandem::controller {
namespace {

using namespace fixtures;
using nodeapi::DiskState;
using nodeapi::PeerState;

// Five nodes n1..n5 with pool "p" (n5 also "q"), zones z1..z5; volume v has replicas on n1
// (primary), n2 and n3; the primary counts n3 up to date and n2 syncing.
class ReplicaLayoutTest : public ::testing::Test {
 protected:
  void SetUp() override {
    group_.name = "g";
    group_.replicas = 3;
    for (int i = 1; i <= 5; ++i) {
      NodeRecord node;
      node.name = "n" + std::to_string(i);
      node.labels = {{"zone", "z" + std::to_string(i)}};
      nodes_.push_back(node);
      pools_.push_back(PoolRecord{node.name, "p", "file", true, false});
    }
    pools_.push_back(PoolRecord{"n5", "q", "file", true, false});
    report(observed_, "n1",
           {replicaReport(v_, DiskState::kUpToDate,
                          {peer("n2", PeerState::kSyncing, 1, 4), peer("n3", PeerState::kUpToDate)})});
    for (const char* n : {"n2", "n3", "n4", "n5"}) report(observed_, n, {});
  }
  LayoutInput input(uint32_t replicas) {
    LayoutInput in;
    in.volume = v_;
    in.group = group_;
    in.replicas = replicas;
    in.size_bytes = v_.size_bytes;
    in.current = replicas_;
    in.attachments = attachments_;
    in.nodes = nodes_;
    in.candidates = placementCandidates(pools_, nodes_, observed_, {});
    return in;
  }

  VolumeRecord v_ = volume("v", "n1");
  std::vector<ReplicaRecord> replicas_ = replicasOf(v_, {"n1", "n2", "n3"});
  std::vector<AttachmentRecord> attachments_;
  GroupRecord group_;
  std::vector<NodeRecord> nodes_;
  std::vector<PoolRecord> pools_;
  ObservedState observed_{kStart};
};

// The same count and group plan nothing.
TEST_F(ReplicaLayoutTest, SameCountChangesNothing) {
  auto plan = planLayout(input(3), observed_);
  ASSERT_TRUE(plan.isOk()) << plan.status().toString();
  EXPECT_TRUE(plan->empty());
}

// More replicas are placed on nodes holding none of the volume's replicas.
TEST_F(ReplicaLayoutTest, AddsReplicasOnNewNodes) {
  auto plan = planLayout(input(5), observed_);
  ASSERT_TRUE(plan.isOk()) << plan.status().toString();
  EXPECT_TRUE(plan->remove_nodes.empty());
  ASSERT_EQ(plan->add.size(), 2u);
  std::set<std::string> nodes{plan->add[0].node, plan->add[1].node};
  EXPECT_EQ(nodes, (std::set<std::string>{"n4", "n5"}));
}

// Fewer replicas remove the secondaries the primary does not count up to date first, never the primary.
TEST_F(ReplicaLayoutTest, RemovesNotUpToDateSecondariesFirst) {
  auto two = planLayout(input(2), observed_);
  ASSERT_TRUE(two.isOk()) << two.status().toString();
  EXPECT_EQ(two->remove_nodes, (std::vector<std::string>{"n2"}));
  EXPECT_TRUE(two->add.empty());
  auto one = planLayout(input(1), observed_);
  ASSERT_TRUE(one.isOk());
  EXPECT_EQ(one->remove_nodes, (std::vector<std::string>{"n2", "n3"}));
}

// An attached host's replica stays even when not up to date; removing it is 409 volume_attached.
TEST_F(ReplicaLayoutTest, KeepsTheReplicaOfAnAttachedHost) {
  attachments_.push_back(AttachmentRecord{v_.uuid, "n2", AttachMode::kBlock, "", false, 0, false});
  auto two = planLayout(input(2), observed_);
  ASSERT_TRUE(two.isOk()) << two.status().toString();
  EXPECT_EQ(two->remove_nodes, (std::vector<std::string>{"n3"}));
  auto one = planLayout(input(1), observed_);
  ASSERT_FALSE(one.isOk());
  EXPECT_EQ(one.status().code(), ErrorCode::kConflict);
  EXPECT_EQ(one.status().reason(), "volume_attached");
}

// Too few nodes for the count: placement's 422 not_enough_nodes.
TEST_F(ReplicaLayoutTest, MoreReplicasThanNodesIsNotEnoughNodes) {
  auto plan = planLayout(input(6), observed_);
  ASSERT_FALSE(plan.isOk());
  EXPECT_EQ(plan.status().code(), ErrorCode::kUnprocessable);
  EXPECT_EQ(plan.status().reason(), "not_enough_nodes");
}

// A new group spreading by a label only n4 and n5 carry: two replicas are placed there; the
// primary cannot stay, so nothing is removed now: every current replica is leaving (regroup.h
// moves the primary to a new one first). When the primary's node is attached, that is 409
// volume_attached.
TEST_F(ReplicaLayoutTest, GroupChangeExcludingThePrimaryMarksItsReplicasLeaving) {
  group_.name = "h";
  group_.pools = {"p"};
  group_.replicas_on_different = {"zone"};
  auto same_pools = planLayout(input(3), observed_);
  ASSERT_TRUE(same_pools.isOk()) << same_pools.status().toString();
  EXPECT_TRUE(same_pools->empty());

  group_.replicas_on_different = {"rack"};
  nodes_[3].labels = {{"zone", "z4"}, {"rack", "r4"}};
  nodes_[4].labels = {{"zone", "z5"}, {"rack", "r5"}};
  auto moved = planLayout(input(2), observed_);
  ASSERT_TRUE(moved.isOk()) << moved.status().toString();
  EXPECT_TRUE(moved->remove_nodes.empty());
  EXPECT_EQ(moved->leave_nodes, (std::vector<std::string>{"n1", "n2", "n3"}));
  ASSERT_EQ(moved->add.size(), 2u);
  EXPECT_EQ((std::set<std::string>{moved->add[0].node, moved->add[1].node}), (std::set<std::string>{"n4", "n5"}));

  attachments_.push_back(AttachmentRecord{v_.uuid, "n1", AttachMode::kBlock, "", false, 0, false});
  auto attached = planLayout(input(2), observed_);
  ASSERT_FALSE(attached.isOk());
  EXPECT_EQ(attached.status().reason(), "volume_attached");
  EXPECT_NE(attached.status().message().find("primary"), std::string::npos) << attached.status().message();
  attachments_.clear();
  group_.replicas_on_different = {"zone"};

  group_.pools = {"p", "q"};
  nodes_[2].labels = {{"zone", "z1"}};  // n3 shares the primary's zone: it must go
  auto spread = planLayout(input(3), observed_);
  ASSERT_TRUE(spread.isOk()) << spread.status().toString();
  EXPECT_EQ(spread->remove_nodes, (std::vector<std::string>{"n3"}));
  ASSERT_EQ(spread->add.size(), 1u);
  EXPECT_NE(spread->add[0].node, "n3");
}

}  // namespace
}  // namespace tandem::controller

namespace tandem::controller {
namespace {

// Evacuating a node: its replica leaves (never removed at once, even a secondary), a new one is
// placed elsewhere at the same count; the primary's leaves once it has moved; an attached host's
// replica cannot go (409 volume_attached).
TEST_F(ReplicaLayoutTest, EvacuatedReplicasLeaveAfterTheirReplacementsSync) {
  LayoutInput secondary = input(3);
  secondary.evacuating = {"n2"};
  secondary.candidates.erase(std::remove_if(secondary.candidates.begin(), secondary.candidates.end(),
                                            [](const PoolCandidate& c) { return c.node == "n2"; }),
                             secondary.candidates.end());
  auto plan = planLayout(secondary, observed_);
  ASSERT_TRUE(plan.isOk()) << plan.status().toString();
  EXPECT_TRUE(plan->remove_nodes.empty()) << "a copy goes only once its replacement holds the data";
  EXPECT_EQ(plan->leave_nodes, std::vector<std::string>{"n2"});
  ASSERT_EQ(plan->add.size(), 1u);
  EXPECT_TRUE(plan->add[0].node == "n4" || plan->add[0].node == "n5") << plan->add[0].node;

  LayoutInput primary = input(3);
  primary.evacuating = {"n1"};
  plan = planLayout(primary, observed_);
  ASSERT_TRUE(plan.isOk()) << plan.status().toString();
  EXPECT_EQ(plan->leave_nodes, std::vector<std::string>{"n1"});
  EXPECT_EQ(plan->add.size(), 1u);

  LayoutInput attached = input(3);
  attached.evacuating = {"n3"};
  attached.attachments = {AttachmentRecord{v_.uuid, "n3", AttachMode::kBlock, "", false, 0}};
  EXPECT_EQ(planLayout(attached, observed_).status().reason(), "volume_attached");
}

}  // namespace
}  // namespace tandem::controller
