#include <stdlib.h>

#include <filesystem>
#include <map>
#include <set>

#include <gtest/gtest.h>
#include <sqlite3.h>

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
    ASSERT_TRUE(store->upsertNode({"u1", "n1", "127.0.0.1", 1, 2, "h", 0, {}}, {{"n1", "p", "file", true, true}}).isOk());
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

// Node labels and a group's over-provisioning ratio round-trip; re-registration replaces labels.
TEST_F(StoreTest, LabelsAndOverprovisionRoundTrip) {
  auto store = open();
  ASSERT_TRUE(store->upsertNode({"u1", "n1", "h", 1, 2, "x", 0, {{"zone", "a"}, {"rack", "r1"}}}, {}).isOk());
  GroupRecord g{"gu", "g", 3, "native", true, {}, {"zone", "rack"}, 2.5, true};
  ASSERT_TRUE(store->createGroup(g).isOk());
  auto node = store->getNode("n1");
  ASSERT_TRUE(node.isOk());
  EXPECT_EQ(node->labels, (std::map<std::string, std::string>{{"rack", "r1"}, {"zone", "a"}}));
  auto group = store->getGroup("g");
  EXPECT_EQ(group->replicas_on_different, (std::vector<std::string>{"zone", "rack"}));
  EXPECT_DOUBLE_EQ(group->overprovision, 2.5);
  EXPECT_TRUE(group->quorum);
  ASSERT_TRUE(store->upsertNode({"u1", "n1", "h", 1, 2, "x", 0, {{"zone", "b"}}}, {}).isOk());
  EXPECT_EQ(store->getNode("n1")->labels, (std::map<std::string, std::string>{{"zone", "b"}}));
}

// A group's placement weights round-trip.
TEST_F(StoreTest, PlacementWeightsRoundTrip) {
  auto store = open();
  GroupRecord g{"gu", "g", 3, "native", true, {}, {}};
  g.weights = PlacementWeights{0.5, 2.0, 3.25};
  ASSERT_TRUE(store->createGroup(g).isOk());
  EXPECT_EQ(store->getGroup("g")->weights, g.weights);
  EXPECT_EQ(store->listGroups()->front().weights, g.weights);
}

// A database of schema version 1 (before labels, over-provisioning and quorum) is migrated in
// place: thin groups get the default ratio, thick ones 1, nodes no labels, groups no quorum;
// nothing else changes.
TEST_F(StoreTest, MigratesVersionOneDatabase) {
  {
    auto store = open();
    ASSERT_TRUE(store->upsertNode({"u1", "n1", "h", 1, 2, "x", 0, {{"zone", "a"}}}, {}).isOk());
    ASSERT_TRUE(store->createGroup({"gt", "thin", 1, "native", true, {}, {}, 3.0, true}).isOk());
    ASSERT_TRUE(store->createGroup({"gk", "thick", 1, "native", false, {}, {}, 1.0}).isOk());
  }
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open((dir_ + "/state.db").c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db,
                         "ALTER TABLE nodes DROP COLUMN labels; ALTER TABLE nodes DROP COLUMN evacuating;"
                         "ALTER TABLE resource_groups DROP COLUMN overprovision;"
                         "ALTER TABLE resource_groups DROP COLUMN quorum;"
                         "ALTER TABLE replicas DROP COLUMN discard_generation; DROP TABLE snapshots;"
                         "DROP INDEX volumes_by_source; ALTER TABLE volumes DROP COLUMN source_snapshot; ALTER TABLE volumes DROP COLUMN revert_snapshot;"
                         "ALTER TABLE volumes DROP COLUMN revert_id;"
                         "ALTER TABLE resource_groups DROP COLUMN allow_multiattach; DROP TABLE attachments;"
                         "ALTER TABLE volumes DROP COLUMN handover_to;"
                         "ALTER TABLE resource_groups DROP COLUMN weight_free_space;"
                         "ALTER TABLE resource_groups DROP COLUMN weight_provisioned;"
                         "ALTER TABLE resource_groups DROP COLUMN weight_replica_count;"
                         "DROP TABLE drbd_replicas; DROP TABLE drbd_minors;"
                         "ALTER TABLE volumes DROP COLUMN adopted_from; ALTER TABLE volumes DROP COLUMN adopting;"
                         "DROP TABLE releases;"
                         "ALTER TABLE replicas DROP COLUMN leaving;"
                         "UPDATE schema_version SET version = 1;",
                         nullptr, nullptr, nullptr),
            SQLITE_OK)
      << sqlite3_errmsg(db);
  sqlite3_close(db);
  auto store = open();
  ASSERT_NE(store, nullptr);
  EXPECT_TRUE(store->getNode("n1")->labels.empty());
  EXPECT_EQ(store->getNode("n1")->address, "h");
  EXPECT_DOUBLE_EQ(store->getGroup("thin")->overprovision, kDefaultOverprovision);
  EXPECT_DOUBLE_EQ(store->getGroup("thick")->overprovision, 1.0);
  EXPECT_FALSE(store->getGroup("thin")->quorum) << "groups from before quorum existed keep writing alone";
  EXPECT_FALSE(store->getGroup("thin")->allow_multiattach);
  EXPECT_EQ(store->getGroup("thin")->weights, PlacementWeights{}) << "older groups get the default weights";
  EXPECT_TRUE(store->listAttachments()->empty());
}

