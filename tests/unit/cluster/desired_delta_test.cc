// Desired-state deltas end to end over a real SQLite store: a node that starts from its full
// state and then only ever applies the deltas it is answered (nodeapi::applyDesiredDelta) holds
// exactly the full state the controller would build, after every kind of change; and a delta
// carries only the volumes the change concerns.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <set>

#include "tandem/controller/cluster_service.h"
#include "tandem/nodeapi/desired_delta.h"

namespace tandem::controller {
namespace {

using namespace std::chrono_literals;

// Entries in volume order: the order of a merged state is not the controller's.
DesiredState canonical(DesiredState s) {
  std::sort(s.replicas.begin(), s.replicas.end(),
            [](const auto& a, const auto& b) { return a.volume_uuid < b.volume_uuid; });
  std::sort(s.attachments.begin(), s.attachments.end(),
            [](const auto& a, const auto& b) { return a.volume_uuid < b.volume_uuid; });
  return s;
}

class DesiredDeltaTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/tandem-delta-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    auto store = openSqliteStore({dir_ + "/state.db"});
    ASSERT_TRUE(store.isOk()) << store.status().toString();
    store_ = std::move(store).value();
    cluster_ = std::make_unique<ClusterService>(*store_, clock_, ClusterOptions{6s, 0s});
  }
  void TearDown() override {
    cluster_.reset();
    store_.reset();
    std::filesystem::remove_all(dir_);
  }

  Status registerNode(const std::string& name, const std::string& address, bool storage) {
    RegisterNodeRequest request;
    request.name = name;
    request.address = address;
    request.nbd_port = 10809;
    request.replication_port = 7000;
    if (storage) request.pools = {pool_};
    auto known = cluster_->getNode(name);
    if (known.isOk()) request.uuid = known->node.uuid;
    return cluster_->registerNode(request).status();
  }

  // One poll of `node` answered at once (wait 0), in the form asked.
  DesiredState poll(const std::string& node, uint64_t after, DesiredForm form) {
    std::optional<Result<DesiredState>> answer;
    cluster_->watchDesiredState(node, after, 0ms, [&](Result<DesiredState> s) { answer = std::move(s); }, form);
    EXPECT_TRUE(answer.has_value()) << node << ": a poll with wait 0 is answered at once";
    if (!answer) return {};
    EXPECT_TRUE(answer->isOk()) << node << ": " << answer->status().toString();
    return answer->isOk() ? answer->value() : DesiredState{};
  }

  // Every node fetches its full state (its base).
  void startNodes() {
    for (const auto& n : nodes_) {
      base_[n] = poll(n, 0, DesiredForm::kDelta);
      EXPECT_FALSE(base_[n].delta) << n << ": after=0 is answered in full";
    }
  }

  // Every node polls for a delta after its base and applies it; the result must equal its full
  // state. Returns what each answer covered (nodes answered in full are absent).
  std::map<std::string, std::vector<std::string>> syncNodes(const std::string& step) {
    std::map<std::string, std::vector<std::string>> covered;
    for (const auto& n : nodes_) {
      DesiredState answer = poll(n, base_[n].generation, DesiredForm::kDelta);
      if (answer.delta) {
        covered[n] = answer.covers;
        ++deltas_;
      } else {
        ++fulls_;
      }
      auto merged = nodeapi::applyDesiredDelta(base_[n], answer);
      EXPECT_TRUE(merged.isOk()) << step << ", " << n << ": " << merged.status().toString();
      if (!merged.isOk()) continue;
      auto full = cluster_->desiredState(n);
      EXPECT_TRUE(full.isOk()) << full.status().toString();
      if (!full.isOk()) continue;
      EXPECT_EQ(canonical(*merged), canonical(*full))
          << step << ": node " << n << " applying deltas does not hold its full state";
      base_[n] = std::move(merged).value();
    }
    return covered;
  }

  std::string uuidOf(const std::string& volume) {
    auto v = cluster_->getVolume(volume);
    EXPECT_TRUE(v.isOk()) << v.status().toString();
    return v.isOk() ? v->volume.uuid : "";
  }

  std::string dir_;
  ManualClock clock_;
  std::unique_ptr<Store> store_;
  std::unique_ptr<ClusterService> cluster_;
  const PoolReport pool_{"p", "file", true, true, 1ull << 40, 1ull << 40, 0};
  std::vector<std::string> nodes_ = {"s1", "s2", "s3", "s4", "h"};
  std::map<std::string, DesiredState> base_;
  int deltas_ = 0;
  int fulls_ = 0;
};

