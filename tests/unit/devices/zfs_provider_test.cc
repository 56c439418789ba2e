// The zfs provider, driven through a recording fake CommandRunner: exact command lines,
// parsing of `zfs list -Hp` output, and errors that keep the tool's stderr.
// A real ZFS run is impossible on this machine (no ZFS module in this kernel).
#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>

#include "fake_command_runner.h"
#include "tandem/devices/provider_factory.h"

namespace tandem::devices {
namespace {

using ::testing::ElementsAre;
using testing::FakeCommandRunner;
using ::testing::HasSubstr;
using Argv = std::vector<std::string>;

const Argv kList = {
    "zfs", "list",      "-Hp", "-o",         "name,volsize,used,referenced,origin", "-t", "volume,snapshot",
    "-s",  "createtxg", "-r",  "tank/tandem"};

// What `zfs list -Hp -o name,volsize,used,referenced,origin -t volume,snapshot -s createtxg -r
// tank/tandem` prints (tab-separated, exact bytes, "-" for none), oldest first: two volumes,
// snapshots of vol1, a clone of snapshot s1, a clone of vol2 through a hidden snapshot, and a
// nested dataset's volume that is not ours.
constexpr const char* kZfsList =
    "tank/tandem/vol1\t1073741824\t67190784\t67117056\t-\n"
    "tank/tandem/vol1@s1\t1073741824\t40960\t67117056\t-\n"
    "tank/tandem/vol2\t2147483648\t2147500032\t12288\t-\n"
    "tank/tandem/vol1@s2\t1073741824\t0\t67117056\t-\n"
    "tank/tandem/c1\t1073741824\t8192\t67117056\ttank/tandem/vol1@s1\n"
    "tank/tandem/vol2@clone:c2\t2147483648\t0\t12288\t-\n"
    "tank/tandem/c2\t2147483648\t0\t12288\ttank/tandem/vol2@clone:c2\n"
    "tank/tandem/other/x\t1048576\t8192\t8192\t-\n";

class ZfsProviderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    runner_.onStdout(kList, kZfsList);
    runner_.onStdout({"zfs", "list", "-Hp", "-o", "used,available"}, "2214690816\t8522825728\n");
    PoolConfig config;
    config.provider = "zfs";
    config.zpool = "tank";
    config.dataset = "tandem";
    config.runner = &runner_;
    auto p = makeProvider(config);
    ASSERT_TRUE(p.isOk()) << p.status().toString();
    provider_ = std::move(p).value();
    ::testing::Test::RecordProperty("real_zfs",
                                    "impossible here: no ZFS module in this kernel; "
                                    "commands are checked against a recording fake");
  }
  std::vector<Argv> actions() const { return runner_.callsExcept("zfs", "list"); }

  FakeCommandRunner runner_;
  std::unique_ptr<StorageProvider> provider_;
};

// Renaming runs `zfs rename` within the dataset; a volume with snapshots (hidden ones too), an
// unknown one and an existing target are refused without running anything.
TEST_F(ZfsProviderTest, RenameRunsZfsRenameAndRefusesConflicts) {
  EXPECT_EQ(provider_->rename("vol1", "kept").code(), ErrorCode::kConflict);
  EXPECT_EQ(provider_->rename("vol2", "kept").code(), ErrorCode::kConflict);
  EXPECT_EQ(provider_->rename("nope", "kept").code(), ErrorCode::kNotFound);
  EXPECT_EQ(provider_->rename("c1", "vol2").code(), ErrorCode::kAlreadyExists);
  EXPECT_TRUE(actions().empty());
  ASSERT_TRUE(provider_->rename("c1", "kept").isOk());
  EXPECT_THAT(actions(), ElementsAre(Argv{"zfs", "rename", "tank/tandem/c1", "tank/tandem/kept"}));
  EXPECT_EQ(provider_->pathOf("kept"), "/dev/zvol/tank/tandem/kept");
}

// Records that no real ZFS run happens here, so a reader of the test log knows why.
TEST_F(ZfsProviderTest, RealZfsRunIsImpossibleOnThisMachine) {
  std::printf(
      "[ NOTE     ] zfs: no ZFS module in this kernel; only command lines and output parsing are tested\n");
  EXPECT_EQ(provider_->capabilities().provider, "zfs");
}

