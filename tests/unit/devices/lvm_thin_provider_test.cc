// The lvm-thin provider, driven through a recording fake CommandRunner: exact command lines,
// parsing of `lvs --reportformat json` output, and errors that keep the tool's stderr.
// A real LVM run is impossible on this machine (no device-mapper thin target in the kernel).
#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>

#include "fake_command_runner.h"
#include "tandem/devices/provider_factory.h"

namespace tandem::devices {
namespace {

using ::testing::ElementsAre;
using testing::FakeCommandRunner;
using ::testing::HasSubstr;
using Argv = std::vector<std::string>;

const Argv kLvs = {
    "lvs", "--reportformat", "json", "-o", "lv_name,lv_size,data_percent,pool_lv,origin,lv_attr", "--units",
    "b",   "--nosuffix",     "vg0"};

// What lvs 2.03 prints for a VG with a 10 GiB thin pool, two volumes, a snapshot (inactive,
// so data_percent is empty) and a clone, plus an ordinary LV outside the pool.
constexpr const char* kLvsReport = R"({
      "report": [
          {
              "lv": [
                  {"lv_name":"data", "lv_size":"10737418240", "data_percent":"25.00", "pool_lv":"", "origin":"", "lv_attr":"twi-aotz--"},
                  {"lv_name":"root", "lv_size":"21474836480", "data_percent":"", "pool_lv":"", "origin":"", "lv_attr":"-wi-ao----"},
                  {"lv_name":"vol1", "lv_size":"1073741824", "data_percent":"50.00", "pool_lv":"data", "origin":"", "lv_attr":"Vwi-a-tz--"},
                  {"lv_name":"vol1+snap1", "lv_size":"1073741824", "data_percent":"", "pool_lv":"data", "origin":"vol1", "lv_attr":"Vri---tz-k"},
                  {"lv_name":"vol2", "lv_size":"2147483648", "data_percent":"0.00", "pool_lv":"data", "origin":"", "lv_attr":"Vwi-a-tz--"},
                  {"lv_name":"copy", "lv_size":"1073741824", "data_percent":"50.00", "pool_lv":"data", "origin":"vol1+snap1", "lv_attr":"Vwi-a-tz--"}
              ]
          }
      ]
  }
)";

class LvmThinProviderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    runner_.onStdout({"lvs"}, kLvsReport);
    PoolConfig config;
    config.provider = "lvm-thin";
    config.volume_group = "vg0";
    config.thin_pool = "data";
    config.runner = &runner_;
    auto p = makeProvider(config);
    ASSERT_TRUE(p.isOk()) << p.status().toString();
    provider_ = std::move(p).value();
    ::testing::Test::RecordProperty("real_lvm",
                                    "impossible here: no device-mapper thin target in this kernel; "
                                    "commands are checked against a recording fake");
  }
  // The state-changing commands run (the lvs listings left out).
  std::vector<Argv> actions() const { return runner_.callsExcept("lvs"); }

  FakeCommandRunner runner_;
  std::unique_ptr<StorageProvider> provider_;
};

// Records that no real LVM run happens here, so a reader of the test log knows why.
TEST_F(LvmThinProviderTest, RealLvmRunIsImpossibleOnThisMachine) {
  std::printf(
      "[ NOTE     ] lvm-thin: no device-mapper/LVM thin support in this kernel; "
      "only command lines and output parsing are tested\n");
  EXPECT_EQ(provider_->capabilities().provider, "lvm-thin");
  EXPECT_TRUE(provider_->capabilities().snapshots);
}

// A thin create runs exactly `lvcreate -y -V <bytes>b -T vg/pool -n <name>`.
TEST_F(LvmThinProviderTest, CreateRunsLvcreateThin) {
  ASSERT_TRUE(provider_->create("vol3", 4ull << 30, Provisioning::kThin).isOk());
  EXPECT_THAT(actions(),
              ElementsAre(Argv{"lvcreate", "-y", "-V", "4294967296b", "-T", "vg0/data", "-n", "vol3"}));
  EXPECT_EQ(runner_.calls().front(), kLvs);
}

// Creating an existing volume is kAlreadyExists without running lvcreate; thick is unsupported.
TEST_F(LvmThinProviderTest, CreateRefusesExistingNameAndThick) {
  EXPECT_EQ(provider_->create("vol1", 1 << 30, Provisioning::kThin).code(), ErrorCode::kAlreadyExists);
  EXPECT_EQ(provider_->create("vol9", 1 << 30, Provisioning::kThick).code(), ErrorCode::kUnsupported);
  EXPECT_EQ(provider_->create("../etc", 1 << 30, Provisioning::kThin).code(), ErrorCode::kInvalidArgument);
  EXPECT_TRUE(actions().empty());
}

