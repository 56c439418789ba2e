// The file provider on the temp directory's file system: volume lifecycle, snapshots, clones,
// revert, name checks and the error contract. (Real XFS/btrfs/ext4 behaviour: file_provider_fs.cc.)
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>

#include "tandem/devices/provider_factory.h"

namespace tandem::devices {
namespace {

using ::testing::HasSubstr;

std::vector<std::byte> bytes(size_t n, uint8_t v) { return std::vector<std::byte>(n, std::byte{v}); }

class FileProviderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/tandem-fp-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    PoolConfig config;
    config.provider = "file";
    config.path = dir_;
    auto p = makeProvider(config);
    ASSERT_TRUE(p.isOk()) << p.status().toString();
    provider_ = std::move(p).value();
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  void writeAt(const std::string& vol, uint64_t off, const std::vector<std::byte>& data) {
    auto dev = provider_->open(vol);
    ASSERT_TRUE(dev.isOk()) << dev.status().toString();
    ASSERT_TRUE((*dev)->write(off, data, false).isOk());
    ASSERT_TRUE((*dev)->flush().isOk());
  }
  std::vector<std::byte> readAt(const std::string& vol, uint64_t off, size_t n) {
    std::vector<std::byte> out(n);
    auto dev = provider_->open(vol);
    EXPECT_TRUE(dev.isOk()) << dev.status().toString();
    if (dev.isOk()) {
      EXPECT_TRUE((*dev)->read(off, out).isOk());
    }
    return out;
  }
  std::vector<std::string> dirEntries() {
    std::vector<std::string> names;
    for (auto& e : std::filesystem::directory_iterator(dir_)) names.push_back(e.path().filename());
    std::sort(names.begin(), names.end());
    return names;
  }

