#include "tandem/controller/regroup.h"

#include <gtest/gtest.h>

#include "cluster_fixtures.h"

namespace tandem::controller {
namespace {

using namespace fixtures;
using nodeapi::DiskState;
using nodeapi::PeerState;

// Volume v moves from n1 (primary) and n2 to n3 and n4: n1 and n2 are leaving.
class RegroupTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (auto& r : replicas_) r.leaving = r.node_name == "n1" || r.node_name == "n2";
  }
  // `primary` reports itself serving and up to date with `peers`; n2..n4 report up to date.
  void observe(const std::string& primary, std::vector<PeerReport> peers) {
    ReplicaReport p = replicaReport(v_, DiskState::kUpToDate, std::move(peers));
    p.primary = true;
    report(observed_, primary, {p});
    for (const char* n : {"n1", "n2", "n3", "n4"}) {
      if (n != primary) report(observed_, n, {replicaReport(v_, DiskState::kUpToDate)});
    }
  }
  static std::vector<PeerReport> allUpToDate(const std::string& except) {
    std::vector<PeerReport> out;
    for (const char* n : {"n1", "n2", "n3", "n4"}) {
      if (n != except) out.push_back(peer(n, PeerState::kUpToDate));
    }
    return out;
  }

  VolumeRecord v_ = volume("v", "n1");
  std::vector<ReplicaRecord> replicas_ = replicasOf(v_, {"n1", "n2", "n3", "n4"});
  std::vector<AttachmentRecord> attachments_;
  ObservedState observed_{kStart};
};

// Nothing leaving: nothing to do.
TEST_F(RegroupTest, NoLeavingReplicaIsNone) {
  for (auto& r : replicas_) r.leaving = false;
  observe("n1", allUpToDate("n1"));
  EXPECT_EQ(planRegroupStep(v_, replicas_, attachments_, observed_).action, RegroupAction::kNone);
}

// The primary moves only once every replica that stays is synced.
TEST_F(RegroupTest, WaitsForTheNewReplicasToSync) {
  observe("n1", {peer("n2", PeerState::kUpToDate), peer("n3", PeerState::kUpToDate),
                 peer("n4", PeerState::kSyncing, 1, 4)});
  RegroupStep step = planRegroupStep(v_, replicas_, attachments_, observed_);
  EXPECT_EQ(step.action, RegroupAction::kWait);
  EXPECT_NE(step.reason.find("n4"), std::string::npos) << step.reason;
}

// Synced: the primary is handed over to the first staying replica, or to an attached host's.
TEST_F(RegroupTest, HandsOverToAStayingReplicaPreferringTheAttachedHost) {
  observe("n1", allUpToDate("n1"));
  RegroupStep step = planRegroupStep(v_, replicas_, attachments_, observed_);
  EXPECT_EQ(step.action, RegroupAction::kHandOver);
  EXPECT_EQ(step.target, "n3");
  attachments_.push_back(AttachmentRecord{v_.uuid, "n4", AttachMode::kBlock, "", false, 0, false});
  step = planRegroupStep(v_, replicas_, attachments_, observed_);
  EXPECT_EQ(step.action, RegroupAction::kHandOver);
  EXPECT_EQ(step.target, "n4");
}

// An offline or not serving primary: wait (nothing moves to a copy nobody vouches for).
TEST_F(RegroupTest, WaitsWhileThePrimaryIsNotServing) {
  observe("n1", allUpToDate("n1"));
  ReplicaReport demoted = replicaReport(v_, DiskState::kUpToDate, allUpToDate("n1"));
  report(observed_, "n1", {demoted});
  EXPECT_EQ(planRegroupStep(v_, replicas_, attachments_, observed_).action, RegroupAction::kWait);
}

// During the handover: wait.
TEST_F(RegroupTest, WaitsDuringTheHandover) {
  observe("n1", allUpToDate("n1"));
  v_.handover_to = "n3";
  RegroupStep step = planRegroupStep(v_, replicas_, attachments_, observed_);
  EXPECT_EQ(step.action, RegroupAction::kWait);
  EXPECT_NE(step.reason.find("n3"), std::string::npos);
}

// The primary has moved to n3: the leaving replicas go once n3 serves and counts n4 up to date.
TEST_F(RegroupTest, RemovesTheLeavingReplicasAfterTheMove) {
  v_.primary_node = "n3";
  observe("n3", {peer("n1", PeerState::kUpToDate), peer("n2", PeerState::kUpToDate),
                 peer("n4", PeerState::kConnecting)});
  EXPECT_EQ(planRegroupStep(v_, replicas_, attachments_, observed_).action, RegroupAction::kWait);
  observe("n3", allUpToDate("n3"));
  RegroupStep step = planRegroupStep(v_, replicas_, attachments_, observed_);
  EXPECT_EQ(step.action, RegroupAction::kRemoveLeaving);
  EXPECT_EQ(step.remove, (std::vector<std::string>{"n1", "n2"}));
}

}  // namespace
}  // namespace tandem::controller
