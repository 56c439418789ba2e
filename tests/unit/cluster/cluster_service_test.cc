#include "tandem/controller/cluster_service.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <condition_variable>
#include <filesystem>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <thread>

#include "tandem/common/object_name.h"

namespace tandem::controller {
namespace {

using namespace std::chrono_literals;

// The facade over a real SQLite store and a manual clock.
class ClusterServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/tandem-cluster-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    auto store = openSqliteStore({dir_ + "/state.db"});
    ASSERT_TRUE(store.isOk()) << store.status().toString();
    store_ = std::move(store).value();
    cluster_ = std::make_unique<ClusterService>(*store_, clock_, ClusterOptions{6s, 0s});
  }
  void TearDown() override {
    joinProbe();
    cluster_.reset();
    store_.reset();
    std::filesystem::remove_all(dir_);
  }
  Status registerNode(const std::string& name, std::vector<PoolReport> pools = {}) {
    RegisterNodeRequest request;
    request.name = name;
    request.address = "127.0.0.1";
    request.nbd_port = 10809;
    request.replication_port = 7000;
    request.pools = std::move(pools);
    return cluster_->registerNode(request).status();
  }
  // Whether another thread can take the service's lock now (it cannot while this thread holds
  // it). That thread is joined later, by joinProbe(), once the caller has let go of the service.
  bool lockIsFree() {
    probe_ = std::thread([this] {
      (void)cluster_->listVolumes();
      std::lock_guard lock(probe_mu_);
      probe_done_ = true;
      probe_cv_.notify_all();
    });
    std::unique_lock lock(probe_mu_);
    return probe_cv_.wait_for(lock, 5s, [this] { return probe_done_; });
  }
  void joinProbe() {
    if (probe_.joinable()) probe_.join();
  }
  // Node n1 with a pool, node n2 without (an attaching host), and volume v (1 replica, on n1).
  void volumeOnN1WithHostN2(std::string& uuid) {
    RegisterNodeRequest storage;
    storage.name = "n1";
    storage.address = "127.0.0.1";
    storage.nbd_port = 10809;
    storage.replication_port = 7000;
    storage.pools = {PoolReport{"p", "file", true, false, 1 << 30, 1 << 30, 0}};
    ASSERT_TRUE(cluster_->registerNode(storage).isOk());
    ASSERT_TRUE(registerNode("n2").isOk());
    GroupRecord group;
    group.name = "g";
    group.replicas = 1;
    ASSERT_TRUE(cluster_->createGroup(group).isOk());
    auto created = cluster_->createVolume({"v", 1 << 20, "g"});
    ASSERT_TRUE(created.isOk()) << created.status().toString();
    uuid = created->first.volume.uuid;
  }

  // Long-poll answers, recorded from the service's answering thread: the answer and whether the
  // service's lock was free in the callback.
  struct Answer {
    Result<DesiredState> state;
    bool lock_free = false;
  };
  // A callback that records node's answer (checking the lock when `probe_lock`).
  std::function<void(Result<DesiredState>)> recordAnswer(const std::string& node, bool probe_lock = false) {
    return [this, node, probe_lock](Result<DesiredState> state) {
      const bool free = probe_lock && lockIsFree();
      std::lock_guard lock(answers_mu_);
      answers_.insert_or_assign(node, Answer{std::move(state), free});
      answers_cv_.notify_all();
    };
  }
  // Waits up to 10 s for node's answer.
  std::optional<Answer> waitAnswer(const std::string& node) {
    std::unique_lock lock(answers_mu_);
    if (!answers_cv_.wait_for(lock, 10s, [&] { return answers_.count(node) != 0; })) return std::nullopt;
    return answers_.at(node);
  }
  bool answered(const std::string& node) {
    std::lock_guard lock(answers_mu_);
    return answers_.count(node) != 0;
  }
  // Registers storage node `name` with one pool (room for any test volume); `uuid`: re-registers.
  Status registerStorage(const std::string& name, const std::string& address = "127.0.0.1",
                         const std::string& uuid = "") {
    RegisterNodeRequest request;
    request.name = name;
    request.uuid = uuid;
    request.address = address;
    request.nbd_port = 10809;
    request.replication_port = 7000;
    request.pools = {PoolReport{"p", "file", true, false, 1ull << 40, 1ull << 40, 0}};
    return cluster_->registerNode(request).status();
  }

  // Storage nodes s1, s2, s3 and volume v with two replicas: fills `holders` (its two nodes) and
  // `spare` (the third).
  void volumeOnTwoOfThree(std::set<std::string>& holders, std::string& spare) {
    for (const char* n : {"s1", "s2", "s3"}) ASSERT_TRUE(registerStorage(n).isOk());
    GroupRecord group;
    group.name = "g";
    group.replicas = 2;
    ASSERT_TRUE(cluster_->createGroup(group).isOk());
    auto created = cluster_->createVolume({"v", 1 << 20, "g"});
    ASSERT_TRUE(created.isOk()) << created.status().toString();
    for (const auto& r : created->first.replicas) holders.insert(r.node);
    ASSERT_EQ(holders.size(), 2u);
    for (const char* n : {"s1", "s2", "s3"}) {
      if (!holders.count(n)) spare = n;
    }
  }

  std::mutex answers_mu_;
  std::condition_variable answers_cv_;
  std::map<std::string, Answer> answers_;
  std::thread probe_;
  std::mutex probe_mu_;
  std::condition_variable probe_cv_;
  bool probe_done_ = false;
  std::string dir_;
  ManualClock clock_;
  std::unique_ptr<Store> store_;
  std::unique_ptr<ClusterService> cluster_;
};

// A registration wakes the long-polls of the nodes whose state shows the node's addresses (its
// peers), and their callbacks run with the service's lock released (a callback may call the
// service again). A node that shares nothing with it is not woken.
TEST_F(ClusterServiceTest, RegistrationAnswersWatchersWithoutTheLock) {
  ASSERT_TRUE(registerStorage("n1").isOk());
  ASSERT_TRUE(registerStorage("n2").isOk());
  ASSERT_TRUE(registerNode("n3").isOk());
  GroupRecord group;
  group.name = "g";
  group.replicas = 2;
  ASSERT_TRUE(cluster_->createGroup(group).isOk());
  ASSERT_TRUE(cluster_->createVolume({"v", 1 << 20, "g"}).isOk());  // on n1 and n2 (n3 has no pool)
  auto generation = cluster_->storeGeneration();
  ASSERT_TRUE(generation.isOk());
  cluster_->watchDesiredState("n3", *generation, 30s, recordAnswer("n3"));
  cluster_->watchDesiredState("n1", *generation, 30s, recordAnswer("n1", /*probe_lock=*/true));
  EXPECT_FALSE(answered("n1")) << "nothing changed yet: the poll waits";
  ASSERT_TRUE(registerStorage("n2", "127.0.0.2", cluster_->getNode("n2")->node.uuid).isOk());
  auto answer = waitAnswer("n1");
  joinProbe();
  ASSERT_TRUE(answer.has_value()) << "a registration changes its peers' addresses: the poll is answered";
  ASSERT_TRUE(answer->state.isOk()) << answer->state.status().toString();
  EXPECT_GT(answer->state->generation, *generation);
  ASSERT_EQ(answer->state->replicas.size(), 1u);
  ASSERT_EQ(answer->state->replicas[0].peers.size(), 1u);
  EXPECT_EQ(answer->state->replicas[0].peers[0].host, "127.0.0.2");
  EXPECT_TRUE(answer->lock_free) << "the callback ran under the service's lock";
  EXPECT_FALSE(answered("n3")) << "n3's state does not show n2: its poll waits";
}