// Thin create is `zfs create -s -V <bytes> pool/ds/name`; thick leaves out -s.
TEST_F(ZfsProviderTest, CreateRunsZfsCreateSparse) {
  ASSERT_TRUE(provider_->create("vol3", 1ull << 30, Provisioning::kThin).isOk());
  ASSERT_TRUE(provider_->create("vol4", 1ull << 30, Provisioning::kThick).isOk());
  EXPECT_THAT(actions(), ElementsAre(Argv{"zfs", "create", "-s", "-V", "1073741824", "tank/tandem/vol3"},
                                     Argv{"zfs", "create", "-V", "1073741824", "tank/tandem/vol4"}));
  EXPECT_EQ(runner_.calls().front(), kList);
  EXPECT_EQ(provider_->create("vol1", 1, Provisioning::kThin).code(), ErrorCode::kAlreadyExists);
}

// Capacity: total = used + available of the root dataset, provisioned = sum of volsizes.
TEST_F(ZfsProviderTest, CapacityFromUsedAndAvailable) {
  auto cap = provider_->capacity();
  ASSERT_TRUE(cap.isOk()) << cap.status().toString();
  EXPECT_EQ(cap->total_bytes, 2214690816ull + 8522825728ull);
  EXPECT_EQ(cap->free_bytes, 8522825728u);
  EXPECT_EQ(cap->provisioned_bytes, 1073741824ull + 2147483648ull + 1073741824ull + 2147483648ull);
  EXPECT_EQ(runner_.calls()[0], (Argv{"zfs", "list", "-Hp", "-o", "used,available", "tank/tandem"}));
}

// list() shows our volumes and snapshots, hides clone helper snapshots and nested datasets.
TEST_F(ZfsProviderTest, ListParsesVolumesAndSnapshots) {
  auto list = provider_->list();
  ASSERT_TRUE(list.isOk()) << list.status().toString();
  std::vector<std::string> names;
  for (const auto& v : *list) names.push_back((v.is_snapshot ? v.parent + "@" : "") + v.name);
  EXPECT_THAT(names, ElementsAre("vol1", "vol1@s1", "vol2", "vol1@s2", "c1", "c2"));
  EXPECT_EQ((*list)[0].size_bytes, 1073741824u);
  EXPECT_EQ((*list)[0].allocated_bytes, 67117056u);
  auto info = provider_->info("vol2");
  ASSERT_TRUE(info.isOk());
  EXPECT_EQ(info->size_bytes, 2147483648u);
  EXPECT_EQ(provider_->info("x").status().code(), ErrorCode::kNotFound);
}

// Snapshot, clone from a snapshot, clone from a volume (hidden snapshot), revert to the latest.
TEST_F(ZfsProviderTest, SnapshotCloneRevertCommandLines) {
  ASSERT_TRUE(provider_->snapshot("vol2", "s9", {}).isOk());
  ASSERT_TRUE(provider_->clone("vol1", "s2", "c3", {}).isOk());
  ASSERT_TRUE(provider_->clone("vol1", "", "c4", {}).isOk());
  ASSERT_TRUE(provider_->revert("vol1", "s2").isOk());
  EXPECT_THAT(actions(), ElementsAre(Argv{"zfs", "snapshot", "tank/tandem/vol2@s9"},
                                     Argv{"zfs", "clone", "tank/tandem/vol1@s2", "tank/tandem/c3"},
                                     Argv{"zfs", "snapshot", "tank/tandem/vol1@clone:c4"},
                                     Argv{"zfs", "clone", "tank/tandem/vol1@clone:c4", "tank/tandem/c4"},
                                     Argv{"zfs", "rollback", "tank/tandem/vol1@s2"}));
}

// Revert to a snapshot that is not the latest is refused (ZFS would destroy the later ones).
TEST_F(ZfsProviderTest, RevertToOlderSnapshotIsConflict) {
  Status s = provider_->revert("vol1", "s1");
  EXPECT_EQ(s.code(), ErrorCode::kConflict);
  EXPECT_THAT(s.message(), HasSubstr("s2"));
  EXPECT_TRUE(actions().empty());
}