// Snapshots: names unique in the cluster, listed per volume, their state recorded, and deleted
// with their volume. Creating and deleting one, and recording its state, move the generation.
TEST_F(StoreTest, SnapshotsBelongToTheirVolume) {
  auto store = open();
  ASSERT_TRUE(store->createGroup({"gu", "g", 1, "native", true, {}, {}, 20.0}).isOk());
  ASSERT_TRUE(store->createVolume({"vu1", "v1", 1 << 20, "g", "n1", 1, 0}, {}).isOk());
  ASSERT_TRUE(store->createVolume({"vu2", "v2", 1 << 20, "g", "n1", 1, 0}, {}).isOk());
  uint64_t g = *store->generation();
  ASSERT_TRUE(store->createSnapshot({"su1", "s1", "vu1", 1 << 20, 10, SnapshotState::kCreating, ""}).isOk());
  EXPECT_GT(*store->generation(), g);
  ASSERT_TRUE(store->createSnapshot({"su2", "s2", "vu1", 1 << 20, 11, SnapshotState::kCreating, ""}).isOk());
  auto dup = store->createSnapshot({"su3", "s1", "vu2", 1 << 20, 12, SnapshotState::kCreating, ""});
  EXPECT_EQ(dup.code(), ErrorCode::kAlreadyExists);
  EXPECT_EQ(dup.reason(), "snapshot_exists");
  EXPECT_EQ(store->listSnapshotsOf("vu1")->size(), 2u);
  EXPECT_TRUE(store->listSnapshotsOf("vu2")->empty());
  g = *store->generation();
  ASSERT_TRUE(store->setSnapshotState("su1", SnapshotState::kAvailable, "").isOk());
  EXPECT_GT(*store->generation(), g);
  EXPECT_EQ(store->getSnapshot("s1")->state, SnapshotState::kAvailable);
  EXPECT_EQ(store->setSnapshotState("nope", SnapshotState::kError, "x").code(), ErrorCode::kNotFound);
  ASSERT_TRUE(store->deleteSnapshot("s2").isOk());
  EXPECT_EQ(store->deleteSnapshot("s2").reason(), "snapshot_not_found");
  ASSERT_TRUE(store->deleteVolume("v1").isOk());
  EXPECT_EQ(store->getSnapshot("s1").status().code(), ErrorCode::kNotFound) << "deleted with its volume";
  EXPECT_TRUE(store->listSnapshots()->empty());
}