// Every kind of change, each followed by every node applying its delta: the merged state is the
// full state each time, and unscoped answers (full ones) are the exception.
TEST_F(DesiredDeltaTest, ANodeApplyingDeltasHoldsItsFullState) {
  for (const char* n : {"s1", "s2", "s3", "s4"}) ASSERT_TRUE(registerNode(n, "127.0.0.1", true).isOk());
  ASSERT_TRUE(registerNode("h", "127.0.0.50", false).isOk());
  for (auto [name, replicas] : {std::pair{"g2", 2u}, std::pair{"g3", 3u}}) {
    GroupRecord g;
    g.name = name;
    g.replicas = replicas;
    ASSERT_TRUE(cluster_->createGroup(g).isOk());
  }
  startNodes();

  for (int i = 1; i <= 6; ++i) {
    ASSERT_TRUE(cluster_->createVolume({"v" + std::to_string(i), 1 << 20, i % 2 ? "g2" : "g3"}).isOk());
    syncNodes("create v" + std::to_string(i));
  }
  ASSERT_TRUE(cluster_->createSnapshot("v1", "snap").isOk());
  syncNodes("snapshot");
  ASSERT_TRUE(cluster_->attachVolume("v2", {"h", AttachMode::kNbd, ""}).isOk());
  syncNodes("attach nbd");
  ASSERT_TRUE(cluster_->attachVolume("v3", {"h", AttachMode::kBlock, ""}).isOk());
  syncNodes("attach block");

  // A forced detach on an online host: the attachment leaves h's state and v3 is in its
  // force_detach list; no report within detach_wait puts the attachment back.
  ASSERT_TRUE(cluster_->reportStatus("h", NodeStatusReport{}).isOk());
  std::optional<Status> detached;
  cluster_->detachVolume("v3", "h", /*force=*/true, [&](Status s) { detached = std::move(s); });
  ASSERT_FALSE(detached.has_value()) << "waits for the host's report";
  syncNodes("forced detach pending");
  EXPECT_EQ(base_["h"].force_detach, std::vector<std::string>{"v3"});
  clock_.advance(11s);
  ASSERT_TRUE(cluster_->reportStatus("h", NodeStatusReport{}).isOk());  // still alive, device not gone
  cluster_->tick();
  ASSERT_TRUE(detached.has_value());
  EXPECT_EQ(detached->reason(), "detach_timeout") << detached->toString();
  syncNodes("forced detach timed out");
  EXPECT_TRUE(base_["h"].force_detach.empty());
  // The storage nodes stay alive for what follows (their last reports were at the start).
  for (const char* n : {"s1", "s2", "s3", "s4"}) {
    NodeStatusReport alive;
    alive.pools = {pool_};
    ASSERT_TRUE(cluster_->reportStatus(n, alive).isOk());
  }

  // A clone of v1: its snapshot is taken, then the clone is made from it (its primary's entry
  // names the source snapshot, another volume's: the delta must carry that too).
  std::optional<Result<std::pair<VolumeView, bool>>> cloned;
  cluster_->cloneVolume({"c1", 1 << 20, "g2", "v1", ""}, [&](auto r) { cloned = std::move(r); });
  syncNodes("clone: snapshot requested");
  auto source = cluster_->getVolume("v1");
  ASSERT_TRUE(source.isOk());
  auto clone_snapshot = cluster_->getSnapshot("v1", cloneSnapshotName("c1"));
  ASSERT_TRUE(clone_snapshot.isOk()) << clone_snapshot.status().toString();
  NodeStatusReport report;
  report.pools = {pool_};
  report.replicas.push_back(ReplicaReport{source->volume.uuid, nodeapi::DiskState::kUpToDate, "g1", true, "", {},
                                          {clone_snapshot->snapshot.uuid}, {}});
  ASSERT_TRUE(cluster_->reportStatus(source->volume.primary_node, report).isOk());
  ASSERT_TRUE(cloned.has_value());
  ASSERT_TRUE(cloned->isOk()) << cloned->status().toString();
  syncNodes("clone made");
  const std::string clone_primary = (*cloned)->first.volume.primary_node;
  bool names_source = false;
  for (const auto& r : base_[clone_primary].replicas) {
    if (r.volume_name == "c1") names_source = r.clone_snapshot == clone_snapshot->snapshot.uuid;
  }
  EXPECT_TRUE(names_source) << "the clone's primary " << clone_primary << " clones the snapshot of v1";
  UpdateVolumeRequest grow;
  grow.size_bytes = 2 << 20;
  ASSERT_TRUE(cluster_->updateVolume("v1", grow).isOk());
  syncNodes("grow");
  UpdateVolumeRequest fewer;
  fewer.replicas = 1;
  ASSERT_TRUE(cluster_->updateVolume("v4", fewer).isOk());
  syncNodes("remove a replica");
  UpdateVolumeRequest more;
  more.replicas = 3;
  ASSERT_TRUE(cluster_->updateVolume("v5", more).isOk());
  syncNodes("add a replica");
  ASSERT_TRUE(cluster_->deleteSnapshot("v1", "snap").isOk());
  syncNodes("delete snapshot");
  ASSERT_TRUE(cluster_->deleteVolume("v6").isOk());
  syncNodes("delete volume");
  ASSERT_TRUE(cluster_->forgetVolume("v4").isOk());
  syncNodes("forget (a release)");
  ASSERT_TRUE(registerNode("s2", "127.0.0.1", true).isOk());
  syncNodes("re-register at the same address");

  // A new address: each peer's delta covers exactly the volumes it shares with the node.
  auto s1_replicas = store_->listReplicasOnNode("s1");
  ASSERT_TRUE(s1_replicas.isOk());
  std::set<std::string> s1_volumes;
  for (const auto& r : *s1_replicas) s1_volumes.insert(r.volume_uuid);
  ASSERT_TRUE(registerNode("s1", "127.0.0.9", true).isOk());
  auto covered = syncNodes("readdress");
  int peers = 0;
  for (const char* n : {"s2", "s3", "s4"}) {
    auto replicas = store_->listReplicasOnNode(n);
    ASSERT_TRUE(replicas.isOk());
    std::vector<std::string> shared;
    for (const auto& r : *replicas) {
      if (s1_volumes.count(r.volume_uuid)) shared.push_back(r.volume_uuid);
    }
    std::sort(shared.begin(), shared.end());
    if (shared.empty()) continue;
    ++peers;
    ASSERT_TRUE(covered.count(n)) << n << " shares volumes with s1: answered with a delta";
    EXPECT_EQ(covered[n], shared) << n << ": the delta covers the shared volumes, and only those";
  }
  EXPECT_GT(peers, 0);
  ASSERT_TRUE(covered.count("h"));
  EXPECT_EQ(covered["h"].size(), s1_volumes.count(uuidOf("v2")) + s1_volumes.count(uuidOf("v3")))
      << "the host's delta covers its attached volumes that s1 holds";

  // Deltas were the rule: only the nodes whose whole state changed got full answers.
  EXPECT_GT(deltas_, 10 * fulls_) << deltas_ << " deltas, " << fulls_ << " full answers";
}

