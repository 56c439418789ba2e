#include "tandem/controller/promotion.h"

#include <gtest/gtest.h>

#include "cluster_fixtures.h"

namespace tandem::controller {
namespace {

using namespace fixtures;
using nodeapi::DiskState;
using nodeapi::PeerState;

// Volume v: primary n1 (gone), secondaries n2 and n3, in a group with quorum unless a test says
// otherwise.
class PromotionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // n1's last report, then its silence.
    report(observed_, "n1", {replicaReport(v_, DiskState::kUpToDate, {peer("n2", PeerState::kUpToDate)})});
    observed_.markSilentOffline(kStart + std::chrono::hours(1), std::chrono::seconds(6));
    report(observed_, "n2", {replicaReport(v_, DiskState::kUpToDate)});
    report(observed_, "n3", {replicaReport(v_, DiskState::kUpToDate)});
  }
  Status check(const std::string& node, bool force = false) {
    return checkPromotion(v_, replicas_, node, force, quorum_, observed_);
  }

  bool quorum_ = true;

  VolumeRecord v_ = volume("v", "n1");
  std::vector<ReplicaRecord> replicas_ = replicasOf(v_, {"n1", "n2", "n3"});
  ObservedState observed_{kStart};
};

// With the old primary gone and evidence that n2 has every write, n2 may be promoted.
TEST_F(PromotionTest, AllowedWithEvidence) { EXPECT_TRUE(check("n2").isOk()) << check("n2").toString(); }

// The current primary is always fine (idempotent); a node without a replica never is.
TEST_F(PromotionTest, IdempotentForThePrimaryAndNeedsAReplica) {
  EXPECT_TRUE(check("n1").isOk());
  Status s = check("n9");
  EXPECT_EQ(s.code(), ErrorCode::kUnprocessable);
  EXPECT_EQ(s.reason(), "replica_not_found");
}

// Not while the primary's node is online; not onto an offline node.
TEST_F(PromotionTest, NeedsTheOldPrimaryGoneAndTheTargetOnline) {
  report(observed_, "n1", {});
  EXPECT_EQ(check("n2").reason(), "primary_online");
  EXPECT_EQ(check("n2", /*force=*/true).reason(), "primary_online") << "force does not override it";
  ObservedState fresh(kStart);
  EXPECT_EQ(checkPromotion(v_, replicas_, "n2", false, true, fresh).reason(), "node_offline");
}

// A copy that is not up to date is never promoted, not even with force.
TEST_F(PromotionTest, NeverAnOutdatedOrFailedCopy) {
  report(observed_, "n2", {replicaReport(v_, DiskState::kInconsistent)});
  Status s = check("n2", /*force=*/true);
  EXPECT_EQ(s.code(), ErrorCode::kConflict);
  EXPECT_EQ(s.reason(), "replica_not_up_to_date");
  EXPECT_NE(s.message().find("its replica is inconsistent"), std::string::npos) << s.message();
  ReplicaReport failed = replicaReport(v_, DiskState::kUpToDate);
  failed.error = "io error";
  report(observed_, "n2", {failed});
  EXPECT_EQ(check("n2", true).reason(), "replica_not_up_to_date");
  report(observed_, "n2", {});
  EXPECT_NE(check("n2", true).message().find("not reported"), std::string::npos);
}

// Without evidence (the old primary did not count the target up to date, or another copy has
// another generation) it needs force.
TEST_F(PromotionTest, UnsafeWithoutEvidenceUnlessForced) {
  Status s = check("n3");
  EXPECT_EQ(s.reason(), "promotion_unsafe");
  EXPECT_NE(s.message().find("did not count this replica up to date"), std::string::npos) << s.message();
  EXPECT_TRUE(check("n3", /*force=*/true).isOk());
  report(observed_, "n3", {replicaReport(v_, DiskState::kUpToDate, {}, "gen-2")});
  s = check("n2");
  EXPECT_EQ(s.reason(), "promotion_unsafe");
  EXPECT_NE(s.message().find("the copies diverged"), std::string::npos) << s.message();
  ObservedState no_history(kStart);
  report(no_history, "n2", {replicaReport(v_, DiskState::kUpToDate)});
  s = checkPromotion(v_, replicas_, "n2", false, true, no_history);
  EXPECT_NE(s.message().find("no report from the old primary"), std::string::npos) << s.message();
}

// Without quorum a cut-off primary still acknowledges its local clients' writes, and the controller
// cannot tell it from a dead one: even with full evidence, only force promotes (issue 8, hole 6).
TEST_F(PromotionTest, WithoutQuorumOnlyForcePromotes) {
  quorum_ = false;
  Status s = check("n2");
  EXPECT_EQ(s.code(), ErrorCode::kConflict);
  EXPECT_EQ(s.reason(), "promotion_unsafe");
  EXPECT_NE(s.message().find("has no quorum"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("cut off"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("make sure n1 is really down"), std::string::npos) << s.message();
  EXPECT_TRUE(check("n2", /*force=*/true).isOk());
  EXPECT_TRUE(check("n1").isOk()) << "the current primary stays idempotent";
  EXPECT_EQ(check("n9").reason(), "replica_not_found");
}

}  // namespace
}  // namespace tandem::controller