// Pool capacity comes from the pool LV's size and data_percent; provisioned sums volumes only.
TEST_F(LvmThinProviderTest, CapacityFromPoolRow) {
  auto cap = provider_->capacity();
  ASSERT_TRUE(cap.isOk()) << cap.status().toString();
  EXPECT_EQ(cap->total_bytes, 10737418240u);
  EXPECT_EQ(cap->free_bytes, 10737418240ull - 2684354560ull);  // 25% used
  EXPECT_EQ(cap->provisioned_bytes, 1073741824ull + 2147483648ull + 1073741824ull);
}

// list() shows the pool's thin LVs: snapshots under their own name with their volume as parent.
TEST_F(LvmThinProviderTest, ListParsesVolumesAndSnapshots) {
  auto list = provider_->list();
  ASSERT_TRUE(list.isOk()) << list.status().toString();
  ASSERT_EQ(list->size(), 4u);
  EXPECT_EQ((*list)[0].name, "vol1");
  EXPECT_EQ((*list)[0].allocated_bytes, 536870912u);
  EXPECT_FALSE((*list)[0].is_snapshot);
  EXPECT_EQ((*list)[1].name, "snap1");
  EXPECT_TRUE((*list)[1].is_snapshot);
  EXPECT_EQ((*list)[1].parent, "vol1");
  EXPECT_EQ((*list)[1].allocated_bytes, 0u);  // inactive: unknown
  EXPECT_EQ((*list)[3].name, "copy");
  EXPECT_FALSE((*list)[3].is_snapshot);
  auto info = provider_->info("vol2");
  ASSERT_TRUE(info.isOk());
  EXPECT_EQ(info->size_bytes, 2147483648u);
  EXPECT_EQ(provider_->info("root").status().code(), ErrorCode::kNotFound);  // not in the pool
}

// Snapshot, clone, remove-snapshot and revert run the documented lvcreate/lvchange/lvconvert lines.
TEST_F(LvmThinProviderTest, SnapshotCloneRevertCommandLines) {
  ASSERT_TRUE(provider_->snapshot("vol2", "s1", {}).isOk());
  ASSERT_TRUE(provider_->clone("vol1", "snap1", "fromsnap", {}).isOk());
  ASSERT_TRUE(provider_->clone("vol2", "", "fromvol", {}).isOk());
  ASSERT_TRUE(provider_->revert("vol1", "snap1").isOk());
  ASSERT_TRUE(provider_->removeSnapshot("vol1", "snap1").isOk());
  EXPECT_THAT(
      actions(),
      ElementsAre(
          Argv{"lvcreate", "-y", "-s", "-n", "vol2+s1", "vg0/vol2"},
          Argv{"lvcreate", "-y", "-s", "--setactivationskip", "n", "-n", "fromsnap", "vg0/vol1+snap1"},
          Argv{"lvchange", "-ay", "-K", "vg0/fromsnap"},
          Argv{"lvcreate", "-y", "-s", "--setactivationskip", "n", "-n", "fromvol", "vg0/vol2"},
          Argv{"lvchange", "-ay", "-K", "vg0/fromvol"}, Argv{"lvchange", "-an", "vg0/vol1"},
          Argv{"lvconvert", "--merge", "vg0/vol1+snap1"}, Argv{"lvchange", "-ay", "-K", "vg0/vol1"},
          Argv{"lvcreate", "-y", "-s", "-n", "vol1+snap1", "vg0/vol1"},
          Argv{"lvremove", "-y", "vg0/vol1+snap1"}));
}

// Removing a volume with snapshots is kConflict; without, lvremove runs; unknown is kNotFound.
TEST_F(LvmThinProviderTest, RemoveRefusedWhileSnapshotsExist) {
  Status s = provider_->remove("vol1");
  EXPECT_EQ(s.code(), ErrorCode::kConflict);
  EXPECT_THAT(s.message(), HasSubstr("snap1"));
  EXPECT_EQ(provider_->remove("nope").code(), ErrorCode::kNotFound);
  ASSERT_TRUE(provider_->remove("vol2").isOk());
  EXPECT_THAT(actions(), ElementsAre(Argv{"lvremove", "-y", "vg0/vol2"}));
}