// A long-poll with nothing to report is answered at its deadline by tick(), also unlocked.
TEST_F(ClusterServiceTest, TickAnswersExpiredWatchersWithoutTheLock) {
  ASSERT_TRUE(registerNode("n1").isOk());
  auto generation = cluster_->storeGeneration();
  ASSERT_TRUE(generation.isOk());
  cluster_->watchDesiredState("n1", *generation, 10s, recordAnswer("n1", /*probe_lock=*/true));
  clock_.advance(9s);
  cluster_->tick();
  EXPECT_FALSE(answered("n1"));
  clock_.advance(1s);
  cluster_->tick();
  auto answer = waitAnswer("n1");
  joinProbe();
  ASSERT_TRUE(answer.has_value()) << "answered at its deadline";
  EXPECT_TRUE(answer->lock_free);
}

// A change to a volume wakes the long-polls of the nodes holding its replicas and of the hosts it
// is attached on, and not that of a node it does not concern (that one is answered at its
// deadline, the safety net, with the current state).
TEST_F(ClusterServiceTest, VolumeChangeWakesOnlyTheNodesItConcerns) {
  std::set<std::string> holders;
  std::string unrelated;
  ASSERT_NO_FATAL_FAILURE(volumeOnTwoOfThree(holders, unrelated));
  ASSERT_TRUE(registerNode("h").isOk());
  ASSERT_TRUE(cluster_->attachVolume("v", {"h", AttachMode::kNbd, ""}).isOk());

  auto generation = cluster_->storeGeneration();
  ASSERT_TRUE(generation.isOk());
  // The unrelated node first: were it woken, it would be answered before the others.
  cluster_->watchDesiredState(unrelated, *generation, 30s, recordAnswer(unrelated));
  std::vector<std::string> concerned(holders.begin(), holders.end());
  concerned.push_back("h");
  for (const auto& n : concerned) cluster_->watchDesiredState(n, *generation, 30s, recordAnswer(n));
  for (const auto& n : concerned) EXPECT_FALSE(answered(n)) << n << ": nothing changed yet";

  ASSERT_TRUE(cluster_->createSnapshot("v", "s").isOk());
  for (const auto& n : concerned) {
    auto answer = waitAnswer(n);
    ASSERT_TRUE(answer.has_value()) << n << " holds the volume or has it attached: woken";
    ASSERT_TRUE(answer->state.isOk()) << answer->state.status().toString();
    EXPECT_GT(answer->state->generation, *generation) << n;
  }
  auto holder = waitAnswer(concerned[0]);
  ASSERT_EQ(holder->state->replicas.size(), 1u);
  EXPECT_EQ(holder->state->replicas[0].snapshots.size(), 1u) << "the woken node sees the snapshot";
  EXPECT_FALSE(answered(unrelated)) << unrelated << " holds nothing of the volume: not woken";

  clock_.advance(30s);
  cluster_->tick();
  auto late = waitAnswer(unrelated);
  ASSERT_TRUE(late.has_value()) << "the deadline answers it";
  ASSERT_TRUE(late->state.isOk());
  EXPECT_EQ(late->state->generation, *cluster_->storeGeneration()) << "with the current generation";
}

// Removing a replica wakes the node it leaves (which must drop it) as well as the one that
// stays; a node that never held the volume is not woken.
TEST_F(ClusterServiceTest, ReplicaChangesWakeTheNodesBeforeAndAfter) {
  std::set<std::string> holders;
  std::string spare;
  ASSERT_NO_FATAL_FAILURE(volumeOnTwoOfThree(holders, spare));
  auto generation = cluster_->storeGeneration();
  for (const char* n : {"s1", "s2", "s3"}) cluster_->watchDesiredState(n, *generation, 30s, recordAnswer(n));
  UpdateVolumeRequest fewer;
  fewer.replicas = 1;
  auto changed = cluster_->updateVolume("v", fewer);
  ASSERT_TRUE(changed.isOk()) << changed.status().toString();
  for (const auto& n : holders) {
    auto answer = waitAnswer(n);
    ASSERT_TRUE(answer.has_value()) << n << " held a replica before the change: woken";
  }
  EXPECT_FALSE(answered(spare));
}

// Placement reads the node and pool rows once and keeps them; a registration makes it read them
// again, so a node registered after a create is a candidate for the next one.
TEST_F(ClusterServiceTest, PlacementSeesNodesRegisteredAfterACreate) {
  ASSERT_TRUE(registerStorage("s1").isOk());
  GroupRecord one;
  one.name = "one";
  one.replicas = 1;
  ASSERT_TRUE(cluster_->createGroup(one).isOk());
  GroupRecord two;
  two.name = "two";
  two.replicas = 2;
  ASSERT_TRUE(cluster_->createGroup(two).isOk());
  ASSERT_TRUE(cluster_->createVolume({"a", 1 << 20, "one"}).isOk());
  EXPECT_EQ(cluster_->createVolume({"b", 1 << 20, "two"}).status().reason(), "not_enough_nodes");
  ASSERT_TRUE(registerStorage("s2").isOk());
  auto b = cluster_->createVolume({"b", 1 << 20, "two"});
  ASSERT_TRUE(b.isOk()) << b.status().toString();
  EXPECT_EQ(b->first.replicas.size(), 2u);
}

// After a restart, warmUp() builds placement's running totals from the replicas in the store:
// the next creates go to the node that holds fewer (counted from the store, not from zero).
TEST_F(ClusterServiceTest, WarmUpCountsTheStoredReplicas) {
  ASSERT_TRUE(registerStorage("s1").isOk());
  GroupRecord one;
  one.name = "one";
  one.replicas = 1;
  ASSERT_TRUE(cluster_->createGroup(one).isOk());
  for (const char* v : {"a", "b", "c"}) ASSERT_TRUE(cluster_->createVolume({v, 1 << 20, "one"}).isOk());
  ASSERT_TRUE(registerStorage("s2").isOk());

  cluster_ = std::make_unique<ClusterService>(*store_, clock_, ClusterOptions{6s, 0s});  // a restart
  NodeStatusReport report;
  report.pools = {PoolReport{"p", "file", true, false, 1ull << 40, 1ull << 40, 0}};
  for (const char* n : {"s1", "s2"}) ASSERT_TRUE(cluster_->reportStatus(n, report).isOk());
  ASSERT_TRUE(cluster_->warmUp().isOk());
  for (const char* v : {"d", "e", "f"}) {
    auto created = cluster_->createVolume({v, 1 << 20, "one"});
    ASSERT_TRUE(created.isOk()) << created.status().toString();
    EXPECT_EQ(created->first.volume.primary_node, "s2") << v << ": s1 holds three already";
  }
}

