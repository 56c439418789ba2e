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

// A primary asked to stop serving (a planned handover) is unexported while its engine is still
// primary, so an NBD client's write in flight is never answered with an error by a demoted engine
// (the client sends it again to the next primary); then the engine is demoted.
TEST_F(ReconcilerTest, StopsServingBeforeTheEngineIsDemoted) {
  std::vector<bool> primary_when_unexported;
  Reconciler r(ReconcilerOptions{metadataDir()}, pools_, *engine_, exports_, [&](const std::string&) {
    primary_when_unexported.push_back(engine_->primaryDevice(kUuid) != nullptr);
  });
  ASSERT_TRUE(r.apply(oneVolume()).isOk());
  ASSERT_NE(engine_->primaryDevice(kUuid), nullptr);
  DesiredState demoted = oneVolume();
  demoted.generation = 6;
  demoted.replicas[0].primary = false;
  ASSERT_TRUE(r.apply(demoted).isOk());
  EXPECT_EQ(primary_when_unexported, std::vector<bool>{true});
  EXPECT_EQ(exports_.find("vol"), nullptr);
  EXPECT_EQ(engine_->primaryDevice(kUuid), nullptr);
}

// The pool's volumes that are not named by a uuid are reported as unmanaged (what may be
// adopted); an adopting primary renames one to the volume's uuid and serves its data at a new
// generation; the volume's backing path is reported.
TEST_F(ReconcilerTest, AdoptsABackingVolumeWithItsData) {
  auto& pool = *pools_["default"].provider;
  ASSERT_TRUE(pool.create("legacy", 1 << 20, devices::Provisioning::kThin).isOk());
  {
    auto dev = pool.open("legacy");
    ASSERT_TRUE(dev.isOk());
    ASSERT_TRUE((*dev)->write(4096, std::vector<std::byte>(4096, std::byte{0x5a}), true).isOk());
  }
  Reconciler& r = reconciler();
  DesiredState none = oneVolume();
  none.replicas.clear();
  ASSERT_TRUE(r.apply(none).isOk());
  EXPECT_TRUE(pool.info("legacy").isOk()) << "a name that is not a uuid is never deleted";
  auto report = r.report();
  ASSERT_EQ(report.pools.size(), 1u);
  ASSERT_EQ(report.pools[0].unmanaged.size(), 1u);
  EXPECT_EQ(report.pools[0].unmanaged[0].name, "legacy");
  EXPECT_EQ(report.pools[0].unmanaged[0].size_bytes, 1u << 20);
  EXPECT_EQ(report.pools[0].unmanaged[0].path, dir_ + "/pool/legacy.img");

  DesiredState adopt = oneVolume();
  adopt.generation = 6;
  adopt.replicas[0].adopt_from = "legacy";
  ASSERT_TRUE(r.apply(adopt).isOk());
  EXPECT_FALSE(pool.info("legacy").isOk());
  EXPECT_TRUE(backingExists());
  auto device = exports_.find("vol");
  ASSERT_NE(device, nullptr);
  std::vector<std::byte> data(4096);
  ASSERT_TRUE(device->read(4096, data).isOk());
  EXPECT_EQ(data, std::vector<std::byte>(4096, std::byte{0x5a}));
  report = r.report();
  ASSERT_EQ(report.replicas.size(), 1u);
  EXPECT_EQ(report.replicas[0].disk, nodeapi::DiskState::kUpToDate);
  EXPECT_EQ(report.replicas[0].backing_path, dir_ + "/pool/" + kUuid + ".img");
  EXPECT_TRUE(report.pools[0].unmanaged.empty());
  const std::string generation = report.replicas[0].generation;
  ASSERT_TRUE(r.apply(adopt).isOk());
  EXPECT_EQ(r.report().replicas[0].generation, generation) << "adopted once";
}

