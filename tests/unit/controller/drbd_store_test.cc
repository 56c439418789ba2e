// DRBD allocations in the SQLite store: unique numbers, persisted, freed with their objects.
#include <stdlib.h>

#include <filesystem>

#include <gtest/gtest.h>

#include "tandem/controller/store.h"

namespace tandem::controller {
namespace {

class DrbdStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/tandem-drbd-store-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    store_ = open();
    ASSERT_TRUE(store_->createGroup({"g-uuid", "g", 2, "drbd", true, {}, {}}).isOk());
    for (const char* v : {"v1", "v2"}) {
      ASSERT_TRUE(store_->createVolume({std::string(v) + "-uuid", v, 1 << 20, "g", "n1", 1, 0},
                                       {{std::string(v) + "-uuid", "n1", "p", true},
                                        {std::string(v) + "-uuid", "n2", "p", true}})
                      .isOk());
    }
  }
  void TearDown() override {
    store_.reset();
    std::filesystem::remove_all(dir_);
  }
  std::unique_ptr<Store> open() {
    auto s = openSqliteStore({dir_ + "/state.db"});
    EXPECT_TRUE(s.isOk()) << s.status().toString();
    return s.isOk() ? std::move(s).value() : nullptr;
  }
  std::vector<DrbdVolumeAllocation> all() {
    auto a = store_->listDrbdAllocations();
    EXPECT_TRUE(a.isOk()) << a.status().toString();
    return a.isOk() ? *a : std::vector<DrbdVolumeAllocation>{};
  }
  std::string dir_;
  std::unique_ptr<Store> store_;
};

// What the allocator chose is stored and read back after a reopen.
TEST_F(DrbdStoreTest, AllocationsPersistAcrossReopen) {
  auto a = allocateDrbdVolume("v1-uuid", {"n1", "n2"}, all(), {});
  ASSERT_TRUE(a.isOk());
  a->shared_secret = "0123456789abcdef";  // stored with the minor (migration 9 → 10)
  ASSERT_TRUE(store_->addDrbdVolumeAllocation(*a).isOk());
  store_ = open();
  ASSERT_EQ(all(), std::vector<DrbdVolumeAllocation>{*a});
}

// The store refuses a second user of a minor, of a volume's node-id or of a node's port, and
// stores nothing of a refused allocation.
TEST_F(DrbdStoreTest, TakenNumbersAreRefused) {
  ASSERT_TRUE(store_->addDrbdVolumeAllocation({"v1-uuid", 1000, {{"v1-uuid", "n1", 0, 7000}, {"v1-uuid", "n2", 1, 7000}}})
                  .isOk());
  Status minor = store_->addDrbdVolumeAllocation({"v2-uuid", 1000, {}});
  EXPECT_EQ(minor.code(), ErrorCode::kAlreadyExists);
  EXPECT_EQ(minor.reason(), "drbd_number_in_use");
  Status port = store_->addDrbdVolumeAllocation({"v2-uuid", 1001, {{"v2-uuid", "n1", 0, 7000}}});
  EXPECT_EQ(port.code(), ErrorCode::kAlreadyExists) << port.toString();
  EXPECT_EQ(all().size(), 1u);  // v2's minor was rolled back with its port
  ASSERT_TRUE(store_->addDrbdVolumeAllocation({"v2-uuid", 1001, {{"v2-uuid", "n1", 0, 7001}}}).isOk());
  EXPECT_EQ(store_->addDrbdReplicaAllocation({"v2-uuid", "n2", 0, 7001}).code(), ErrorCode::kAlreadyExists);
  EXPECT_TRUE(store_->addDrbdReplicaAllocation({"v2-uuid", "n2", 1, 7001}).isOk());
  EXPECT_EQ(store_->addDrbdReplicaAllocation({"v2-uuid", "n9", 2, 7001}).code(), ErrorCode::kNotFound);
  EXPECT_EQ(store_->addDrbdVolumeAllocation({"nope", 1002, {}}).code(), ErrorCode::kNotFound);
}