// A heartbeat makes a node online; silence past the timeout makes it offline at the next tick.
TEST_F(ClusterServiceTest, LivenessFollowsHeartbeats) {
  ASSERT_TRUE(registerNode("n1").isOk());
  EXPECT_TRUE(cluster_->getNode("n1")->online);
  clock_.advance(7s);
  cluster_->tick();
  EXPECT_FALSE(cluster_->getNode("n1")->online);
  ASSERT_TRUE(cluster_->reportStatus("n1", {}).isOk());
  EXPECT_TRUE(cluster_->getNode("n1")->online);
  EXPECT_EQ(cluster_->reportStatus("n9", {}).code(), ErrorCode::kNotFound);
}

// A node whose reports are refused heartbeats with liveness reports: it stays online, shows why,
// and self-healing does not move its replica — which it does once the node really goes silent.
TEST_F(ClusterServiceTest, LivenessHeartbeatsKeepANodesReplicas) {
  cluster_ = std::make_unique<ClusterService>(*store_, clock_, ClusterOptions{6s, 5s});
  const PoolReport pool{"p", "file", true, false, 1ull << 40, 1ull << 40, 0};
  for (const char* n : {"n1", "n2", "n3"}) ASSERT_TRUE(registerNode(n, {pool}).isOk());
  GroupRecord group;
  group.name = "r2";
  group.replicas = 2;
  ASSERT_TRUE(cluster_->createGroup(group).isOk());
  auto created = cluster_->createVolume({"v", 1 << 20, "r2"});
  ASSERT_TRUE(created.isOk()) << created.status().toString();
  const VolumeView& v = created->first;
  const std::string primary = v.volume.primary_node;
  std::string victim;
  for (const auto& r : v.replicas) {
    if (r.node != primary) victim = r.node;
  }
  // The primary no longer reaches the victim's copy (so self-healing would move it once the
  // victim is lost).
  auto primaryReport = [&](uint64_t seq) {
    NodeStatusReport r;
    r.report_seq = seq;
    r.pools = {pool};
    ReplicaReport rep;
    rep.volume_uuid = v.volume.uuid;
    rep.disk = nodeapi::DiskState::kUpToDate;
    rep.primary = true;
    rep.peers = {PeerReport{victim, nodeapi::PeerState::kDisconnected, 0, 0}};
    r.replicas = {rep};
    return r;
  };
  NodeStatusReport spare;  // the third node: an empty pool
  spare.pools = {pool};
  NodeStatusReport refused;
  refused.report_seq = 1;
  refused.liveness_only = true;
  refused.report_error = "report status: HTTP 413: request body exceeds 16384 bytes";
  uint64_t seq = 1;
  for (int i = 0; i < 10; ++i) {  // 20 s: far past the heartbeat timeout and replace-after
    ASSERT_TRUE(cluster_->receiveReport(primary, primaryReport(seq++)).isOk());
    for (const auto& n : {"n1", "n2", "n3"}) {
      if (n != primary && n != victim) {
        ASSERT_TRUE(cluster_->reportStatus(n, spare).isOk());
      }
    }
    auto ack = cluster_->receiveReport(victim, refused);
    ASSERT_TRUE(ack.isOk());
    EXPECT_EQ(ack->acknowledged, 0u) << "a liveness heartbeat applies no report";
    clock_.advance(2s);
    cluster_->tick();
  }
  auto node = cluster_->getNode(victim);
  ASSERT_TRUE(node.isOk());
  EXPECT_TRUE(node->online);
  EXPECT_EQ(node->report_error, refused.report_error);
  EXPECT_EQ(cluster_->replicasReplaced(), 0u) << "the node is alive: its replica stays";

  // The victim falls silent for real: past the timeout and replace-after its replica moves.
  for (int i = 0; i < 10 && cluster_->replicasReplaced() == 0; ++i) {
    ASSERT_TRUE(cluster_->receiveReport(primary, primaryReport(seq++)).isOk());
    for (const auto& n : {"n1", "n2", "n3"}) {
      if (n != primary && n != victim) {
        ASSERT_TRUE(cluster_->reportStatus(n, spare).isOk());
      }
    }
    clock_.advance(2s);
    cluster_->tick();
  }
  EXPECT_EQ(cluster_->replicasReplaced(), 1u);
}

// A block detach waits for the host's report made after it applied the change: a busy device
// restores the attachment (device_busy), a removed one completes the detach; the volume can then
// be deleted. The callbacks run without the service's lock.
TEST_F(ClusterServiceTest, DetachWaitsForTheHostsReport) {
  std::string uuid;
  ASSERT_NO_FATAL_FAILURE(volumeOnN1WithHostN2(uuid));

  auto attached = cluster_->attachVolume("v", {"n2", AttachMode::kBlock, ""});
  ASSERT_TRUE(attached.isOk()) << attached.status().toString();
  EXPECT_TRUE(attached->second);
  EXPECT_FALSE(cluster_->attachVolume("v", {"n2", AttachMode::kBlock, ""})->second) << "a repeat is the same";
  EXPECT_EQ(cluster_->deleteVolume("v").reason(), "volume_attached");
  EXPECT_EQ(cluster_->getVolume("v")->attached_hosts, std::vector<std::string>{"n2"});

  NodeStatusReport device;
  device.attachments = {{uuid, "/dev/tandem/v", nodeapi::DeviceHealth::kHealthy, false, ""}};
  ASSERT_TRUE(cluster_->reportStatus("n2", device).isOk());
  EXPECT_EQ(cluster_->listAttachments("v")->at(0).state, AttachmentState::kAttached);

  std::optional<Status> result;
  auto detach = [&] {
    result.reset();
    cluster_->detachVolume("v", "n2", false, [&](Status s) {
      EXPECT_TRUE(lockIsFree());
      joinProbe();
      probe_done_ = false;
      result = s;
    });
  };
  detach();
  ASSERT_FALSE(result.has_value()) << "waits for the host";
  EXPECT_EQ(cluster_->listAttachments("v")->at(0).state, AttachmentState::kDetaching);
  EXPECT_TRUE(cluster_->desiredState("n2")->attachments.empty());
  ASSERT_TRUE(cluster_->reportStatus("n2", device).isOk());
  ASSERT_FALSE(result.has_value()) << "a report from before the change decides nothing";

  device.applied_generation = *cluster_->storeGeneration();
  device.attachments[0].busy = true;
  device.attachments[0].error = "device_busy: mounted on /mnt";
  ASSERT_TRUE(cluster_->reportStatus("n2", device).isOk());
  ASSERT_TRUE(result.has_value());
  EXPECT_EQ(result->reason(), "device_busy");
  EXPECT_NE(result->message().find("mounted on /mnt"), std::string::npos) << result->message();
  EXPECT_EQ(cluster_->listAttachments("v")->at(0).state, AttachmentState::kAttached);
  EXPECT_EQ(cluster_->desiredState("n2")->attachments.size(), 1u);

  detach();
  ASSERT_FALSE(result.has_value());
  NodeStatusReport gone;
  gone.applied_generation = *cluster_->storeGeneration();
  ASSERT_TRUE(cluster_->reportStatus("n2", gone).isOk());
  ASSERT_TRUE(result.has_value());
  EXPECT_TRUE(result->isOk()) << result->toString();
  EXPECT_TRUE(cluster_->listAttachments("v")->empty());
  detach();
  ASSERT_TRUE(result.has_value() && result->isOk()) << "detaching what is not attached is fine";
  EXPECT_TRUE(cluster_->deleteVolume("v").isOk());
}

