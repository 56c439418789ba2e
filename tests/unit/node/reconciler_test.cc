#include "tandem/node/reconciler.h"

#include <filesystem>

#include <gtest/gtest.h>

#include "local_node_test.h"

namespace tandem::node {
namespace {

constexpr const char* kUuid = "0b0e2b5e-4c0a-4f43-9a86-3f1b7a0f5e11";

// The reconciler over a real file pool, replication service and export registry.
class ReconcilerTest : public LocalNodeTest {
 protected:
  void TearDown() override {
    reconciler_.reset();
    LocalNodeTest::TearDown();
  }
  Reconciler& reconciler() {
    reconciler_ = std::make_unique<Reconciler>(ReconcilerOptions{metadataDir()}, pools_, *engine_, exports_,
                                               [this](const std::string& name) { unexported_.push_back(name); });
    return *reconciler_;
  }
  static DesiredState oneVolume(const std::string& cluster = "cluster-a", const std::string& pool = "default") {
    DesiredState s;
    s.generation = 5;
    s.cluster_id = cluster;
    s.node = "n1";
    s.replicas.push_back(DesiredReplica{"vol", kUuid, 1 << 20, 1, pool, /*thin=*/true, /*quorum=*/false, /*primary=*/true, {}, {}, {}});
    return s;
  }
  bool backingExists() { return LocalNodeTest::backingExists(kUuid); }

  std::vector<std::string> unexported_;
  std::unique_ptr<Reconciler> reconciler_;
};

// Applying creates the backing volume and exports the primary; applying again changes nothing.
TEST_F(ReconcilerTest, ApplyIsIdempotent) {
  Reconciler& r = reconciler();
  ASSERT_TRUE(r.apply(oneVolume()).isOk());
  EXPECT_TRUE(backingExists());
  auto device = exports_.find("vol");
  ASSERT_NE(device, nullptr);
  EXPECT_EQ(device->sizeBytes(), 1u << 20);
  ASSERT_TRUE(r.apply(oneVolume()).isOk());
  EXPECT_EQ(exports_.find("vol"), device) << "the same export must stay in place";
  EXPECT_EQ(pools_["default"].provider->list()->size(), 1u);
  nodeapi::StatusReport report = r.report();
  ASSERT_EQ(report.replicas.size(), 1u);
  EXPECT_EQ(report.replicas[0].disk, nodeapi::DiskState::kUpToDate);
  EXPECT_EQ(report.applied_generation, 5u);
}

// A thin replica allocates nothing up front; a thick one (group thin=false) is preallocated.
TEST_F(ReconcilerTest, ThickGroupsPreallocate) {
  Reconciler& r = reconciler();
  ASSERT_TRUE(r.apply(oneVolume()).isOk());
  EXPECT_EQ(pools_["default"].provider->info(kUuid)->allocated_bytes, 0u);
  DesiredState thick = oneVolume();
  thick.generation = 6;
  thick.replicas[0].volume_uuid = "6c1f6b7e-2d5e-4b8e-9a35-0c7d2f9b1a22";
  thick.replicas[0].thin = false;
  ASSERT_TRUE(r.apply(thick).isOk());
  EXPECT_GE(pools_["default"].provider->info("6c1f6b7e-2d5e-4b8e-9a35-0c7d2f9b1a22")->allocated_bytes, 1u << 20);
}

// A replica that is no longer desired is unexported, released and deleted with its metadata.
TEST_F(ReconcilerTest, RemovesWhatIsNoLongerDesired) {
  Reconciler& r = reconciler();
  ASSERT_TRUE(r.apply(oneVolume()).isOk());
  DesiredState empty = oneVolume();
  empty.replicas.clear();
  empty.generation = 6;
  ASSERT_TRUE(r.apply(empty).isOk());
  EXPECT_FALSE(backingExists());
  EXPECT_EQ(exports_.find("vol"), nullptr);
  EXPECT_EQ(unexported_, std::vector<std::string>{"vol"});
  EXPECT_FALSE(std::filesystem::exists(dir_ + "/meta/" + kUuid + ".meta"));
}

// A volume deleted and re-created under the same name in one step is exported as the new one
// (the old replica is gone, the export is not left pointing at it or missing).
TEST_F(ReconcilerTest, RecreatedVolumeTakesOverTheExportName) {
  Reconciler& r = reconciler();
  ASSERT_TRUE(r.apply(oneVolume()).isOk());
  DesiredState again = oneVolume();
  again.generation = 6;
  again.replicas[0].volume_uuid = "6c1f6b7e-2d5e-4b8e-9a35-0c7d2f9b1a22";
  again.replicas[0].size_bytes = 2 << 20;
  ASSERT_TRUE(r.apply(again).isOk());
  auto device = exports_.find("vol");
  ASSERT_NE(device, nullptr) << "the new volume must be exported";
  EXPECT_EQ(device->sizeBytes(), 2u << 20);
  EXPECT_FALSE(backingExists()) << "the old replica must be deleted";
  EXPECT_EQ(unexported_, std::vector<std::string>{"vol"}) << "clients of the old volume are disconnected";
  ASSERT_TRUE(r.apply(again).isOk());
  EXPECT_EQ(unexported_.size(), 1u) << "re-applying must not disturb the export";
}

// A replica in a pool this node does not have is an error reported for that replica.
TEST_F(ReconcilerTest, UnknownPoolIsReported) {
  Reconciler& r = reconciler();
  Status s = r.apply(oneVolume("cluster-a", "nvme"));
  EXPECT_EQ(s.code(), ErrorCode::kNotFound);
  nodeapi::StatusReport report = r.report();
  ASSERT_EQ(report.replicas.size(), 1u);
  EXPECT_EQ(report.replicas[0].disk, nodeapi::DiskState::kFailed);
  EXPECT_NE(report.replicas[0].error.find("pool 'nvme' is not configured"), std::string::npos)
      << report.replicas[0].error;
  ASSERT_EQ(report.pools.size(), 1u);
  EXPECT_EQ(report.pools[0].provider, "file");
}

}  // namespace
}  // namespace tandem::node