// A replica's node-id and port go with its replica record; the minor with its volume.
TEST_F(DrbdStoreTest, NumbersAreFreedWithTheirObjects) {
  ASSERT_TRUE(store_->addDrbdVolumeAllocation(*allocateDrbdVolume("v1-uuid", {"n1", "n2"}, all(), {})).isOk());
  ASSERT_TRUE(store_->replaceReplica("v1-uuid", "n2", {"v1-uuid", "n3", "p", true}).isOk());
  auto after_move = all();
  ASSERT_EQ(after_move.size(), 1u);
  ASSERT_EQ(after_move[0].replicas.size(), 1u);
  EXPECT_EQ(after_move[0].replicas[0].node, "n1");
  auto n3 = allocateDrbdReplica("v1-uuid", "n3", after_move, {});
  ASSERT_TRUE(n3.isOk());
  EXPECT_EQ(n3->node_id, 1u);  // n2's node-id is free again
  ASSERT_TRUE(store_->addDrbdReplicaAllocation(*n3).isOk());
  ASSERT_TRUE(store_->deleteVolume("v1").isOk());
  EXPECT_TRUE(all().empty());
  auto again = allocateDrbdVolume("v2-uuid", {"n1"}, all(), {});
  ASSERT_TRUE(again.isOk());
  EXPECT_EQ(again->minor, 1000u);
  EXPECT_TRUE(store_->addDrbdVolumeAllocation(*again).isOk());
}

}  // namespace
}  // namespace tandem::controller

namespace tandem::controller {
namespace {

// An allocation changes the desired state of the volume's nodes (a drbd volume is left out of
// them until it has one): it bumps their generation and is in their change log, so a node that
// was answered before the allocation learns of it (and of a later replica's) by a delta.
TEST_F(DrbdStoreTest, AllocationsChangeTheVolumesNodesStates) {
  const uint64_t before = *store_->generation();
  auto n1 = store_->nodeChangesSince("n1", before);
  ASSERT_TRUE(n1.isOk());
  ASSERT_TRUE(store_->addDrbdVolumeAllocation({"v1-uuid", 1000, {{"v1-uuid", "n1", 0, 7000}}}).isOk());
  const uint64_t allocated = *store_->generation();
  EXPECT_GT(allocated, before);
  EXPECT_EQ(*store_->nodeGeneration("n1"), allocated);
  EXPECT_EQ(*store_->nodeGeneration("n2"), allocated) << "n2 holds a replica of v1 too";
  auto changes = store_->nodeChangesSince("n2", before);
  ASSERT_TRUE(changes.isOk());
  EXPECT_FALSE(changes->full);
  EXPECT_EQ(changes->volumes, std::vector<std::string>{"v1-uuid"});

  ASSERT_TRUE(store_->addDrbdReplicaAllocation({"v1-uuid", "n2", 1, 7000}).isOk());
  EXPECT_EQ(*store_->nodeGeneration("n2"), *store_->generation());
  EXPECT_EQ(store_->nodeChangesSince("n2", allocated)->volumes, std::vector<std::string>{"v1-uuid"});

  // A refused allocation changes nothing.
  const uint64_t now = *store_->generation();
  EXPECT_FALSE(store_->addDrbdReplicaAllocation({"v1-uuid", "n2", 2, 7001}).isOk());
  EXPECT_EQ(*store_->generation(), now);

  // drbdAllocationsOf reads only the volumes asked for.
  ASSERT_TRUE(store_->addDrbdVolumeAllocation({"v2-uuid", 1001, {{"v2-uuid", "n1", 0, 7001}}}).isOk());
  auto of = store_->drbdAllocationsOf({"v2-uuid", "no-such-uuid"});
  ASSERT_TRUE(of.isOk());
  ASSERT_EQ(of->size(), 1u);
  EXPECT_EQ((*of)[0].volume_uuid, "v2-uuid");
  EXPECT_EQ((*of)[0].minor, 1001u);
  EXPECT_EQ((*of)[0].replicas.size(), 1u);
  EXPECT_TRUE(store_->drbdAllocationsOf({})->empty());
}

}  // namespace
}  // namespace tandem::controller