// A state generation that is not a number (a damaged database) is an error, not a crash.
TEST_F(StoreTest, DamagedGenerationIsAnError) {
  ASSERT_NE(open(), nullptr);
  for (const char* value : {"'12x'", "''", "'-1'", "'99999999999999999999999'"}) {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open((dir_ + "/state.db").c_str(), &db), SQLITE_OK);
    std::string sql = std::string("UPDATE meta SET value = ") + value + " WHERE key = 'generation'";
    ASSERT_EQ(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, nullptr), SQLITE_OK) << sqlite3_errmsg(db);
    sqlite3_close(db);
    auto store = open();
    ASSERT_NE(store, nullptr);
    auto generation = store->generation();
    ASSERT_FALSE(generation.isOk()) << value;
    EXPECT_EQ(generation.status().code(), ErrorCode::kInternal);
    EXPECT_NE(generation.status().message().find("not a number"), std::string::npos) << generation.status().message();
  }
}

// A replica moves from one node to another in one step; a missing source or a taken target
// changes nothing.
TEST_F(StoreTest, ReplaceReplicaIsAtomic) {
  auto store = open();
  ASSERT_TRUE(store->createGroup({"gu", "g", 2, "native", true, {}, {}}).isOk());
  ASSERT_TRUE(store->createVolume({"vu", "v", 4096, "g", "n1", 1, 0}, {{"vu", "n1", "p", true}, {"vu", "n2", "p", true}})
                  .isOk());
  uint64_t g0 = *store->generation();
  EXPECT_EQ(store->replaceReplica("vu", "n9", {"vu", "n3", "p", true}).code(), ErrorCode::kNotFound);
  EXPECT_EQ(store->replaceReplica("vu", "n2", {"vu", "n1", "q", true}).code(), ErrorCode::kAlreadyExists);
  EXPECT_EQ(*store->generation(), g0);
  EXPECT_EQ(store->listReplicas()->size(), 2u);
  ASSERT_TRUE(store->replaceReplica("vu", "n2", {"vu", "n3", "fast", true}).isOk());
  EXPECT_GT(*store->generation(), g0);
  auto replicas = *store->listReplicasOf("vu");
  EXPECT_TRUE(store->listReplicasOf("nope")->empty());
  ASSERT_EQ(replicas.size(), 2u);
  EXPECT_EQ(replicas[0].node_name, "n1");
  EXPECT_EQ(replicas[1].node_name, "n3");
  EXPECT_EQ(replicas[1].pool_name, "fast");
}

