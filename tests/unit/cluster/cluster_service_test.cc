#include "tandem/controller/cluster_service.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <condition_variable>
#include <filesystem>
#include <mutex>
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

}  // namespace
}  // namespace tandem::controller