// Remove is refused while snapshots or clones depend on the volume; a clone's removal also
// destroys its hidden origin snapshot; removing a snapshot a clone uses is refused.
TEST_F(ZfsProviderTest, RemoveRespectsSnapshotsAndClones) {
  EXPECT_EQ(provider_->remove("vol1").code(), ErrorCode::kConflict);
  Status s = provider_->remove("vol2");
  EXPECT_EQ(s.code(), ErrorCode::kConflict);
  EXPECT_THAT(s.message(), HasSubstr("c2"));
  EXPECT_EQ(provider_->removeSnapshot("vol1", "s1").code(), ErrorCode::kConflict);
  EXPECT_TRUE(actions().empty());
  ASSERT_TRUE(provider_->remove("c2").isOk());
  ASSERT_TRUE(provider_->removeSnapshot("vol1", "s2").isOk());
  EXPECT_THAT(actions(), ElementsAre(Argv{"zfs", "destroy", "tank/tandem/c2"},
                                     Argv{"zfs", "destroy", "tank/tandem/vol2@clone:c2"},
                                     Argv{"zfs", "destroy", "tank/tandem/vol1@s2"}));
  EXPECT_EQ(provider_->remove("nope").code(), ErrorCode::kNotFound);
}

// Resize sets volsize; shrinking needs force.
TEST_F(ZfsProviderTest, ResizeSetsVolsize) {
  ASSERT_TRUE(provider_->resize("vol2", 4ull << 30, false).isOk());
  EXPECT_EQ(provider_->resize("vol2", 1ull << 30, false).code(), ErrorCode::kInvalidArgument);
  ASSERT_TRUE(provider_->resize("vol2", 1ull << 30, true).isOk());
  EXPECT_THAT(actions(), ElementsAre(Argv{"zfs", "set", "volsize=4294967296", "tank/tandem/vol2"},
                                     Argv{"zfs", "set", "volsize=1073741824", "tank/tandem/vol2"}));
}

// A failing zfs command gives an error with the command line and zfs's stderr.
TEST_F(ZfsProviderTest, ToolFailureKeepsStderr) {
  runner_.onFailure({"zfs", "create"}, 1, "cannot create 'tank/tandem/vol5': out of space\n");
  Status s = provider_->create("vol5", 1ull << 40, Provisioning::kThick);
  EXPECT_EQ(s.code(), ErrorCode::kNoSpace);
  EXPECT_THAT(s.message(), HasSubstr("zfs create -V 1099511627776 tank/tandem/vol5"));
  EXPECT_THAT(s.message(), HasSubstr("cannot create 'tank/tandem/vol5': out of space"));

  runner_.onFailure({"zfs", "list"}, 1, "cannot open 'tank/tandem': dataset does not exist\n");
  auto list = provider_->list();
  EXPECT_EQ(list.status().code(), ErrorCode::kNotFound);
  EXPECT_THAT(list.status().message(), HasSubstr("dataset does not exist"));
}

// A line that is not 5 tab-separated fields with byte counts is a kProtocol error.
TEST_F(ZfsProviderTest, MalformedListIsProtocolError) {
  runner_.onStdout(kList, "tank/tandem/vol1  1G  64M  64M  -\n");
  EXPECT_EQ(provider_->list().status().code(), ErrorCode::kProtocol);
  runner_.onStdout(kList, "tank/tandem/vol1\t1G\t64M\t64M\t-\n");
  EXPECT_EQ(provider_->list().status().code(), ErrorCode::kProtocol);
}

// open() opens <device_dir>/zvol/<pool>/<dataset>/<name>.
TEST(ZfsProviderOpen, OpensZvolPath) {
  char tmpl[] = "/tmp/tandem-zfs-XXXXXX";
  ASSERT_NE(::mkdtemp(tmpl), nullptr);
  std::string dir = tmpl;
  std::filesystem::create_directories(dir + "/zvol/tank");
  int fd = ::open((dir + "/zvol/tank/v").c_str(), O_CREAT | O_RDWR, 0600);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::ftruncate(fd, 65536), 0);
  ::close(fd);
  FakeCommandRunner runner;
  PoolConfig config;
  config.provider = "zfs";
  config.zpool = "tank";
  config.runner = &runner;
  config.device_dir = dir;
  auto provider = makeProvider(config);
  ASSERT_TRUE(provider.isOk());
  auto dev = (*provider)->open("v");
  ASSERT_TRUE(dev.isOk()) << dev.status().toString();
  EXPECT_EQ((*dev)->sizeBytes(), 65536u);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace tandem::devices