// The end of a live migration: a multi-attach volume attached on its primary's host n1 and on
// n2, which holds the other (up-to-date) replica, stays served by n1; once n1's detach is done,
// n2 is the only host and the primary follows it by the planned handover (n1 stops first, then
// n2 takes the next epoch). Without followRemainingAttachmentLocked the primary stayed on n1.
TEST_F(ClusterServiceTest, PrimaryFollowsTheLastRemainingAttachment) {
  for (const char* name : {"n1", "n2"}) {
    RegisterNodeRequest storage;
    storage.name = name;
    storage.address = "127.0.0.1";
    storage.nbd_port = 10809;
    storage.replication_port = 7000;
    storage.pools = {PoolReport{"p", "file", true, false, 1 << 30, 1 << 30, 0}};
    ASSERT_TRUE(cluster_->registerNode(storage).isOk());
  }
  GroupRecord group;
  group.name = "g";
  group.replicas = 2;
  group.allow_multiattach = true;
  ASSERT_TRUE(cluster_->createGroup(group).isOk());
  auto created = cluster_->createVolume({"v", 1 << 20, "g"});
  ASSERT_TRUE(created.isOk()) << created.status().toString();
  const std::string uuid = created->first.volume.uuid;
  const std::string p = created->first.volume.primary_node;
  const std::string s = p == "n1" ? "n2" : "n1";
  const uint64_t epoch = cluster_->getVolume("v")->volume.epoch;
  auto report = [&](const std::string& node, bool primary, bool with_device) {
    NodeStatusReport r;
    r.applied_generation = *cluster_->storeGeneration();
    ReplicaReport replica;
    replica.volume_uuid = uuid;
    replica.disk = nodeapi::DiskState::kUpToDate;
    replica.generation = "g1";
    replica.primary = primary;
    if (primary) replica.peers = {{node == p ? s : p, nodeapi::PeerState::kUpToDate, 0, 0}};
    r.replicas = {replica};
    if (with_device) r.attachments = {{uuid, "/dev/tandem/v", nodeapi::DeviceHealth::kHealthy, false, ""}};
    return cluster_->reportStatus(node, r);
  };
  ASSERT_TRUE(cluster_->attachVolume("v", {p, AttachMode::kBlock, ""}).isOk());
  ASSERT_TRUE(report(p, true, true).isOk());
  ASSERT_TRUE(report(s, false, false).isOk());
  ASSERT_TRUE(cluster_->attachVolume("v", {s, AttachMode::kBlock, ""}).isOk());
  ASSERT_TRUE(report(s, false, true).isOk());
  cluster_->tick();
  EXPECT_EQ(cluster_->getVolume("v")->volume.primary_node, p) << "attached on two hosts: the primary stays";

  std::optional<Status> result;
  cluster_->detachVolume("v", p, false, [&](Status st) { result = st; });
  ASSERT_FALSE(result.has_value());
  ASSERT_TRUE(report(p, true, false).isOk());  // the device on p is gone
  ASSERT_TRUE(result.has_value() && result->isOk()) << (result ? result->toString() : "");
  auto desired = cluster_->desiredState(p);
  ASSERT_TRUE(desired.isOk());
  ASSERT_EQ(desired->replicas.size(), 1u);
  EXPECT_FALSE(desired->replicas[0].primary) << "the handover starts: the old primary stops serving first";
  EXPECT_EQ(cluster_->getVolume("v")->volume.primary_node, p) << "not before it has stopped";

  ASSERT_TRUE(report(p, false, false).isOk());  // demoted
  cluster_->tick();
  auto moved = cluster_->getVolume("v");
  ASSERT_TRUE(moved.isOk());
  EXPECT_EQ(moved->volume.primary_node, s);
  EXPECT_EQ(moved->volume.epoch, epoch + 1);
  EXPECT_TRUE(cluster_->desiredState(s)->replicas.at(0).primary);
}

// A host that stays silent: the detach gives up at the deadline and restores the attachment;
// an offline host needs force, which forgets the attachment at once.
TEST_F(ClusterServiceTest, DetachTimesOutAndForceForgetsAnOfflineHost) {
  std::string uuid;
  ASSERT_NO_FATAL_FAILURE(volumeOnN1WithHostN2(uuid));
  ASSERT_TRUE(cluster_->attachVolume("v", {"n2", AttachMode::kBlock, ""}).isOk());
  EXPECT_EQ(cluster_->attachVolume("v", {"n9", AttachMode::kBlock, ""}).status().reason(), "node_not_found");
  EXPECT_EQ(cluster_->attachVolume("v", {"n1", AttachMode::kBlock, ""}).status().reason(),
            "multiattach_not_allowed");

  std::optional<Status> result;
  cluster_->detachVolume("v", "n2", false, [&](Status s) { result = s; });
  ASSERT_FALSE(result.has_value());
  clock_.advance(9s);
  ASSERT_TRUE(cluster_->reportStatus("n1", {}).isOk());
  cluster_->tick();
  ASSERT_FALSE(result.has_value()) << "n2 is offline, but the wait has not ended";
  clock_.advance(2s);
  cluster_->tick();
  ASSERT_TRUE(result.has_value()) << "the wait ended";
  EXPECT_EQ(result->reason(), "detach_timeout");
  EXPECT_EQ(cluster_->listAttachments("v")->size(), 1u);

  cluster_->detachVolume("v", "n2", false, [&](Status s) { result = s; });
  EXPECT_EQ(result->reason(), "node_offline");
  cluster_->detachVolume("v", "n2", true, [&](Status s) { result = s; });
  EXPECT_TRUE(result->isOk()) << result->toString();
  EXPECT_TRUE(cluster_->listAttachments("v")->empty());
  cluster_->detachVolume("nope", "n2", true, [&](Status s) { result = s; });
  EXPECT_EQ(result->reason(), "volume_not_found");
}