  std::string dir_;
  std::unique_ptr<StorageProvider> provider_;
};

// rename() moves <from>.img to <to>.img with its data, never over an existing volume, and never
// loses the source on a refusal; a volume with snapshots cannot be renamed.
TEST_F(FileProviderTest, RenameKeepsDataAndRefusesConflicts) {
  ASSERT_TRUE(provider_->create("a", 1 << 20, Provisioning::kThin).isOk());
  ASSERT_TRUE(provider_->create("b", 1 << 20, Provisioning::kThin).isOk());
  writeAt("a", 4096, bytes(4096, 0x5a));
  EXPECT_EQ(provider_->rename("a", "b").code(), ErrorCode::kAlreadyExists);
  EXPECT_EQ(readAt("a", 4096, 4096), bytes(4096, 0x5a));
  EXPECT_EQ(provider_->rename("missing", "c").code(), ErrorCode::kNotFound);
  EXPECT_EQ(provider_->rename("a", "../x").code(), ErrorCode::kInvalidArgument);
  ASSERT_TRUE(provider_->rename("a", "c").isOk());
  EXPECT_EQ(provider_->info("a").status().code(), ErrorCode::kNotFound);
  EXPECT_EQ(readAt("c", 4096, 4096), bytes(4096, 0x5a));
  EXPECT_EQ(provider_->pathOf("c"), dir_ + "/c.img");
  ASSERT_TRUE(provider_->snapshot("c", "s1").isOk());
  EXPECT_EQ(provider_->rename("c", "d").code(), ErrorCode::kConflict);
}

// A thin volume is a sparse <name>.img of the requested size; info and list report it.
TEST_F(FileProviderTest, CreateMakesSparseFileOfRequestedSize) {
  ASSERT_TRUE(provider_->create("vol1", 64 << 20, Provisioning::kThin).isOk());
  struct stat st {};
  ASSERT_EQ(::stat((dir_ + "/vol1.img").c_str(), &st), 0);
  EXPECT_EQ(st.st_size, 64 << 20);
  EXPECT_LT(st.st_blocks * 512, 1 << 20);
  auto info = provider_->info("vol1");
  ASSERT_TRUE(info.isOk());
  EXPECT_EQ(info->size_bytes, 64u << 20);
  EXPECT_FALSE(info->is_snapshot);
  EXPECT_EQ(provider_->create("vol1", 1, Provisioning::kThin).code(), ErrorCode::kAlreadyExists);
  EXPECT_EQ(provider_->capabilities().provider, "file");
}

// A thick volume has all its blocks allocated at create time.
TEST_F(FileProviderTest, ThickCreateAllocates) {
  ASSERT_TRUE(provider_->create("thick", 8 << 20, Provisioning::kThick).isOk());
  auto info = provider_->info("thick");
  ASSERT_TRUE(info.isOk());
  EXPECT_GE(info->allocated_bytes, 8u << 20);
}

// Names that could escape the directory or are otherwise invalid are refused before any I/O.
TEST_F(FileProviderTest, InvalidNamesRefused) {
  for (const char* bad : {"", ".", "..", "../x", "a/b", ".hidden", "a@b", "-x", "a b"}) {
    EXPECT_EQ(provider_->create(bad, 1 << 20, Provisioning::kThin).code(), ErrorCode::kInvalidArgument)
        << bad;
  }
  ASSERT_TRUE(provider_->create("v", 1 << 20, Provisioning::kThin).isOk());
  EXPECT_EQ(provider_->snapshot("v", "../../etc", {}).code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(provider_->clone("v", "", "x/y", {}).code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(dirEntries(), std::vector<std::string>{"v.img"});
}

// A snapshot keeps the data of its moment; later writes to the volume do not change it; revert
// brings it back; the snapshot is listed with its parent.
TEST_F(FileProviderTest, SnapshotRevertAndList) {
  ASSERT_TRUE(provider_->create("vol", 4 << 20, Provisioning::kThin).isOk());
  writeAt("vol", 4096, bytes(8192, 0x11));
  std::vector<std::pair<uint64_t, uint64_t>> progress;
  ASSERT_TRUE(
      provider_->snapshot("vol", "s1", [&](uint64_t d, uint64_t t) { progress.emplace_back(d, t); }).isOk());
  ASSERT_FALSE(progress.empty());
  EXPECT_EQ(progress.back(), std::make_pair(uint64_t{4} << 20, uint64_t{4} << 20));
  writeAt("vol", 4096, bytes(8192, 0x22));
  EXPECT_EQ(readAt("vol", 4096, 8192), bytes(8192, 0x22));

  auto list = provider_->list();
  ASSERT_TRUE(list.isOk());
  ASSERT_EQ(list->size(), 2u);
  EXPECT_EQ((*list)[0].name, "vol");
  EXPECT_EQ((*list)[1].name, "s1");
  EXPECT_TRUE((*list)[1].is_snapshot);
  EXPECT_EQ((*list)[1].parent, "vol");

  ASSERT_TRUE(provider_->revert("vol", "s1").isOk());
  EXPECT_EQ(readAt("vol", 4096, 8192), bytes(8192, 0x11));
  EXPECT_EQ(provider_->snapshot("vol", "s1", {}).code(), ErrorCode::kAlreadyExists);
  EXPECT_EQ(provider_->revert("vol", "nope").code(), ErrorCode::kNotFound);
}

// Clones from a volume and from a snapshot are independent volumes with the source's data.
TEST_F(FileProviderTest, CloneFromVolumeAndSnapshot) {
  ASSERT_TRUE(provider_->create("src", 1 << 20, Provisioning::kThin).isOk());
  writeAt("src", 0, bytes(4096, 0x33));
  ASSERT_TRUE(provider_->snapshot("src", "snap", {}).isOk());
  writeAt("src", 0, bytes(4096, 0x44));
  ASSERT_TRUE(provider_->clone("src", "snap", "c1", {}).isOk());
  ASSERT_TRUE(provider_->clone("src", "", "c2", {}).isOk());
  EXPECT_EQ(readAt("c1", 0, 4096), bytes(4096, 0x33));
  EXPECT_EQ(readAt("c2", 0, 4096), bytes(4096, 0x44));
  writeAt("c2", 0, bytes(4096, 0x55));
  EXPECT_EQ(readAt("src", 0, 4096), bytes(4096, 0x44));
  EXPECT_EQ(provider_->clone("src", "", "c1", {}).code(), ErrorCode::kAlreadyExists);
  EXPECT_EQ(provider_->clone("nope", "", "c3", {}).code(), ErrorCode::kNotFound);
}

// Delete is refused (kConflict) while snapshots exist, and works once they are gone.
TEST_F(FileProviderTest, DeleteRefusedWhileSnapshotsExist) {
  ASSERT_TRUE(provider_->create("v", 1 << 20, Provisioning::kThin).isOk());
  ASSERT_TRUE(provider_->snapshot("v", "a", {}).isOk());
  Status s = provider_->remove("v");
  EXPECT_EQ(s.code(), ErrorCode::kConflict);
  EXPECT_THAT(s.message(), HasSubstr("a"));
  ASSERT_TRUE(provider_->removeSnapshot("v", "a").isOk());
  ASSERT_TRUE(provider_->remove("v").isOk());
  EXPECT_EQ(provider_->remove("v").code(), ErrorCode::kNotFound);
  EXPECT_EQ(provider_->removeSnapshot("v", "a").code(), ErrorCode::kNotFound);
  EXPECT_TRUE(dirEntries().empty());
}

// Resize grows; shrinking needs force; the size is what open() sees.
TEST_F(FileProviderTest, ResizeGrowsAndShrinksOnlyWhenForced) {
  ASSERT_TRUE(provider_->create("v", 1 << 20, Provisioning::kThin).isOk());
  ASSERT_TRUE(provider_->resize("v", 2 << 20, false).isOk());
  EXPECT_EQ(provider_->info("v")->size_bytes, 2u << 20);
  EXPECT_EQ(provider_->resize("v", 1 << 20, false).code(), ErrorCode::kInvalidArgument);
  ASSERT_TRUE(provider_->resize("v", 1 << 20, true).isOk());
  auto dev = provider_->open("v");
  ASSERT_TRUE(dev.isOk());
  EXPECT_EQ((*dev)->sizeBytes(), 1u << 20);
  EXPECT_EQ(provider_->resize("nope", 1, false).code(), ErrorCode::kNotFound);
}

// Capacity reports the file system's size and free space and the sum of volume sizes.
TEST_F(FileProviderTest, CapacitySumsVirtualSizes) {
  ASSERT_TRUE(provider_->create("a", 1 << 30, Provisioning::kThin).isOk());
  ASSERT_TRUE(provider_->create("b", 2 << 20, Provisioning::kThin).isOk());
  ASSERT_TRUE(provider_->snapshot("b", "s", {}).isOk());
  auto cap = provider_->capacity();
  ASSERT_TRUE(cap.isOk());
  EXPECT_EQ(cap->provisioned_bytes, (1u << 30) + (2u << 20));
  EXPECT_GT(cap->total_bytes, 0u);
  EXPECT_LE(cap->free_bytes, cap->total_bytes);
}

// Leftover work files of a crashed operation are removed when the provider opens, and are
// never listed; foreign files are ignored.
TEST_F(FileProviderTest, LeftoverTempFilesCleanedAndForeignFilesIgnored) {
  std::filesystem::path leftover = std::filesystem::path(dir_) / ".tmp-1-2-v@s.img";
  {
    std::FILE* f = std::fopen(leftover.c_str(), "w");
    ASSERT_NE(f, nullptr);
    std::fclose(f);
  }
  {
    std::FILE* f = std::fopen((dir_ + "/notes.txt").c_str(), "w");
    ASSERT_NE(f, nullptr);
    std::fclose(f);
  }
  PoolConfig config;
  config.provider = "file";
  config.path = dir_;
  auto again = makeProvider(config);
  ASSERT_TRUE(again.isOk());
  EXPECT_FALSE(std::filesystem::exists(leftover));
  auto list = (*again)->list();
  ASSERT_TRUE(list.isOk());
  EXPECT_TRUE(list->empty());
}

// Snapshot and clone copies keep holes: the copy of a mostly empty volume stays small.
TEST_F(FileProviderTest, CopiesKeepHoles) {
  ASSERT_TRUE(provider_->create("v", 256 << 20, Provisioning::kThin).isOk());
  writeAt("v", 100 << 20, bytes(1 << 20, 0x77));
  ASSERT_TRUE(provider_->snapshot("v", "s", {}).isOk());
  auto list = provider_->list();
  ASSERT_TRUE(list.isOk());
  ASSERT_EQ(list->size(), 2u);
  EXPECT_LT((*list)[1].allocated_bytes, 4u << 20);
  EXPECT_EQ(readAt("v", 100 << 20, 1 << 20), bytes(1 << 20, 0x77));
}

}  // namespace
}  // namespace tandem::devices
