#include "tandem/node/node_agent.h"

#include <gtest/gtest.h>

#include <condition_variable>
#include <mutex>

#include "local_node_test.h"
#include "tandem/nodeapi/report_delta.h"

namespace tandem::node {
namespace {

using namespace std::chrono_literals;

constexpr const char* kNodeUuid = "1a2b3c4d-5e6f-4a0b-8c1d-2e3f4a5b6c7d";
constexpr const char* kVolume = "0b0e2b5e-4c0a-4f43-9a86-3f1b7a0f5e11";
constexpr const char* kOtherVolume = "6c1f6b7e-2d5e-4b8e-9a35-0c7d2f9b1a22";

// A controller that answers registrations with `cluster_id` and polls with `states`, in order.
// Poll k is answered only once k status reports have arrived, so each report follows the handling
// of one state (the heartbeat interval is far longer than a test).
class FakeController final : public ControllerClient {
 public:
  explicit FakeController(std::string cluster_id, std::vector<DesiredState> states)
      : cluster_id_(std::move(cluster_id)), states_(std::move(states)) {}

  Result<nodeapi::RegistrationReply> registerNode(const nodeapi::Registration& registration) override {
    std::lock_guard lock(mu_);
    registrations_.push_back(registration);
    return nodeapi::RegistrationReply{kNodeUuid, "node-token", cluster_id_};
  }
  Result<DesiredState> pollDesired(const std::string&, uint64_t after, std::chrono::seconds, bool delta) override {
    std::unique_lock lock(mu_);
    size_t k = polls_++;
    asked_.emplace_back(after, delta);
    cv_.notify_all();
    cv_.wait_for(lock, 20s, [&] { return closed_ || (k < states_.size() && reports_.size() >= k); });
    if (closed_ || k >= states_.size()) return Status(ErrorCode::kUnavailable, "fake controller closed");
    return states_[k];
  }
  // How the fake answers reports: like an older controller (204, no acknowledgement: every
  // report stays full), acknowledging each, or refusing every report but liveness heartbeats.
  enum class Answer { kNoAck, kAck, kRefuse };
  void answer(Answer a) {
    std::lock_guard lock(mu_);
    answer_ = a;
  }
  Result<nodeapi::StatusAck> reportStatus(const std::string&, const nodeapi::StatusReport& report) override {
    std::lock_guard lock(mu_);
    reports_.push_back(report);
    cv_.notify_all();
    if (answer_ == Answer::kRefuse && !report.liveness_only) {
      return Status(ErrorCode::kInvalidArgument, "report status: HTTP 413: request body exceeds 64 bytes")
          .withReason("body_too_large");
    }
    if (answer_ == Answer::kAck) return nodeapi::StatusAck{report.report_seq, false};
    return nodeapi::StatusAck{};
  }

  // The n-th report (1-based), waiting for it with a deadline.
  std::optional<nodeapi::StatusReport> report(size_t n) {
    std::unique_lock lock(mu_);
    if (!cv_.wait_for(lock, 20s, [&] { return reports_.size() >= n; })) return std::nullopt;
    return reports_[n - 1];
  }
  std::vector<nodeapi::Registration> registrations() {
    std::lock_guard lock(mu_);
    return registrations_;
  }
  // Each poll's (after, delta), once at least `n` polls were made (or 20 s passed).
  std::vector<std::pair<uint64_t, bool>> asked(size_t n) {
    std::unique_lock lock(mu_);
    cv_.wait_for(lock, 20s, [&] { return asked_.size() >= n; });
    return asked_;
  }
  void close() {
    std::lock_guard lock(mu_);
    closed_ = true;
    cv_.notify_all();
  }

