#include "tandem/controller/cluster_service.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <condition_variable>
#include <filesystem>
#include <mutex>
#include <optional>
#include <thread>

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
  Status registerNode(const std::string& name) {
    RegisterNodeRequest request;
    request.name = name;
    request.address = "127.0.0.1";
    request.nbd_port = 10809;
    request.replication_port = 7000;
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

  std::thread probe_;
  std::mutex probe_mu_;
  std::condition_variable probe_cv_;
  bool probe_done_ = false;
  std::string dir_;
  ManualClock clock_;
  std::unique_ptr<Store> store_;
  std::unique_ptr<ClusterService> cluster_;
};

// A registration wakes the long-polls, and their callbacks run with the service's lock released
// (a callback may call the service again).
TEST_F(ClusterServiceTest, RegistrationAnswersWatchersWithoutTheLock) {
  ASSERT_TRUE(registerNode("n1").isOk());
  auto generation = cluster_->storeGeneration();
  ASSERT_TRUE(generation.isOk());
  std::optional<bool> free_in_callback;
  std::optional<Result<DesiredState>> answer;
  cluster_->watchDesiredState("n1", *generation, 30s, [&](Result<DesiredState> state) {
    free_in_callback = lockIsFree();
    answer = std::move(state);
  });
  EXPECT_FALSE(answer.has_value()) << "nothing changed yet: the poll waits";
  ASSERT_TRUE(registerNode("n2").isOk());
  joinProbe();
  ASSERT_TRUE(answer.has_value()) << "a registration changes peers' addresses: the poll is answered";
  ASSERT_TRUE(answer->isOk()) << answer->status().toString();
  EXPECT_GT((*answer)->generation, *generation);
  EXPECT_EQ(free_in_callback, true) << "the callback ran under the service's lock";
}

// A long-poll with nothing to report is answered at its deadline by tick(), also unlocked.
TEST_F(ClusterServiceTest, TickAnswersExpiredWatchersWithoutTheLock) {
  ASSERT_TRUE(registerNode("n1").isOk());
  auto generation = cluster_->storeGeneration();
  ASSERT_TRUE(generation.isOk());
  std::optional<bool> free_in_callback;
  cluster_->watchDesiredState("n1", *generation, 10s,
                              [&](Result<DesiredState>) { free_in_callback = lockIsFree(); });
  clock_.advance(9s);
  cluster_->tick();
  EXPECT_FALSE(free_in_callback.has_value());
  clock_.advance(1s);
  cluster_->tick();
  joinProbe();
  EXPECT_EQ(free_in_callback, true);
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

}  // namespace
}  // namespace tandem::controller