// Growing a volume: the new size reaches every replica's desired state; shrinking, a pool without
// room (named) and changes not implemented yet are 422 with nothing changed.
TEST_F(ClusterServiceTest, GrowingAVolumeChecksEveryReplicasPool) {
  constexpr uint64_t kGiB = uint64_t{1} << 30;
  for (auto [name, free] : {std::pair{"n1", 10 * kGiB}, std::pair{"n2", 3 * kGiB}}) {
    ASSERT_TRUE(registerNode(name, {PoolReport{"p", "file", false, true, 10 * kGiB, free, 0}}).isOk());
  }
  GroupRecord group;
  group.name = "g";
  group.replicas = 2;
  group.thin = false;
  ASSERT_TRUE(cluster_->createGroup(group).isOk());
  ASSERT_TRUE(cluster_->createVolume({"v", 1 * kGiB, "g"}).isOk());
  const uint64_t generation = *cluster_->storeGeneration();

  auto grown = cluster_->updateVolume("v", {2 * kGiB, std::nullopt, std::nullopt});
  ASSERT_TRUE(grown.isOk()) << grown.status().toString();
  EXPECT_EQ(grown->volume.size_bytes, 2 * kGiB);
  EXPECT_GT(*cluster_->storeGeneration(), generation);
  for (const char* node : {"n1", "n2"}) {
    auto desired = cluster_->desiredState(node);
    ASSERT_TRUE(desired.isOk());
    ASSERT_EQ(desired->replicas.size(), 1u);
    EXPECT_EQ(desired->replicas[0].size_bytes, 2 * kGiB) << node;
  }
  const uint64_t after_grow = *cluster_->storeGeneration();
  EXPECT_TRUE(cluster_->updateVolume("v", {2 * kGiB, 2, std::string("g")}).isOk()) << "the same values change nothing";
  EXPECT_EQ(*cluster_->storeGeneration(), after_grow);

  auto shrink = cluster_->updateVolume("v", {1 * kGiB, std::nullopt, std::nullopt});
  EXPECT_EQ(shrink.status().code(), ErrorCode::kUnprocessable);
  EXPECT_EQ(shrink.status().reason(), "volume_shrink");
  // n2 reported 3 GiB free, 2 of which the (not yet reported) replica takes: 2 more do not fit.
  auto no_room = cluster_->updateVolume("v", {4 * kGiB, std::nullopt, std::nullopt});
  EXPECT_EQ(no_room.status().reason(), "no_space") << no_room.status().toString();
  EXPECT_NE(no_room.status().message().find("pool p on node n2"), std::string::npos) << no_room.status().message();
  auto too_large = cluster_->updateVolume("v", {11 * kGiB, std::nullopt, std::nullopt});
  EXPECT_EQ(too_large.status().reason(), "volume_too_large");
  EXPECT_NE(too_large.status().message().find("pool p on node n1"), std::string::npos);
  // Three replicas on two nodes do not fit; with a grow that would fit, nothing of it is applied.
  EXPECT_EQ(cluster_->updateVolume("v", {std::nullopt, 3, std::nullopt}).status().reason(), "not_enough_nodes");
  EXPECT_EQ(cluster_->updateVolume("v", {3 * kGiB, 3, std::nullopt}).status().reason(), "not_enough_nodes");
  EXPECT_EQ(cluster_->updateVolume("v", {std::nullopt, std::nullopt, std::string("h")}).status().reason(),
            "resource_group_not_found");
  EXPECT_EQ(cluster_->updateVolume("nope", {2 * kGiB, std::nullopt, std::nullopt}).status().code(),
            ErrorCode::kNotFound);
  EXPECT_EQ(cluster_->getVolume("v")->volume.size_bytes, 2 * kGiB);
  EXPECT_EQ(*cluster_->storeGeneration(), after_grow) << "a refused change changed the state";
}

// A snapshot is asked of the primary through its desired state, is `creating` until the primary
// reports it, and records which nodes hold copies; a volume with snapshots is deleted only with
// cascade.
TEST_F(ClusterServiceTest, SnapshotLifecycleFollowsThePrimarysReports) {
  for (const char* name : {"n1", "n2"}) {
    ASSERT_TRUE(registerNode(name, {PoolReport{"p", "file", true, true, 10ull << 30, 10ull << 30, 0}}).isOk());
  }
  GroupRecord group;
  group.name = "g";
  group.replicas = 2;
  ASSERT_TRUE(cluster_->createGroup(group).isOk());
  auto volume = cluster_->createVolume({"v", 1 << 30, "g"});
  ASSERT_TRUE(volume.isOk());
  ASSERT_TRUE(cluster_->createVolume({"w", 1 << 30, "g"}).isOk());
  const std::string primary = volume->first.volume.primary_node;
  const std::string secondary = primary == "n1" ? "n2" : "n1";
  const std::string uuid = volume->first.volume.uuid;

  auto created = cluster_->createSnapshot("v", "s1");
  ASSERT_TRUE(created.isOk()) << created.status().toString();
  EXPECT_TRUE(created->second);
  EXPECT_EQ(created->first.snapshot.state, SnapshotState::kCreating);
  const std::string snap = created->first.snapshot.uuid;
  EXPECT_FALSE(cluster_->createSnapshot("v", "s1")->second) << "idempotent by name";
  EXPECT_EQ(cluster_->createSnapshot("w", "s1").status().reason(), "snapshot_exists");
  EXPECT_EQ(cluster_->createSnapshot("nope", "s9").status().reason(), "volume_not_found");
  EXPECT_EQ(cluster_->getSnapshot("w", "s1").status().reason(), "snapshot_not_found");

  auto desiredOf = [&](const std::string& node) {
    auto d = cluster_->desiredState(node);
    EXPECT_TRUE(d.isOk());
    for (const auto& r : d->replicas) {
      if (r.volume_uuid == uuid) return r;
    }
    ADD_FAILURE() << "no replica of v on " << node;
    return DesiredReplica{};
  };
  EXPECT_EQ(desiredOf(primary).take_snapshots, std::vector<std::string>{snap});
  EXPECT_EQ(desiredOf(secondary).take_snapshots, std::vector<std::string>{});
  EXPECT_EQ(desiredOf(secondary).snapshots, std::vector<std::string>{snap});

  // A secondary's report does not make it available; the primary's does.
  const PoolReport pool{"p", "file", true, true, 10ull << 30, 10ull << 30, 0};
  NodeStatusReport from_secondary;
  from_secondary.pools = {pool};
  from_secondary.replicas.push_back(ReplicaReport{uuid, nodeapi::DiskState::kUpToDate, "g1", false, "", {}, {snap}, {}});
  ASSERT_TRUE(cluster_->reportStatus(secondary, from_secondary).isOk());
  EXPECT_EQ(cluster_->getSnapshot("v", "s1")->snapshot.state, SnapshotState::kCreating);
  NodeStatusReport from_primary;
  from_primary.pools = {pool};
  from_primary.replicas.push_back(ReplicaReport{uuid, nodeapi::DiskState::kUpToDate, "g1", true, "", {}, {snap}, {}});
  ASSERT_TRUE(cluster_->reportStatus(primary, from_primary).isOk());
  auto taken = cluster_->getSnapshot("v", "s1");
  ASSERT_TRUE(taken.isOk());
  EXPECT_EQ(taken->snapshot.state, SnapshotState::kAvailable);
  EXPECT_EQ(taken->copies.size(), 2u);
  EXPECT_TRUE(desiredOf(primary).take_snapshots.empty()) << "taken once, never again";
  EXPECT_EQ(cluster_->listSnapshots("v")->size(), 1u);

  // A snapshot the primary reports failed is `error` and no longer kept by anyone.
  ASSERT_TRUE(cluster_->createSnapshot("v", "s2").isOk());
  const std::string snap2 = cluster_->getSnapshot("v", "s2")->snapshot.uuid;
  from_primary.replicas[0].failed_snapshots = {snap2};
  ASSERT_TRUE(cluster_->reportStatus(primary, from_primary).isOk());
  EXPECT_EQ(cluster_->getSnapshot("v", "s2")->snapshot.state, SnapshotState::kError);
  EXPECT_EQ(desiredOf(secondary).snapshots, std::vector<std::string>{snap});

  // A volume made from s1: its primary clones the snapshot, the other replica is synced from it,
  // and s1 cannot go while that copy is being made.
  EXPECT_EQ(cluster_->createVolume({"c", 1 << 29, "g", "v", "s1"}).status().reason(), "volume_too_small");
  EXPECT_EQ(cluster_->createVolume({"c", 1 << 30, "g", "v", "s2"}).status().reason(), "snapshot_not_ready");
  EXPECT_EQ(cluster_->createVolume({"c", 1 << 30, "g", "v", ""}).status().code(), ErrorCode::kInternal)
      << "a clone of the live volume is cloneVolume's";
  auto copy = cluster_->createVolume({"c", 2u << 30, "g", "v", "s1"});
  ASSERT_TRUE(copy.isOk()) << copy.status().toString();
  EXPECT_EQ(copy->first.state, VolumeState::kCreating);
  const std::string copy_uuid = copy->first.volume.uuid;
  for (const char* node : {"n1", "n2"}) {
    auto d = cluster_->desiredState(node);
    ASSERT_TRUE(d.isOk());
    for (const auto& r : d->replicas) {
      if (r.volume_uuid != copy_uuid) continue;
      EXPECT_EQ(r.clone_volume, r.primary ? uuid : "") << node;
      EXPECT_EQ(r.clone_snapshot, r.primary ? snap : "") << node;
      EXPECT_EQ(r.from_primary, !r.primary) << node;
    }
  }
  EXPECT_EQ(cluster_->deleteSnapshot("v", "s1").reason(), "snapshot_in_use");
  ASSERT_TRUE(cluster_->deleteVolume("c").isOk());

  // Revert: asked of the primary once; the volume is creating until the primary reports it done.
  EXPECT_EQ(cluster_->revertSnapshot("v", "s2").status().reason(), "snapshot_not_ready");
  auto reverting = cluster_->revertSnapshot("v", "s1");
  ASSERT_TRUE(reverting.isOk()) << reverting.status().toString();
  EXPECT_EQ(reverting->state, VolumeState::kCreating);
  const DesiredReplica asked = desiredOf(primary);
  EXPECT_EQ(asked.revert_snapshot, snap);
  EXPECT_FALSE(asked.revert_id.empty());
  EXPECT_TRUE(desiredOf(secondary).revert_id.empty());
  EXPECT_EQ(cluster_->revertSnapshot("v", "s1").status().reason(), "revert_in_progress");
  EXPECT_EQ(cluster_->deleteSnapshot("v", "s1").reason(), "snapshot_in_use");
  from_primary.replicas[0].reverted = asked.revert_id;
  ASSERT_TRUE(cluster_->reportStatus(primary, from_primary).isOk());
  EXPECT_TRUE(desiredOf(primary).revert_id.empty()) << "done once, never again";
  EXPECT_NE(cluster_->getVolume("v")->reason, "reverting to a snapshot");
  // A primary without a copy cannot revert.
  from_primary.replicas[0].snapshots.clear();
  ASSERT_TRUE(cluster_->reportStatus(primary, from_primary).isOk());
  EXPECT_EQ(cluster_->revertSnapshot("v", "s1").status().reason(), "snapshot_not_on_primary");

  EXPECT_EQ(cluster_->deleteVolume("v").reason(), "volume_has_snapshots");
  ASSERT_TRUE(cluster_->deleteSnapshot("v", "s2").isOk());
  EXPECT_EQ(cluster_->deleteSnapshot("v", "s2").code(), ErrorCode::kNotFound);
  ASSERT_TRUE(cluster_->deleteVolume("v", /*cascade=*/true).isOk());
  EXPECT_EQ(cluster_->getVolume("v").status().code(), ErrorCode::kNotFound);
}