// A volume change (size, group, replicas removed and added) is one transaction: a failing part
// (a replica already there, an unknown one to remove) leaves everything as it was.
TEST_F(StoreTest, ChangeVolumeIsAtomic) {
  auto store = open();
  ASSERT_TRUE(store->createGroup({"gu", "g", 2, "native", true, {}, {}}).isOk());
  ASSERT_TRUE(store->createGroup({"hu", "h", 3, "native", true, {}, {}}).isOk());
  ASSERT_TRUE(store->createVolume({"vu", "v", 4096, "g", "n1", 1, 0}, {{"vu", "n1", "p", true}, {"vu", "n2", "p", true}})
                  .isOk());
  const uint64_t g0 = *store->generation();
  VolumeChange bad{"vu", 8192, std::string("h"), {"n2"}, {{"vu", "n1", "p", true}}};
  EXPECT_EQ(store->changeVolume(bad).reason(), "replica_exists");
  VolumeChange unknown{"vu", 8192, std::nullopt, {"n9"}, {}};
  EXPECT_EQ(store->changeVolume(unknown).reason(), "replica_not_found");
  EXPECT_EQ(*store->generation(), g0);
  EXPECT_EQ(store->getVolume("v")->size_bytes, 4096u);
  EXPECT_EQ(store->getVolume("v")->group, "g");
  EXPECT_EQ(store->listReplicasOf("vu")->size(), 2u);

  VolumeChange good{"vu", 8192, std::string("h"), {"n2"}, {{"vu", "n3", "q", true}, {"vu", "n4", "q", true}}};
  ASSERT_TRUE(store->changeVolume(good).isOk());
  EXPECT_GT(*store->generation(), g0);
  EXPECT_EQ(store->getVolume("v")->size_bytes, 8192u);
  EXPECT_EQ(store->getVolume("v")->group, "h");
  auto replicas = *store->listReplicasOf("vu");
  ASSERT_EQ(replicas.size(), 3u);
  EXPECT_EQ(replicas[0].node_name, "n1");
  EXPECT_EQ(replicas[1].node_name, "n3");
  EXPECT_EQ(replicas[2].node_name, "n4");
  EXPECT_FALSE(replicas[0].leaving);

  // Marking replicas leaving (a group change moving the primary) is part of the same
  // transaction: an unknown node changes nothing.
  VolumeChange leave_unknown{"vu", std::nullopt, std::nullopt, {}, {}, {"n1", "n9"}};
  EXPECT_EQ(store->changeVolume(leave_unknown).reason(), "replica_not_found");
  EXPECT_FALSE((*store->listReplicasOf("vu"))[0].leaving);
  VolumeChange leave{"vu", std::nullopt, std::nullopt, {}, {{"vu", "n5", "q", true}}, {"n1"}};
  ASSERT_TRUE(store->changeVolume(leave).isOk());
  replicas = *store->listReplicasOf("vu");
  ASSERT_EQ(replicas.size(), 4u);
  EXPECT_TRUE(replicas[0].leaving);
  for (size_t i = 1; i < replicas.size(); ++i) EXPECT_FALSE(replicas[i].leaving) << replicas[i].node_name;
}

// Forgetting deletes the volume and records its release with the new generation, in one
// transaction; an attached volume is refused with nothing changed; adopted volumes keep their
// adoption fields.
TEST_F(StoreTest, ForgetRecordsAReleaseAtomically) {
  auto store = open();
  ASSERT_TRUE(store->upsertNode({"u1", "n1", "h", 1, 2, "x", 0, {}}, {}).isOk());
  ASSERT_TRUE(store->createGroup({"gu", "g", 1, "native", true, {}, {}}).isOk());
  VolumeRecord v{"vu", "v", 4096, "g", "n1", 1, 0};
  v.adopted_from = "legacy";
  v.adopting = true;
  ASSERT_TRUE(store->createVolume(v, {{"vu", "n1", "p", true}}).isOk());
  EXPECT_EQ(store->getVolume("v")->adopted_from, "legacy");
  EXPECT_TRUE(store->getVolume("v")->adopting);
  ASSERT_TRUE(store->finishAdoption("vu").isOk());
  EXPECT_FALSE(store->getVolume("v")->adopting);

  ASSERT_TRUE(store->addAttachment({"vu", "n1", AttachMode::kNbd, "", false, 0}).isOk());
  const uint64_t g0 = *store->generation();
  EXPECT_EQ(store->forgetVolume({"vu", "v", "n1", "p", "legacy", 0}).status().reason(), "volume_attached");
  EXPECT_EQ(*store->generation(), g0);
  EXPECT_TRUE(store->listReleases()->empty());
  ASSERT_TRUE(store->removeAttachment("vu", "n1").isOk());

  auto generation = store->forgetVolume({"vu", "v", "n1", "p", "legacy", 0});
  ASSERT_TRUE(generation.isOk()) << generation.status().toString();
  EXPECT_EQ(*generation, *store->generation());
  EXPECT_EQ(store->getVolume("v").status().code(), ErrorCode::kNotFound);
  EXPECT_TRUE(store->listReplicas()->empty());
  EXPECT_EQ(*store->listReleases(), (std::vector<ReleaseRecord>{{"vu", "v", "n1", "p", "legacy", *generation}}));
  EXPECT_EQ(store->forgetVolume({"vu", "v", "n1", "p", "legacy", 0}).status().reason(), "volume_not_found");
  ASSERT_TRUE(store->removeRelease("vu").isOk());
  EXPECT_TRUE(store->listReleases()->empty());
  EXPECT_EQ(store->removeRelease("vu").code(), ErrorCode::kNotFound);
}