// Renaming runs lvrename within the volume group; a volume with snapshots, an unknown one and
// an existing target are refused without running anything.
TEST_F(LvmThinProviderTest, RenameRunsLvrenameAndRefusesConflicts) {
  EXPECT_EQ(provider_->rename("vol1", "other").code(), ErrorCode::kConflict);
  EXPECT_EQ(provider_->rename("nope", "other").code(), ErrorCode::kNotFound);
  EXPECT_EQ(provider_->rename("vol2", "copy").code(), ErrorCode::kAlreadyExists);
  ASSERT_TRUE(provider_->rename("vol2", "kept").isOk());
  EXPECT_THAT(actions(), ElementsAre(Argv{"lvrename", "vg0", "vol2", "kept"}));
  EXPECT_EQ(provider_->pathOf("kept"), "/dev/vg0/kept");
}

// Growing runs lvextend; shrinking is refused unless forced, then lvreduce runs.
TEST_F(LvmThinProviderTest, ResizeGrowsAndShrinksOnlyWhenForced) {
  ASSERT_TRUE(provider_->resize("vol2", 3ull << 30, false).isOk());
  EXPECT_EQ(provider_->resize("vol2", 1ull << 30, false).code(), ErrorCode::kInvalidArgument);
  ASSERT_TRUE(provider_->resize("vol2", 1ull << 30, true).isOk());
  EXPECT_THAT(actions(), ElementsAre(Argv{"lvextend", "-L", "3221225472b", "vg0/vol2"},
                                     Argv{"lvreduce", "-y", "-L", "1073741824b", "vg0/vol2"}));
}

// A failing tool gives an error holding the command line and its stderr, classified by message.
TEST_F(LvmThinProviderTest, ToolFailureKeepsStderrAndCommandLine) {
  runner_.onFailure({"lvcreate"}, 5,
                    "  Cannot create new thin volume, free space in thin pool vg0/data reached threshold.\n"
                    "  Insufficient free space: 256 extents needed, but only 10 available\n");
  Status s = provider_->create("big", 1ull << 40, Provisioning::kThin);
  EXPECT_EQ(s.code(), ErrorCode::kNoSpace);
  EXPECT_THAT(s.message(), HasSubstr("lvcreate -y -V 1099511627776b -T vg0/data -n big"));
  EXPECT_THAT(s.message(), HasSubstr("exited 5"));
  EXPECT_THAT(s.message(), HasSubstr("Insufficient free space"));

  runner_.onFailure({"lvs"}, 5, "  Volume group \"vg0\" not found\n  Cannot process volume group vg0\n");
  auto cap = provider_->capacity();
  EXPECT_EQ(cap.status().code(), ErrorCode::kNotFound);
  EXPECT_THAT(cap.status().message(), HasSubstr("Volume group \"vg0\" not found"));
}

// Output that is not an lvs JSON report is a kProtocol error naming the command.
TEST_F(LvmThinProviderTest, MalformedReportIsProtocolError) {
  runner_.onStdout({"lvs"}, "  LV   VG  Attr\n  vol1 vg0 Vwi-a-tz--\n");
  auto list = provider_->list();
  EXPECT_EQ(list.status().code(), ErrorCode::kProtocol);
  EXPECT_THAT(list.status().message(), HasSubstr("lvs --reportformat json"));
  runner_.onStdout({"lvs"}, R"({"report":[{"lv":[{"lv_name":"x","lv_size":"12.00m","pool_lv":"data"}]}]})");
  EXPECT_EQ(provider_->list().status().code(), ErrorCode::kProtocol);
}

// open() activates the LV and opens <device_dir>/<vg>/<lv> as a FileBlockDevice.
TEST(LvmThinProviderOpen, ActivatesAndOpensDevicePath) {
  char tmpl[] = "/tmp/tandem-lvm-XXXXXX";
  ASSERT_NE(::mkdtemp(tmpl), nullptr);
  std::string dir = tmpl;
  std::filesystem::create_directories(dir + "/vg0");
  int fd = ::open((dir + "/vg0/vol1").c_str(), O_CREAT | O_RDWR, 0600);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::ftruncate(fd, 1 << 20), 0);
  ::close(fd);
  FakeCommandRunner runner;
  PoolConfig config;
  config.provider = "lvm-thin";
  config.volume_group = "vg0";
  config.thin_pool = "data";
  config.runner = &runner;
  config.device_dir = dir;
  auto provider = makeProvider(config);
  ASSERT_TRUE(provider.isOk());
  auto dev = (*provider)->open("vol1");
  ASSERT_TRUE(dev.isOk()) << dev.status().toString();
  EXPECT_EQ((*dev)->sizeBytes(), 1u << 20);
  EXPECT_THAT(runner.calls(), ElementsAre(Argv{"lvchange", "-ay", "-K", "vg0/vol1"}));
  EXPECT_EQ((*provider)->open("missing").status().code(), ErrorCode::kNotFound);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace tandem::devices