 private:
  const std::string cluster_id_;
  const std::vector<DesiredState> states_;
  std::mutex mu_;
  std::condition_variable cv_;
  size_t polls_ = 0;
  bool closed_ = false;
  Answer answer_ = Answer::kNoAck;
  std::vector<nodeapi::Registration> registrations_;
  std::vector<nodeapi::StatusReport> reports_;
  std::vector<std::pair<uint64_t, bool>> asked_;
};

// The agent with the real Reconciler over a real file pool and replication service.
class NodeAgentTest : public LocalNodeTest {
 protected:
  void SetUp() override {
    LocalNodeTest::SetUp();
    reconciler_ =
        std::make_unique<Reconciler>(ReconcilerOptions{metadataDir()}, pools_, *engine_, exports_, nullptr);
  }
  void TearDown() override {
    if (controller_) controller_->close();
    if (agent_) agent_->stop();
    agent_.reset();
    reconciler_.reset();
    LocalNodeTest::TearDown();
  }
  void start(NodeIdentity identity, std::string controller_cluster, std::vector<DesiredState> states,
             FakeController::Answer answer = FakeController::Answer::kNoAck) {
    controller_ = std::make_unique<FakeController>(std::move(controller_cluster), std::move(states));
    controller_->answer(answer);
    NodeAgentOptions options;
    options.name = "n1";
    options.address = "127.0.0.1";
    options.nbd_port = 10809;
    options.replication_port = 7789;
    options.labels = {{"zone", "a"}};
    options.state_dir = dir_;
    options.heartbeat_interval = std::chrono::hours(1);
    agent_ = std::make_unique<NodeAgent>(options, std::move(identity), *controller_, *reconciler_);
    agent_->start();
  }
  static DesiredState state(const std::string& cluster, uint64_t generation, std::vector<std::string> uuids) {
    DesiredState s{generation, cluster, "n1", {}};
    for (const auto& uuid : uuids)
      s.replicas.push_back(
          DesiredReplica{"vol-" + uuid.substr(0, 4), uuid, 1 << 20, 1, "default", true, false, true, {}, {}, {}});
    return s;
  }
  std::unique_ptr<Reconciler> reconciler_;
  std::unique_ptr<FakeController> controller_;
  std::unique_ptr<NodeAgent> agent_;
};

// A new node registers with its pools and labels, adopts the controller's cluster (saved in its
// identity) and applies that cluster's desired state.
TEST_F(NodeAgentTest, RegistersAndAdoptsTheControllersCluster) {
  start({}, "cluster-a", {state("cluster-a", 5, {kVolume})});
  auto report = controller_->report(1);
  ASSERT_TRUE(report.has_value());
  EXPECT_EQ(report->applied_generation, 5u);
  ASSERT_EQ(report->replicas.size(), 1u);
  EXPECT_EQ(report->replicas[0].disk, nodeapi::DiskState::kUpToDate);
  EXPECT_TRUE(backingExists(kVolume));
  auto registrations = controller_->registrations();
  ASSERT_EQ(registrations.size(), 1u);
  EXPECT_EQ(registrations[0].uuid, "") << "a new node has no uuid yet";
  EXPECT_EQ(registrations[0].labels.at("zone"), "a");
  ASSERT_EQ(registrations[0].pools.size(), 1u);
  EXPECT_EQ(registrations[0].pools[0].provider, "file");
  auto identity = loadIdentity(dir_);
  ASSERT_TRUE(identity.isOk());
  EXPECT_EQ(identity->uuid, kNodeUuid);
  EXPECT_EQ(identity->cluster_id, "cluster-a");
}

// A desired state from another cluster never deletes local data, nor creates anything.
TEST_F(NodeAgentTest, NeverAppliesAnotherClustersState) {
  start({}, "cluster-a", {state("cluster-a", 5, {kVolume}), state("cluster-b", 6, {kOtherVolume})});
  ASSERT_TRUE(controller_->report(1).has_value());
  ASSERT_TRUE(backingExists(kVolume));
  auto after = controller_->report(2);
  ASSERT_TRUE(after.has_value());
  EXPECT_EQ(after->applied_generation, 5u) << "the foreign state is not applied";
  EXPECT_TRUE(backingExists(kVolume)) << "the foreign state must not delete this cluster's replica";
  EXPECT_FALSE(backingExists(kOtherVolume)) << "nor create the foreign cluster's";
}

// A node that belongs to a cluster keeps it when a different (reset) controller answers: it
// registers there but ignores that controller's desired states.
TEST_F(NodeAgentTest, KeepsItsClusterWhenTheControllerChanges) {
  ASSERT_TRUE(reconciler_->apply(state("cluster-a", 5, {kVolume})).isOk());
  const NodeIdentity identity{"n1", kNodeUuid, "cluster-a"};
  ASSERT_TRUE(saveIdentity(dir_, identity).isOk());
  start(identity, "cluster-b", {state("cluster-b", 1, {})});
  auto report = controller_->report(1);
  ASSERT_TRUE(report.has_value());
  EXPECT_TRUE(backingExists(kVolume));
  ASSERT_EQ(controller_->registrations().size(), 1u);
  EXPECT_EQ(controller_->registrations()[0].uuid, kNodeUuid) << "re-registration keeps the identity";
  auto saved = loadIdentity(dir_);
  ASSERT_TRUE(saved.isOk());
  EXPECT_EQ(saved->cluster_id, "cluster-a");
}

// Once the controller acknowledges a report, the next is a delta against it: only what changed.
TEST_F(NodeAgentTest, ReportsDeltasAgainstTheAcknowledgedReport) {
  start({}, "cluster-a", {state("cluster-a", 5, {kVolume}), state("cluster-a", 6, {kVolume, kOtherVolume})},
        FakeController::Answer::kAck);
  auto first = controller_->report(1);
  ASSERT_TRUE(first.has_value());
  EXPECT_EQ(first->base_seq, 0u) << "the first report is full";
  EXPECT_EQ(first->report_seq, 1u);
  ASSERT_EQ(first->replicas.size(), 1u);
  auto second = controller_->report(2);
  ASSERT_TRUE(second.has_value());
  EXPECT_EQ(second->base_seq, 1u) << "a delta against the acknowledged report";
  EXPECT_EQ(second->report_seq, 2u);
  EXPECT_EQ(second->applied_generation, 6u);
  bool has_new = false;
  for (const auto& r : second->replicas) has_new = has_new || r.volume_uuid == kOtherVolume;
  EXPECT_TRUE(has_new) << "the new replica is in the delta";
  nodeapi::StatusReport whole = nodeapi::applyReportDelta(*first, *second);
  ASSERT_EQ(whole.replicas.size(), 2u);
}

// Against a controller that does not acknowledge (an older one), every report stays full.
TEST_F(NodeAgentTest, ReportsStayFullWithoutAcknowledgements) {
  start({}, "cluster-a", {state("cluster-a", 5, {kVolume}), state("cluster-a", 6, {kVolume, kOtherVolume})});
  auto second = controller_->report(2);
  ASSERT_TRUE(second.has_value());
  EXPECT_EQ(second->base_seq, 0u);
  EXPECT_EQ(second->replicas.size(), 2u);
}

// A refused report is followed by a liveness heartbeat that says why, so the controller keeps
// the node online instead of taking it for lost.
TEST_F(NodeAgentTest, ARefusedReportIsFollowedByALivenessHeartbeat) {
  start({}, "cluster-a", {state("cluster-a", 5, {kVolume})}, FakeController::Answer::kRefuse);
  auto refused = controller_->report(1);
  ASSERT_TRUE(refused.has_value());
  EXPECT_FALSE(refused->liveness_only);
  auto live = controller_->report(2);
  ASSERT_TRUE(live.has_value());
  EXPECT_TRUE(live->liveness_only);
  EXPECT_NE(live->report_error.find("413"), std::string::npos) << live->report_error;
}


// After its first (full) state the agent asks for deltas after the state it applied, and hands
// the reconciler the full state a delta makes: a delta that adds one volume keeps the others
// (applied as a whole state, it would remove them).
TEST_F(NodeAgentTest, AppliesDesiredStateDeltas) {
  DesiredState delta = state("cluster-a", 6, {kOtherVolume});
  delta.delta = true;
  delta.covers = {kOtherVolume};
  start({}, "cluster-a", {state("cluster-a", 5, {kVolume}), delta});
  ASSERT_TRUE(controller_->report(1).has_value());
  auto second = controller_->report(2);
  ASSERT_TRUE(second.has_value());
  EXPECT_EQ(second->applied_generation, 6u);
  EXPECT_TRUE(backingExists(kOtherVolume)) << "the delta's volume is made";
  EXPECT_TRUE(backingExists(kVolume)) << "the volumes the delta does not cover stay";
  EXPECT_EQ(second->replicas.size(), 2u);
  auto asked = controller_->asked(3);
  ASSERT_GE(asked.size(), 3u);
  EXPECT_EQ(asked[0], std::make_pair(uint64_t{0}, false)) << "the first poll asks for the whole state";
  EXPECT_EQ(asked[1], std::make_pair(uint64_t{5}, true)) << "then a delta after the state applied";
  EXPECT_EQ(asked[2], std::make_pair(uint64_t{6}, true));
}

}  // namespace
}  // namespace tandem::node