// Every change of desired state bumps the generation; reads do not.
// Split-brain resolution is one transaction: primary, epoch and the copies to discard change
// together (and survive a reopen), or nothing does.
TEST_F(StoreTest, ResolveSplitBrainIsAtomic) {
  {
    auto store = open();
    ASSERT_TRUE(store->createGroup({"gu", "g", 3, "native", true, {}, {}}).isOk());
    ASSERT_TRUE(store->createVolume({"vu", "v", 4096, "g", "n2", 2, 0},
                                    {{"vu", "n1", "p", true}, {"vu", "n2", "p", true}, {"vu", "n3", "p", true}})
                    .isOk());
    uint64_t gen = *store->generation();
    Status missing = store->resolveSplitBrain("vu", "n1", 3, {{"n2", "00000000000000bb"}, {"n9", "x"}});
    EXPECT_EQ(missing.code(), ErrorCode::kNotFound);
    EXPECT_EQ(missing.reason(), "replica_not_found");
    EXPECT_EQ(store->getVolume("v")->primary_node, "n2") << "nothing changed";
    EXPECT_EQ(*store->generation(), gen);
    auto before = store->listReplicasOf("vu");
    ASSERT_TRUE(before.isOk());
    for (const auto& r : *before) EXPECT_EQ(r.discard_generation, "") << r.node_name;
    ASSERT_TRUE(store->resolveSplitBrain("vu", "n1", 3, {{"n2", "00000000000000bb"}, {"n3", "00000000000000cc"}})
                    .isOk());
    EXPECT_GT(*store->generation(), gen);
    EXPECT_EQ(store->resolveSplitBrain("nope", "n1", 3, {}).reason(), "volume_not_found");
  }
  auto store = open();
  EXPECT_EQ(store->getVolume("v")->primary_node, "n1");
  EXPECT_EQ(store->getVolume("v")->epoch, 3u);
  std::map<std::string, std::string> discard;
  auto after = store->listReplicasOf("vu");
  ASSERT_TRUE(after.isOk());
  for (const auto& r : *after) discard[r.node_name] = r.discard_generation;
  EXPECT_EQ(discard, (std::map<std::string, std::string>{
                         {"n1", ""}, {"n2", "00000000000000bb"}, {"n3", "00000000000000cc"}}));
}