// A poll that does not ask for a delta, or asks after a generation older than the change log
// knows (a node that missed answers, a controller restart), is answered in full.
TEST_F(DesiredDeltaTest, OldOrUnaskedPollsAreAnsweredInFull) {
  ASSERT_TRUE(registerNode("s1", "127.0.0.1", true).isOk());
  GroupRecord g;
  g.name = "g";
  g.replicas = 1;
  ASSERT_TRUE(cluster_->createGroup(g).isOk());
  ASSERT_TRUE(cluster_->createVolume({"a", 1 << 20, "g"}).isOk());
  const DesiredState first = poll("s1", 0, DesiredForm::kDelta);
  ASSERT_TRUE(cluster_->createVolume({"b", 1 << 20, "g"}).isOk());
  EXPECT_FALSE(poll("s1", first.generation, DesiredForm::kFull).delta) << "not asked for a delta";
  const DesiredState second = poll("s1", first.generation, DesiredForm::kDelta);
  ASSERT_TRUE(second.delta);
  EXPECT_EQ(second.covers, std::vector<std::string>{uuidOf("b")});
  ASSERT_EQ(second.replicas.size(), 1u);
  // The log forgot what came before `first.generation` once the node asked after it.
  EXPECT_FALSE(poll("s1", first.generation - 1, DesiredForm::kDelta).delta);
  EXPECT_FALSE(poll("s1", second.generation + 5, DesiredForm::kDelta).delta) << "a generation from the future";

  // A controller restart: the new store's change log starts at the stored generation. A node
  // older than that (here: a create it had not seen) gets its full state; one at it, a delta.
  const uint64_t before_restart = poll("s1", second.generation, DesiredForm::kDelta).generation;
  ASSERT_TRUE(cluster_->createVolume({"c", 1 << 20, "g"}).isOk());
  cluster_.reset();
  store_.reset();
  auto reopened = openSqliteStore({dir_ + "/state.db"});
  ASSERT_TRUE(reopened.isOk());
  store_ = std::move(reopened).value();
  cluster_ = std::make_unique<ClusterService>(*store_, clock_, ClusterOptions{6s, 0s});
  const DesiredState after_restart = poll("s1", before_restart, DesiredForm::kDelta);
  EXPECT_FALSE(after_restart.delta) << "the log does not know what changed before the restart";
  EXPECT_EQ(after_restart.replicas.size(), 3u);
  ASSERT_TRUE(cluster_->createSnapshot("a", "snap").isOk());  // (no node has reported: no create)
  const DesiredState next = poll("s1", after_restart.generation, DesiredForm::kDelta);
  EXPECT_TRUE(next.delta) << "changes after the restart are in the log";
  EXPECT_EQ(next.covers, std::vector<std::string>{uuidOf("a")});
}

}  // namespace
}  // namespace tandem::controller
