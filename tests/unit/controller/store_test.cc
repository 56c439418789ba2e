#include <stdlib.h>

#include <filesystem>

#include <gtest/gtest.h>

#include "tandem/controller/store.h"

namespace tandem::controller {
namespace {

class StoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/tandem-store-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::unique_ptr<Store> open() {
    auto s = openSqliteStore({dir_ + "/state.db"});
    EXPECT_TRUE(s.isOk()) << s.status().toString();
    return s.isOk() ? std::move(s).value() : nullptr;
  }
  std::string dir_;
};

// Declared state and the generation survive reopening; the cluster id is stable.
TEST_F(StoreTest, StatePersistsAcrossReopen) {
  std::string cluster;
  uint64_t gen = 0;
  {
    auto store = open();
    cluster = store->clusterId();
    ASSERT_TRUE(store->upsertNode({"u1", "n1", "127.0.0.1", 1, 2, "h", 0}, {{"n1", "p", "file", true, true}}).isOk());
    ASSERT_TRUE(store->createGroup({"g-uuid", "g", 2, "native", true, {}, {}}).isOk());
    ASSERT_TRUE(store->createVolume({"v-uuid", "v", 1 << 20, "g", "n1", 1, 0}, {{"v-uuid", "n1", "p", true}}).isOk());
    gen = *store->generation();
  }
  auto store = open();
  EXPECT_EQ(store->clusterId(), cluster);
  EXPECT_EQ(*store->generation(), gen);
  EXPECT_EQ(store->getVolume("v")->primary_node, "n1");
  EXPECT_EQ(store->listReplicas()->size(), 1u);
  EXPECT_EQ(store->listPools()->at(0).provider, "file");
}

// Every change of desired state bumps the generation; reads do not.
TEST_F(StoreTest, ChangesBumpGeneration) {
  auto store = open();
  uint64_t g0 = *store->generation();
  ASSERT_TRUE(store->upsertNode({"u1", "n1", "h", 1, 2, "x", 0}, {}).isOk());
  uint64_t g1 = *store->generation();
  EXPECT_GT(g1, g0);
  ASSERT_TRUE(store->createGroup({"gu", "g", 1, "native", true, {}, {}}).isOk());
  ASSERT_TRUE(store->createVolume({"vu", "v", 4096, "g", "n1", 1, 0}, {{"vu", "n1", "p", true}}).isOk());
  uint64_t g2 = *store->generation();
  EXPECT_GT(g2, g1);
  (void)store->listVolumes();
  EXPECT_EQ(*store->generation(), g2);
  ASSERT_TRUE(store->deleteVolume("v").isOk());
  EXPECT_GT(*store->generation(), g2);
  EXPECT_TRUE(store->listReplicas()->empty());
}

// Conflicts are typed and leave nothing half-made.
TEST_F(StoreTest, ConflictsAreTypedAndAtomic) {
  auto store = open();
  ASSERT_TRUE(store->createGroup({"gu", "g", 1, "native", true, {}, {}}).isOk());
  EXPECT_EQ(store->createGroup({"gu2", "g", 1, "native", true, {}, {}}).code(), ErrorCode::kAlreadyExists);
  ASSERT_TRUE(store->createVolume({"vu", "v", 4096, "g", "n1", 1, 0}, {{"vu", "n1", "p", true}}).isOk());
  // Same replica twice: the whole volume insert is rolled back.
  Status dup = store->createVolume({"vu2", "w", 4096, "g", "n1", 1, 0}, {{"vu2", "n1", "p", true}, {"vu2", "n1", "p", true}});
  EXPECT_FALSE(dup.isOk());
  EXPECT_EQ(store->getVolume("w").status().code(), ErrorCode::kNotFound);
  EXPECT_EQ(store->deleteGroup("g").code(), ErrorCode::kConflict);
  EXPECT_EQ(store->deleteVolume("nope").code(), ErrorCode::kNotFound);
  EXPECT_EQ(store->getVolume("nope").status().reason(), "volume_not_found");
}

}  // namespace
}  // namespace tandem::controller