TEST_F(StoreTest, ChangesBumpGeneration) {
  auto store = open();
  uint64_t g0 = *store->generation();
  ASSERT_TRUE(store->upsertNode({"u1", "n1", "h", 1, 2, "x", 0, {}}, {}).isOk());
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

// Attachments persist (connector as given), bump the generation, block deleting their volume
// and node, and refuse duplicates; multi-attach is a group setting (off by default).
TEST_F(StoreTest, AttachmentsRoundTripAndBlockDeletes) {
  {
    auto store = open();
    GroupRecord g{"gu", "g", 1, "native", true, {}, {}};
    g.allow_multiattach = true;
    ASSERT_TRUE(store->createGroup(g).isOk());
    ASSERT_TRUE(store->createGroup({"hu", "h", 1, "native", true, {}, {}}).isOk());
    ASSERT_TRUE(store->upsertNode({"nu", "n2", "127.0.0.1", 1, 2, "x", 0, {}}, {}).isOk());
    ASSERT_TRUE(store->createVolume({"vu", "v", 4096, "g", "n1", 1, 0}, {{"vu", "n1", "p", true}}).isOk());
    uint64_t before = *store->generation();
    AttachmentRecord a{"vu", "n2", AttachMode::kNbd, R"({"host":"n2"})", false, 42};
    ASSERT_TRUE(store->addAttachment(a).isOk());
    EXPECT_EQ(*store->generation(), before + 1);
    EXPECT_EQ(store->addAttachment(a).reason(), "attachment_exists");
    EXPECT_EQ(store->addAttachment({"nope", "n2", AttachMode::kBlock, "", false, 0}).reason(), "volume_not_found");
    Status del = store->deleteVolume("v");
    EXPECT_EQ(del.code(), ErrorCode::kConflict);
    EXPECT_EQ(del.reason(), "volume_attached");
    EXPECT_NE(del.message().find("n2"), std::string::npos) << del.message();
    EXPECT_EQ(store->deleteNode("n2").reason(), "node_in_use");
    ASSERT_TRUE(store->setDetaching("vu", "n2", true).isOk());
    EXPECT_EQ(store->setDetaching("vu", "n9", true).reason(), "attachment_not_found");
  }
  auto store = open();
  EXPECT_TRUE(store->getGroup("g")->allow_multiattach);
  EXPECT_FALSE(store->getGroup("h")->allow_multiattach);
  auto all = store->listAttachments();
  ASSERT_TRUE(all.isOk());
  ASSERT_EQ(all->size(), 1u);
  EXPECT_EQ((*all)[0], (AttachmentRecord{"vu", "n2", AttachMode::kNbd, R"({"host":"n2"})", true, 42, false}));
  ASSERT_TRUE(store->setDetaching("vu", "n2", true, /*force=*/true).isOk());
  EXPECT_TRUE(store->listAttachments()->at(0).force_detach);
  ASSERT_TRUE(store->setDetaching("vu", "n2", true).isOk());
  all = store->listAttachments();
  EXPECT_EQ(*store->listAttachmentsOf("vu"), *all);
  EXPECT_TRUE(store->listAttachmentsOf("other")->empty());
  ASSERT_TRUE(store->removeAttachment("vu", "n2").isOk());
  EXPECT_EQ(store->removeAttachment("vu", "n2").reason(), "attachment_not_found");
  EXPECT_TRUE(store->deleteVolume("v").isOk());
  EXPECT_TRUE(store->deleteNode("n2").isOk());
}

}  // namespace
}  // namespace tandem::controller

