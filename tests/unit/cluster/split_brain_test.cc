#include "tandem/controller/split_brain.h"

#include <gtest/gtest.h>

#include "cluster_fixtures.h"

namespace tandem::controller {
namespace {

using namespace fixtures;
using nodeapi::DiskState;
using nodeapi::PeerState;

// Volume v at epoch 2: n2 is the (promoted) primary, n1 the old primary that came back with writes
// n2 lacks (n2 reports it split brain), n3 followed n2.
class SplitBrainTest : public ::testing::Test {
 protected:
  void SetUp() override {
    v_.epoch = 2;
    report(observed_, "n2", {replicaReport(v_, DiskState::kUpToDate,
                                           {peer("n1", PeerState::kSplitBrain), peer("n3", PeerState::kUpToDate)},
                                           "gen-b")});
    report(observed_, "n1", {replicaReport(v_, DiskState::kUpToDate, {}, "gen-a")});
    report(observed_, "n3", {replicaReport(v_, DiskState::kUpToDate, {}, "gen-b")});
  }

  VolumeRecord v_ = volume("v", "n2");
  std::vector<ReplicaRecord> replicas_ = replicasOf(v_, {"n1", "n2", "n3"});
  ObservedState observed_{kStart};
};

// Keeping the primary's data: the epoch stays, every other reported copy is told to discard
// exactly the generation it has.
TEST_F(SplitBrainTest, KeepingThePrimaryDiscardsTheOthers) {
  auto plan = planSplitBrainResolution(v_, replicas_, "n2", observed_);
  ASSERT_TRUE(plan.isOk()) << plan.status().toString();
  EXPECT_EQ(plan->primary, "n2");
  EXPECT_EQ(plan->epoch, 2u);
  EXPECT_EQ(plan->discard, (std::map<std::string, std::string>{{"n1", "gen-a"}, {"n3", "gen-b"}}));
}

// Keeping the diverged copy: it becomes primary at the next epoch and the others discard theirs.
TEST_F(SplitBrainTest, KeepingTheDivergedCopyPromotesIt) {
  auto plan = planSplitBrainResolution(v_, replicas_, "n1", observed_);
  ASSERT_TRUE(plan.isOk()) << plan.status().toString();
  EXPECT_EQ(plan->primary, "n1");
  EXPECT_EQ(plan->epoch, 3u);
  EXPECT_EQ(plan->discard, (std::map<std::string, std::string>{{"n2", "gen-b"}, {"n3", "gen-b"}}));
}

// Refusals: no replica on that node, nothing diverged, the kept node offline or not up to date.
TEST_F(SplitBrainTest, Refusals) {
  Status s = planSplitBrainResolution(v_, replicas_, "n9", observed_).status();
  EXPECT_EQ(s.code(), ErrorCode::kUnprocessable);
  EXPECT_EQ(s.reason(), "replica_not_found");

  ObservedState calm(kStart);
  report(calm, "n2", {replicaReport(v_, DiskState::kUpToDate, {peer("n1", PeerState::kUpToDate)})});
  report(calm, "n1", {replicaReport(v_, DiskState::kUpToDate)});
  s = planSplitBrainResolution(v_, replicas_, "n2", calm).status();
  EXPECT_EQ(s.code(), ErrorCode::kConflict);
  EXPECT_EQ(s.reason(), "not_split_brain");

  report(observed_, "n1", {replicaReport(v_, DiskState::kInconsistent, {}, "gen-a")});
  s = planSplitBrainResolution(v_, replicas_, "n1", observed_).status();
  EXPECT_EQ(s.reason(), "replica_not_up_to_date");
  EXPECT_NE(s.message().find("inconsistent"), std::string::npos) << s.message();

  observed_.markSilentOffline(kStart + std::chrono::hours(1), std::chrono::seconds(6));
  s = planSplitBrainResolution(v_, replicas_, "n2", observed_).status();
  EXPECT_EQ(s.reason(), "not_split_brain") << "an offline primary's old report is no evidence";
}

}  // namespace
}  // namespace tandem::controller