// A node that restarts after renaming but before the engine saved its metadata adopts the
// device it finds under the uuid (with its data), instead of taking it for lost metadata.
TEST_F(ReconcilerTest, AdoptionInterruptedAfterTheRenameCompletes) {
  auto& pool = *pools_["default"].provider;
  ASSERT_TRUE(pool.create("legacy", 1 << 20, devices::Provisioning::kThin).isOk());
  ASSERT_TRUE(pool.rename("legacy", kUuid).isOk());  // what the interrupted pass did
  DesiredState adopt = oneVolume();
  adopt.replicas[0].adopt_from = "legacy";
  Reconciler& r = reconciler();
  ASSERT_TRUE(r.apply(adopt).isOk());
  auto report = r.report();
  ASSERT_EQ(report.replicas.size(), 1u);
  EXPECT_EQ(report.replicas[0].disk, nodeapi::DiskState::kUpToDate);
  EXPECT_TRUE(report.replicas[0].error.empty()) << report.replicas[0].error;
  EXPECT_NE(exports_.find("vol"), nullptr);
}

// A missing backing volume is the replica's error, and nothing is created in its place.
TEST_F(ReconcilerTest, AdoptingAMissingBackingVolumeIsReported) {
  DesiredState adopt = oneVolume();
  adopt.replicas[0].adopt_from = "gone";
  Reconciler& r = reconciler();
  EXPECT_FALSE(r.apply(adopt).isOk());
  EXPECT_FALSE(backingExists());
  auto report = r.report();
  ASSERT_EQ(report.replicas.size(), 1u);
  EXPECT_EQ(report.replicas[0].disk, nodeapi::DiskState::kFailed);
  EXPECT_NE(report.replicas[0].error.find("gone"), std::string::npos) << report.replicas[0].error;
}

// A released (forgotten) volume leaves the engine and the exports, keeps its data under the
// release name and loses its metadata; a uuid-named leftover in the release list is renamed,
// never deleted, also after a restart.
TEST_F(ReconcilerTest, ReleaseKeepsTheDataUnderItsNewName) {
  Reconciler& r = reconciler();
  ASSERT_TRUE(r.apply(oneVolume()).isOk());
  {
    auto device = exports_.find("vol");
    ASSERT_NE(device, nullptr);
    ASSERT_TRUE(device->write(0, std::vector<std::byte>(4096, std::byte{0x33}), true).isOk());
  }
  DesiredState release = oneVolume();
  release.generation = 6;
  release.replicas.clear();
  release.release = {{"vol", kUuid, "default", "kept"}};
  ASSERT_TRUE(r.apply(release).isOk());
  EXPECT_FALSE(backingExists());
  EXPECT_EQ(exports_.find("vol"), nullptr);
  EXPECT_FALSE(std::filesystem::exists(metadataDir() + "/" + kUuid + ".meta"));
  EXPECT_TRUE(r.report().replicas.empty());
  auto& pool = *pools_["default"].provider;
  auto dev = pool.open("kept");
  ASSERT_TRUE(dev.isOk());
  std::vector<std::byte> data(4096);
  ASSERT_TRUE((*dev)->read(0, data).isOk());
  EXPECT_EQ(data, std::vector<std::byte>(4096, std::byte{0x33}));
  ASSERT_TRUE(r.apply(release).isOk()) << "idempotent";

  // After a restart, a replica the node no longer holds but still finds under its uuid.
  const std::string other = "6c1f6b7e-2d5e-4b8e-9a35-0c7d2f9b1a22";
  ASSERT_TRUE(pool.create(other, 1 << 20, devices::Provisioning::kThin).isOk());
  Reconciler& restarted = reconciler();
  DesiredState later = release;
  later.release.push_back({"w", other, "default", "w-kept"});
  ASSERT_TRUE(restarted.apply(later).isOk());
  EXPECT_FALSE(pool.info(other).isOk());
  EXPECT_TRUE(pool.info("w-kept").isOk());
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