// Adopt → the node takes it → two replicas → forget → the node releases it: each step in the
// desired states and the store, over a real SQLite store.
TEST_F(ClusterServiceTest, AdoptGrowReplicasAndForgetThroughDesiredStates) {
  for (const char* name : {"n1", "n2"}) {
    ASSERT_TRUE(registerNode(name, {PoolReport{"p", "file", true, false, 1 << 30, 1 << 30, 0}}).isOk());
  }
  GroupRecord group;
  group.name = "g";
  group.replicas = 2;
  ASSERT_TRUE(cluster_->createGroup(group).isOk());
  auto heartbeat = [&](const std::string& node, std::vector<ReplicaReport> replicas, uint64_t applied,
                       std::vector<nodeapi::UnmanagedVolume> unmanaged) {
    NodeStatusReport r;
    r.applied_generation = applied;
    PoolReport pool{"p", "file", true, false, 1 << 30, 1 << 30, 0};
    pool.unmanaged = std::move(unmanaged);
    r.pools = {pool};
    r.replicas = std::move(replicas);
    ASSERT_TRUE(cluster_->reportStatus(node, std::move(r)).isOk());
  };
  heartbeat("n1", {}, 0, {{"legacy", 4 << 20, "/pool/legacy.img"}});
  heartbeat("n2", {}, 0, {});

  const uint64_t before = *cluster_->storeGeneration();
  auto dry = cluster_->adoptVolume({"v", "n1", "p", "legacy", "g", true});
  ASSERT_TRUE(dry.isOk()) << dry.status().toString();
  EXPECT_EQ(dry->first.volume.size_bytes, 4u << 20);
  EXPECT_EQ(*cluster_->storeGeneration(), before) << "a dry run changed the state";
  EXPECT_EQ(cluster_->getVolume("v").status().code(), ErrorCode::kNotFound);

  auto adopted = cluster_->adoptVolume({"v", "n1", "p", "legacy", "g", false});
  ASSERT_TRUE(adopted.isOk()) << adopted.status().toString();
  EXPECT_TRUE(adopted->second);
  EXPECT_EQ(adopted->first.state, VolumeState::kCreating);
  const std::string uuid = adopted->first.volume.uuid;
  EXPECT_FALSE(cluster_->adoptVolume({"v", "n1", "p", "legacy", "g", false})->second) << "idempotent by name";
  EXPECT_EQ(cluster_->adoptVolume({"w", "n1", "p", "legacy", "g", false}).status().reason(), "backing_managed");
  EXPECT_EQ(cluster_->adoptVolume({"v", "n2", "p", "legacy", "g", false}).status().reason(), "volume_exists");
  auto desired = cluster_->desiredState("n1");
  ASSERT_TRUE(desired.isOk());
  ASSERT_EQ(desired->replicas.size(), 1u);
  EXPECT_EQ(desired->replicas[0].adopt_from, "legacy");
  EXPECT_TRUE(desired->replicas[0].primary);

  // The node took it: the adoption ends, the desired state no longer asks for it.
  ReplicaReport held;
  held.volume_uuid = uuid;
  held.disk = nodeapi::DiskState::kUpToDate;
  held.primary = true;
  held.backing_path = "/pool/" + uuid + ".img";
  heartbeat("n1", {held}, *cluster_->storeGeneration(), {});
  EXPECT_FALSE(store_->getVolume("v")->adopting);
  EXPECT_EQ(cluster_->desiredState("n1")->replicas[0].adopt_from, "");
  EXPECT_EQ(cluster_->getVolume("v")->state, VolumeState::kAvailable);

  auto two = cluster_->updateVolume("v", {std::nullopt, 2, std::nullopt});
  ASSERT_TRUE(two.isOk()) << two.status().toString();
  ASSERT_EQ(two->replicas.size(), 2u);
  auto n2 = cluster_->desiredState("n2");
  ASSERT_EQ(n2->replicas.size(), 1u);
  EXPECT_FALSE(n2->replicas[0].primary);
  EXPECT_EQ(cluster_->desiredState("n1")->replicas[0].peers.size(), 1u);

  auto forgotten = cluster_->forgetVolume("v");
  ASSERT_TRUE(forgotten.isOk()) << forgotten.status().toString();
  EXPECT_EQ(forgotten->node, "n1");
  EXPECT_EQ(forgotten->pool, "p");
  EXPECT_EQ(forgotten->backing_name, "legacy");
  EXPECT_EQ(forgotten->backing_path, "/pool/legacy.img");
  EXPECT_EQ(cluster_->getVolume("v").status().code(), ErrorCode::kNotFound);
  EXPECT_EQ(cluster_->forgetVolume("v").status().reason(), "volume_not_found");
  auto n1 = cluster_->desiredState("n1");
  EXPECT_TRUE(n1->replicas.empty());
  ASSERT_EQ(n1->release.size(), 1u);
  EXPECT_EQ(n1->release[0].volume_uuid, uuid);
  EXPECT_EQ(n1->release[0].backing_name, "legacy");
  EXPECT_TRUE(cluster_->desiredState("n2")->release.empty()) << "a secondary's copy is deleted, not kept";
  EXPECT_EQ(cluster_->adoptVolume({"v2", "n1", "p", "legacy", "g", false}).status().reason(), "backing_managed")
      << "not while it is being released";

  // A report of an older generation, or still holding it, keeps the release; then it goes.
  const uint64_t forgot_at = *cluster_->storeGeneration();
  heartbeat("n1", {held}, forgot_at, {});
  EXPECT_EQ(store_->listReleases()->size(), 1u);
  heartbeat("n1", {}, forgot_at - 1, {});
  EXPECT_EQ(store_->listReleases()->size(), 1u);
  heartbeat("n1", {}, forgot_at, {{"legacy", 4 << 20, "/pool/legacy.img"}});
  EXPECT_TRUE(store_->listReleases()->empty());
  EXPECT_TRUE(cluster_->desiredState("n1")->release.empty());
}