namespace tandem::controller {
namespace {

// Three nodes and ten volumes of two replicas.
class StoreSliceTest : public StoreTest {
 protected:
  void SetUp() override {
    StoreTest::SetUp();
    store_ = open();
    ASSERT_NE(store_, nullptr);
    for (const char* n : {"n1", "n2", "n3"}) {
      ASSERT_TRUE(store_->upsertNode({std::string("u-") + n, n, "h", 1, 2, "x", 0, {}}, {{n, "p", "file", true, true}}).isOk());
    }
    ASSERT_TRUE(store_->createGroup({"g-uuid", "g", 2, "native", true, {}, {}}).isOk());
    // v00..v09: v<even> on n1+n2, v<odd> on n2+n3.
    for (int i = 0; i < 10; ++i) {
      const std::string name = "v0" + std::to_string(i), uuid = "uuid-" + name;
      const std::string a = i % 2 ? "n2" : "n1", b = i % 2 ? "n3" : "n2";
      ASSERT_TRUE(store_->createVolume({uuid, name, 1 << 20, "g", a, 1, 0}, {{uuid, a, "p", true}, {uuid, b, "p", true}}).isOk());
    }
  }
  void TearDown() override {
    store_.reset();
    StoreTest::TearDown();
  }
  std::unique_ptr<Store> store_;
};

// Pages walk the volumes by name from a cursor; an empty cursor starts at the first.
TEST_F(StoreSliceTest, VolumePages) {
  auto first = store_->listVolumesPage("", 4);
  ASSERT_TRUE(first.isOk());
  ASSERT_EQ(first->size(), 4u);
  EXPECT_EQ(first->front().name, "v00");
  EXPECT_EQ(first->back().name, "v03");
  auto next = store_->listVolumesPage("v03", 4);
  ASSERT_EQ(next->size(), 4u);
  EXPECT_EQ(next->front().name, "v04");
  EXPECT_EQ(store_->listVolumesPage("v07", 4)->size(), 2u);
  EXPECT_TRUE(store_->listVolumesPage("v09", 4)->empty());
  auto slice = store_->volumePageSlice("v03", 3);  // v04..v06 with their rows
  ASSERT_TRUE(slice.isOk()) << slice.status().toString();
  ASSERT_EQ(slice->volumes.size(), 3u);
  EXPECT_EQ(slice->volumes.front().name, "v04");
  EXPECT_EQ(slice->replicas.size(), 6u);
  for (const auto& r : slice->replicas) EXPECT_TRUE(r.volume_uuid >= "uuid-v04" && r.volume_uuid <= "uuid-v06");
  EXPECT_EQ(store_->getVolumeByUuid("uuid-v05")->name, "v05");
  EXPECT_EQ(store_->getVolumeByUuid("nope").status().code(), ErrorCode::kNotFound);
}

// A node's slice holds its volumes (replicas or attachments there), all their replicas and
// snapshots, and its attachments: nothing of the volumes it has no part in.
TEST_F(StoreSliceTest, NodeSliceHoldsOnlyTheNodesPart) {
  ASSERT_TRUE(store_->createSnapshot({"s-uuid", "s1", "uuid-v01", 1 << 20, 0, SnapshotState::kCreating, ""}).isOk());
  ASSERT_TRUE(store_->createSnapshot({"s2-uuid", "s2", "uuid-v02", 1 << 20, 0, SnapshotState::kCreating, ""}).isOk());
  AttachmentRecord attached;
  attached.volume_uuid = "uuid-v03";  // on n2+n3, attached on n1
  attached.host = "n1";
  ASSERT_TRUE(store_->addAttachment(attached).isOk());
  auto slice = store_->nodeSlice("n1");
  ASSERT_TRUE(slice.isOk()) << slice.status().toString();
  std::set<std::string> names;
  for (const auto& v : slice->volumes) names.insert(v.name);
  EXPECT_EQ(names, (std::set<std::string>{"v00", "v02", "v03", "v04", "v06", "v08"}));
  EXPECT_EQ(slice->replicas.size(), 12u) << "both replicas of each of its volumes";
  ASSERT_EQ(slice->snapshots.size(), 1u);
  EXPECT_EQ(slice->snapshots[0].name, "s2");
  ASSERT_EQ(slice->attachments.size(), 1u);
  EXPECT_EQ(slice->attachments[0].volume_uuid, "uuid-v03");
  EXPECT_EQ(store_->listReplicasOnNode("n3")->size(), 5u);
  EXPECT_TRUE(store_->nodeSlice("n9")->volumes.empty());
}

}  // namespace
}  // namespace tandem::controller