// A group change that excludes the primary's pool moves the primary, step by step on heartbeats
// and ticks: the new replica is placed and the old one marked leaving; once the new one is
// synced the old primary is asked to stop serving; once it has, the new one is the primary
// (next epoch); once that serves with its peers up to date, the leaving replica is deleted. No
// other layout change is accepted meanwhile.
TEST_F(ClusterServiceTest, GroupChangeMovesThePrimaryThenRemovesTheLeavingReplica) {
  ASSERT_TRUE(registerNode("n1", {PoolReport{"p", "file", true, false, 1 << 30, 1 << 30, 0}}).isOk());
  ASSERT_TRUE(registerNode("n2", {PoolReport{"q", "file", true, false, 1 << 30, 1 << 30, 0}}).isOk());
  GroupRecord a, b;
  a.name = "a";
  a.replicas = 1;
  a.pools = {"p"};
  b.name = "b";
  b.replicas = 1;
  b.pools = {"q"};
  ASSERT_TRUE(cluster_->createGroup(a).isOk());
  ASSERT_TRUE(cluster_->createGroup(b).isOk());
  auto created = cluster_->createVolume({"v", 1 << 20, "a"});
  ASSERT_TRUE(created.isOk()) << created.status().toString();
  const std::string uuid = created->first.volume.uuid;
  auto heartbeat = [&](const std::string& node, bool primary, std::vector<PeerReport> peers) {
    ReplicaReport r;
    r.volume_uuid = uuid;
    r.disk = nodeapi::DiskState::kUpToDate;
    r.primary = primary;
    r.peers = std::move(peers);
    NodeStatusReport report;
    report.applied_generation = *cluster_->storeGeneration();
    report.replicas = {r};
    ASSERT_TRUE(cluster_->reportStatus(node, std::move(report)).isOk());
  };
  heartbeat("n1", true, {});

  auto moved = cluster_->updateVolume("v", {std::nullopt, std::nullopt, std::string("b")});
  ASSERT_TRUE(moved.isOk()) << moved.status().toString();
  EXPECT_EQ(moved->volume.primary_node, "n1");
  ASSERT_EQ(moved->replicas.size(), 2u);
  EXPECT_TRUE(moved->replicas[0].leaving);  // n1
  EXPECT_FALSE(moved->replicas[1].leaving);  // n2, placed in pool q
  EXPECT_EQ(moved->replicas[1].pool, "q");
  EXPECT_EQ(cluster_->updateVolume("v", {std::nullopt, 2, std::nullopt}).status().reason(), "regroup_in_progress");
  EXPECT_TRUE(cluster_->desiredState("n1")->replicas[0].primary);

  // n2 not synced yet: nothing moves.
  heartbeat("n1", true, {PeerReport{"n2", nodeapi::PeerState::kSyncing, 1, 2}});
  cluster_->tick();
  EXPECT_TRUE(store_->getVolume("v")->handover_to.empty());
  // Synced: n1 is asked to stop serving.
  heartbeat("n2", false, {});
  heartbeat("n1", true, {PeerReport{"n2", nodeapi::PeerState::kUpToDate, 0, 0}});
  cluster_->tick();
  EXPECT_EQ(store_->getVolume("v")->handover_to, "n2");
  EXPECT_FALSE(cluster_->desiredState("n1")->replicas[0].primary);
  // n1 has stopped: n2 is the primary at the next epoch; n1's replica stays until n2 serves.
  heartbeat("n1", false, {});
  cluster_->tick();
  EXPECT_EQ(store_->getVolume("v")->primary_node, "n2");
  EXPECT_EQ(store_->getVolume("v")->epoch, 2u);
  EXPECT_EQ(store_->listReplicasOf(uuid)->size(), 2u);
  heartbeat("n2", true, {PeerReport{"n1", nodeapi::PeerState::kUpToDate, 0, 0}});
  cluster_->tick();
  auto replicas = *store_->listReplicasOf(uuid);
  ASSERT_EQ(replicas.size(), 1u);
  EXPECT_EQ(replicas[0].node_name, "n2");
  EXPECT_TRUE(cluster_->desiredState("n1")->replicas.empty());
  EXPECT_EQ(store_->getVolume("v")->group, "b");
}

// Forget refuses, with nothing changed: a volume with snapshots, and a name taken in the pool.
TEST_F(ClusterServiceTest, ForgetRefusalsChangeNothing) {
  std::string uuid;
  volumeOnN1WithHostN2(uuid);
  ASSERT_TRUE(cluster_->createSnapshot("v", "s").isOk());
  const uint64_t with_snapshot = *cluster_->storeGeneration();
  EXPECT_EQ(cluster_->forgetVolume("v").status().reason(), "volume_has_snapshots");
  EXPECT_EQ(*cluster_->storeGeneration(), with_snapshot);
  ASSERT_TRUE(cluster_->deleteSnapshot("v", "s").isOk());
  NodeStatusReport r;
  PoolReport pool{"p", "file", true, false, 1 << 30, 1 << 30, 0};
  pool.unmanaged = {{"v", 1 << 20, "/pool/v.img"}};  // the name forget would give the backing volume
  r.pools = {pool};
  ASSERT_TRUE(cluster_->reportStatus("n1", std::move(r)).isOk());
  const uint64_t before = *cluster_->storeGeneration();
  EXPECT_EQ(cluster_->forgetVolume("v").status().reason(), "backing_exists");
  EXPECT_EQ(*cluster_->storeGeneration(), before);
  EXPECT_TRUE(cluster_->getVolume("v").isOk());
  EXPECT_TRUE(store_->listReleases()->empty());
}

// A clone of the live volume: the controller takes the snapshot clone-for-<name> of the source,
// answers once the source's primary has taken it (a repeat waits for the same snapshot), makes
// the clone from it, and deletes that snapshot once every replica of the clone has the data.
// A primary that does not take it in time: 503 clone_timeout, nothing made but the snapshot,
// which a retry reuses.
TEST_F(ClusterServiceTest, CloneOfALiveVolume) {
  const PoolReport pool{"p", "file", true, true, 10ull << 30, 10ull << 30, 0};
  for (const char* name : {"n1", "n2"}) ASSERT_TRUE(registerNode(name, {pool}).isOk());
  GroupRecord group;
  group.name = "g";
  group.replicas = 2;
  ASSERT_TRUE(cluster_->createGroup(group).isOk());
  auto volume = cluster_->createVolume({"v", 1 << 30, "g"});
  ASSERT_TRUE(volume.isOk());
  const std::string uuid = volume->first.volume.uuid;
  const std::string primary = volume->first.volume.primary_node;
  const std::string secondary = primary == "n1" ? "n2" : "n1";

  std::vector<Result<std::pair<VolumeView, bool>>> answers;
  auto clone = [&](CreateVolumeRequest request) {
    cluster_->cloneVolume(request, [&](Result<std::pair<VolumeView, bool>> r) { answers.push_back(std::move(r)); });
  };
  clone({"small", 1 << 29, "g", "v", ""});
  clone({"c", 1 << 30, "g", "nope", ""});
  ASSERT_EQ(answers.size(), 2u);
  EXPECT_EQ(answers[0].status().reason(), "volume_too_small");
  EXPECT_EQ(answers[1].status().reason(), "volume_not_found");
  EXPECT_TRUE(cluster_->listSnapshots("v")->empty()) << "nothing made for a refused clone";
  answers.clear();

  clone({"c", 2u << 30, "g", "v", ""});
  clone({"c", 2u << 30, "g", "v", ""});  // a retry while the snapshot is being taken
  EXPECT_TRUE(answers.empty()) << "answered once the snapshot is taken";
  auto snapshot = cluster_->getSnapshot("v", cloneSnapshotName("c"));
  ASSERT_TRUE(snapshot.isOk()) << snapshot.status().toString();
  EXPECT_EQ(cluster_->listSnapshots("v")->size(), 1u) << "one snapshot for both";
  const std::string snap = snapshot->snapshot.uuid;

  NodeStatusReport from_primary;
  from_primary.pools = {pool};
  from_primary.replicas.push_back(ReplicaReport{uuid, nodeapi::DiskState::kUpToDate, "g1", true, "", {}, {snap}, {}});
  ASSERT_TRUE(cluster_->reportStatus(primary, from_primary).isOk());
  ASSERT_EQ(answers.size(), 2u);
  ASSERT_TRUE(answers[0].isOk()) << answers[0].status().toString();
  EXPECT_TRUE(answers[0]->second);
  ASSERT_TRUE(answers[1].isOk()) << answers[1].status().toString();
  EXPECT_FALSE(answers[1]->second) << "the repeat gets the same volume";
  const VolumeView made = answers[0]->first;
  EXPECT_EQ(made.state, VolumeState::kCreating);
  EXPECT_EQ(made.volume.source_snapshot, snap);
  EXPECT_EQ(made.volume.size_bytes, 2u << 30);

  // Every replica of the clone up to date: its snapshot of the source goes.
  const std::string copy_uuid = made.volume.uuid;
  const std::string copy_primary = made.volume.primary_node;
  const std::string copy_secondary = copy_primary == "n1" ? "n2" : "n1";
  NodeStatusReport p_report = copy_primary == primary ? from_primary : NodeStatusReport{};
  p_report.pools = {pool};
  p_report.replicas.push_back(ReplicaReport{copy_uuid, nodeapi::DiskState::kUpToDate, "g2", true, "",
                                            {{copy_secondary, nodeapi::PeerState::kUpToDate, 0, 0}}, {}, {}});
  NodeStatusReport s_report = copy_secondary == primary ? from_primary : NodeStatusReport{};
  s_report.pools = {pool};
  s_report.replicas.push_back(ReplicaReport{copy_uuid, nodeapi::DiskState::kUpToDate, "g2", false, "", {}, {}, {}});
  ASSERT_TRUE(cluster_->reportStatus(copy_secondary, s_report).isOk());
  ASSERT_TRUE(cluster_->reportStatus(copy_primary, p_report).isOk());
  EXPECT_TRUE(cluster_->getVolume("c")->volume.source_snapshot.empty());
  EXPECT_TRUE(cluster_->listSnapshots("v")->empty()) << "the clone's snapshot of the source is deleted";

  // The source's primary never takes it: 503 clone_timeout; a retry reuses the snapshot.
  answers.clear();
  clone({"d", 1 << 30, "g", "v", ""});
  clock_.advance(31s);
  cluster_->tick();
  ASSERT_EQ(answers.size(), 1u);
  EXPECT_EQ(answers[0].status().reason(), "clone_timeout");
  EXPECT_EQ(cluster_->getVolume("d").status().code(), ErrorCode::kNotFound);
  EXPECT_EQ(cluster_->listSnapshots("v")->size(), 1u);
  // Deleting a clone before it has its data deletes its snapshot of the source too.
  NodeStatusReport from_secondary;  // (back online after the clock jump)
  from_secondary.pools = {pool};
  ASSERT_TRUE(cluster_->reportStatus(secondary, from_secondary).isOk());
  clone({"d", 1 << 30, "g", "v", ""});
  const std::string snap_d = cluster_->getSnapshot("v", cloneSnapshotName("d"))->snapshot.uuid;
  from_primary.replicas[0].snapshots = {snap_d};
  ASSERT_TRUE(cluster_->reportStatus(primary, from_primary).isOk());
  ASSERT_EQ(answers.size(), 2u);
  ASSERT_TRUE(answers[1].isOk()) << answers[1].status().toString();
  ASSERT_TRUE(cluster_->deleteVolume("d").isOk());
  EXPECT_TRUE(cluster_->listSnapshots("v")->empty());
}

// Snapshot names for clones are valid object names, distinct for distinct long names.
TEST(CloneSnapshotName, StaysAValidNameForLongVolumeNames) {
  EXPECT_EQ(cloneSnapshotName("c"), "clone-for-c");
  const std::string a(64, 'a');
  std::string b = a;
  b.back() = 'b';
  EXPECT_TRUE(isValidObjectName(cloneSnapshotName(a))) << cloneSnapshotName(a);
  EXPECT_LE(cloneSnapshotName(a).size(), kMaxObjectNameLength);
  EXPECT_NE(cloneSnapshotName(a), cloneSnapshotName(b));
}

}  // namespace
}  // namespace tandem::controller