namespace tandem::controller {
namespace {

// A change moves the node generation of exactly the nodes whose desired state it alters: a
// volume's replica nodes (before and after) and attachment hosts, a node's peers when its
// addresses change. After reopening, every node is at the stored generation.
TEST_F(StoreSliceTest, NodeGenerationsFollowTheNodesAChangeConcerns) {
  auto at = [&](const std::string& node) { return *store_->nodeGeneration(node); };
  ASSERT_TRUE(store_->upsertNode({"u-n4", "n4", "h", 1, 2, "x", 0, {}}, {}).isOk());
  const uint64_t n4 = *store_->generation();
  EXPECT_EQ(at("n4"), n4);
  EXPECT_LT(at("n1"), n4) << "n4 shares no volume with n1";

  // v00 is on n1+n2: a change to it concerns n1 and n2, not n3.
  const uint64_t before = *store_->generation();
  ASSERT_TRUE(store_->setVolumeSize("uuid-v00", 2 << 20).isOk());
  const uint64_t g = *store_->generation();
  EXPECT_GT(g, before);
  EXPECT_EQ(at("n1"), g);
  EXPECT_EQ(at("n2"), g);
  EXPECT_LT(at("n3"), g);

  // An attachment concerns its host (and the volume's replicas).
  ASSERT_TRUE(store_->addAttachment({"uuid-v00", "n4", AttachMode::kNbd, "", false, 0}).isOk());
  EXPECT_EQ(at("n4"), *store_->generation());
  EXPECT_EQ(at("n1"), *store_->generation());
  EXPECT_LT(at("n3"), *store_->generation());

  // Moving v00's replica from n1 to n3 concerns the node left (n1) and the new one (n3).
  ASSERT_TRUE(store_->replaceReplica("uuid-v00", "n1", {"uuid-v00", "n3", "p", true}).isOk());
  const uint64_t moved = *store_->generation();
  EXPECT_EQ(at("n1"), moved);
  EXPECT_EQ(at("n3"), moved);
  EXPECT_EQ(at("n4"), moved) << "the attached host";

  // n2's new address: every node sharing a volume with n2 (n1 holds v02, n3 holds v01).
  ASSERT_TRUE(store_->upsertNode({"u-n2", "n2", "other", 1, 2, "x", 0, {}}, {{"n2", "p", "file", true, true}}).isOk());
  const uint64_t readdressed = *store_->generation();
  for (const char* n : {"n1", "n2", "n3", "n4"}) EXPECT_EQ(at(n), readdressed) << n;

  // A snapshot of v01 (n2+n3) concerns n2 and n3 only.
  ASSERT_TRUE(store_->createSnapshot({"s-uuid", "s", "uuid-v01", 1 << 20, 0, SnapshotState::kCreating, ""}).isOk());
  EXPECT_EQ(at("n3"), *store_->generation());
  EXPECT_LT(at("n1"), *store_->generation());
  ASSERT_TRUE(store_->deleteSnapshot("s").isOk());
  EXPECT_EQ(at("n2"), *store_->generation());
  EXPECT_LT(at("n1"), *store_->generation());

  // Deleting v03 (n2+n3) concerns the nodes it was on.
  ASSERT_TRUE(store_->deleteVolume("v03").isOk());
  EXPECT_EQ(at("n3"), *store_->generation());
  EXPECT_LT(at("n1"), *store_->generation());

  // A failed change moves nothing.
  const uint64_t n1 = at("n1");
  EXPECT_FALSE(store_->replaceReplica("uuid-v02", "n9", {"uuid-v02", "n3", "p", true}).isOk());
  EXPECT_EQ(at("n1"), n1);

  const uint64_t stored = *store_->generation();
  store_.reset();
  store_ = open();
  for (const char* n : {"n1", "n2", "n3", "n4", "never-registered"}) EXPECT_EQ(at(n), stored) << n;
}

}  // namespace
}  // namespace tandem::controller

namespace tandem::controller {
namespace {

// Re-registering at the same addresses (a node worker restart) changes no other node's state:
// only the node's own generation moves.
TEST_F(StoreSliceTest, SameAddressesTouchTheNodeOnly) {
  const uint64_t n1 = *store_->nodeGeneration("n1");
  ASSERT_TRUE(store_->upsertNode({"u-n2", "n2", "h", 1, 2, "y", 0, {}}, {{"n2", "p", "file", true, true}}).isOk());
  EXPECT_EQ(*store_->nodeGeneration("n2"), *store_->generation());
  EXPECT_EQ(*store_->nodeGeneration("n1"), n1) << "n1's state shows n2's addresses, which did not change";
  ASSERT_TRUE(store_->upsertNode({"u-n2", "n2", "h", 1, 3, "y", 0, {}}, {{"n2", "p", "file", true, true}}).isOk());
  EXPECT_EQ(*store_->nodeGeneration("n1"), *store_->generation()) << "a new replication port";
}

}  // namespace
}  // namespace tandem::controller
