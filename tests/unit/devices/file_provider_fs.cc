// The file provider on real file systems made for the test on loop devices: XFS with reflink
// and btrfs (snapshots share blocks: free space stays flat) and ext4 (no reflink: the sparse
// copy keeps holes). Needs root and loop devices; skips with the reason otherwise.
// Every test leaves no mount and no loop device behind, pass or fail (TearDown).
#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>

#include "tandem/devices/command_runner.h"
#include "tandem/devices/provider_factory.h"

namespace tandem::devices {
namespace {

using ::testing::HasSubstr;
using namespace std::chrono_literals;

constexpr uint64_t kMiB = 1 << 20;

struct FsKind {
  std::string name;
  std::vector<std::string> mkfs;  // the image path is appended
  bool reflink;
};

std::string fsName(const ::testing::TestParamInfo<FsKind>& info) { return info.param.name; }

// A 1 MiB block whose bytes depend on its offset, so misplaced data is caught.
std::vector<std::byte> pattern(uint64_t offset, uint8_t seed) {
  std::vector<std::byte> b(kMiB);
  for (size_t i = 0; i < b.size(); i += 8) {
    uint64_t v = (offset + i) * 0x9E3779B97F4A7C15ull ^ seed;
    std::memcpy(&b[i], &v, 8);
  }
  return b;
}

class FileProviderOnFs : public ::testing::TestWithParam<FsKind> {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root to mount file systems on loop devices";
    if (::access("/dev/loop-control", F_OK) != 0)
      GTEST_SKIP() << "no /dev/loop-control: loop devices unavailable";
    const FsKind& fs = GetParam();
    char tmpl[] = "/var/tmp/tandem-fsprov-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    image_ = dir_ + "/fs.img";
    mnt_ = dir_ + "/mnt";
    std::filesystem::create_directory(mnt_);
    ASSERT_TRUE(sh({"truncate", "-s", std::to_string(kImageBytes), image_}));
    std::vector<std::string> mkfs = fs.mkfs;
    mkfs.push_back(image_);
    auto made = runner_.run(mkfs);
    if (!made.isOk() || made->exit_code != 0) {
      GTEST_SKIP() << "cannot make " << fs.name << ": "
                   << (made.isOk() ? made->stderr_text : made.status().toString());
    }
    auto loop = runner_.run({"losetup", "-f", "--show", image_});
    if (!loop.isOk() || loop->exit_code != 0) {
      GTEST_SKIP() << "no loop device: " << (loop.isOk() ? loop->stderr_text : loop.status().toString());
    }
    loop_ = loop->stdout_text.substr(0, loop->stdout_text.find('\n'));
    auto mounted = runner_.run({"mount", loop_, mnt_});
    if (!mounted.isOk() || mounted->exit_code != 0) {
      GTEST_SKIP() << "cannot mount " << fs.name << ": "
                   << (mounted.isOk() ? mounted->stderr_text : mounted.status().toString());
    }
    mounted_ = true;
    pool_ = mnt_ + "/pool";
    std::filesystem::create_directory(pool_);
    PoolConfig config;
    config.provider = "file";
    config.path = pool_;
    auto p = makeProvider(config);
    ASSERT_TRUE(p.isOk()) << p.status().toString();
    provider_ = std::move(p).value();
  }

  void TearDown() override {
    provider_.reset();
    if (mounted_ && !sh({"umount", mnt_})) {
      ADD_FAILURE() << "umount " << mnt_ << " failed; detaching lazily";
      sh({"umount", "-l", mnt_});
    }
    if (!loop_.empty() && !sh({"losetup", "-d", loop_})) ADD_FAILURE() << "losetup -d " << loop_ << " failed";
    if (!dir_.empty()) std::filesystem::remove_all(dir_);
  }

  bool sh(const std::vector<std::string>& argv) {
    auto out = runner_.run(argv);
    return out.isOk() && out->exit_code == 0;
  }
  void syncFs() {
    int fd = ::open(pool_.c_str(), O_RDONLY | O_DIRECTORY);
    ASSERT_GE(fd, 0);
    ::syncfs(fd);
    ::close(fd);
  }
  uint64_t freeBytes() {
    syncFs();
    auto cap = provider_->capacity();
    EXPECT_TRUE(cap.isOk()) << cap.status().toString();
    return cap.isOk() ? cap->free_bytes : 0;
  }
  // Writes `mib` MiB of patterned data in 4 runs spread over the volume (holes in between).
  void fill(const std::string& vol, uint64_t vol_bytes, uint64_t mib, uint8_t seed) {
    auto dev = provider_->open(vol);
    ASSERT_TRUE(dev.isOk()) << dev.status().toString();
    for (uint64_t run = 0; run < 4; ++run) {
      uint64_t base = run * (vol_bytes / 4);
      for (uint64_t i = 0; i < mib / 4; ++i) {
        uint64_t off = base + i * kMiB;
        ASSERT_TRUE((*dev)->write(off, pattern(off, seed), false).isOk());
      }
    }
    ASSERT_TRUE((*dev)->flush().isOk());
  }
  // True if every written run of `vol` (or of the file at `path`) holds the pattern of `seed`.
  ::testing::AssertionResult holds(const std::string& vol, uint64_t vol_bytes, uint64_t mib, uint8_t seed) {
    auto dev = provider_->open(vol);
    if (!dev.isOk()) return ::testing::AssertionFailure() << dev.status().toString();
    std::vector<std::byte> buf(kMiB);
    for (uint64_t run = 0; run < 4; ++run) {
      uint64_t base = run * (vol_bytes / 4);
      for (uint64_t i = 0; i < mib / 4; ++i) {
        uint64_t off = base + i * kMiB;
        if (!(*dev)->read(off, buf).isOk()) return ::testing::AssertionFailure() << "read at " << off;
        if (buf != pattern(off, seed)) return ::testing::AssertionFailure() << vol << " differs at " << off;
      }
    }
    return ::testing::AssertionSuccess();
  }
  const VolumeInfo* find(const std::vector<VolumeInfo>& list, const std::string& name, bool snap) {
    for (const auto& v : list) {
      if (v.name == name && v.is_snapshot == snap) return &v;
    }
    return nullptr;
  }

  static constexpr uint64_t kImageBytes = 512 * kMiB;
  SubprocessCommandRunner runner_{std::chrono::seconds(120)};
  std::string dir_, image_, mnt_, loop_, pool_;
  bool mounted_ = false;
  std::unique_ptr<StorageProvider> provider_;
};

// A snapshot of a volume holding 64 MiB shares blocks on XFS/btrfs (free space flat within
// 4 MiB) and, on ext4, is a sparse copy whose allocation matches the original's, far below
// the virtual size; either way the snapshot's data equals the volume's.
TEST_P(FileProviderOnFs, SnapshotSharesBlocksOrKeepsHoles) {
  const uint64_t vol_bytes = 256 * kMiB;
  EXPECT_EQ(provider_->capabilities().reflink, GetParam().reflink);
  ASSERT_TRUE(provider_->create("vol", vol_bytes, Provisioning::kThin).isOk());
  ASSERT_NO_FATAL_FAILURE(fill("vol", vol_bytes, 64, 1));
  const uint64_t before = freeBytes();
  std::vector<std::pair<uint64_t, uint64_t>> progress;
  Status s = provider_->snapshot("vol", "s1", [&](uint64_t d, uint64_t t) { progress.emplace_back(d, t); });
  ASSERT_TRUE(s.isOk()) << s.toString();
  const uint64_t after = freeBytes();
  ASSERT_FALSE(progress.empty());
  EXPECT_EQ(progress.back(), std::make_pair(vol_bytes, vol_bytes));

  auto list = provider_->list();
  ASSERT_TRUE(list.isOk());
  const VolumeInfo* vol = find(*list, "vol", false);
  const VolumeInfo* snap = find(*list, "s1", true);
  ASSERT_NE(vol, nullptr);
  ASSERT_NE(snap, nullptr);
  EXPECT_EQ(snap->size_bytes, vol_bytes);
  int64_t used = static_cast<int64_t>(before) - static_cast<int64_t>(after);
  std::printf(
      "[ %-8s ] snapshot of 64 MiB used %.1f MiB of free space; allocated vol %.1f MiB, snapshot %.1f MiB\n",
      GetParam().name.c_str(), static_cast<double>(used) / kMiB,
      static_cast<double>(vol->allocated_bytes) / kMiB, static_cast<double>(snap->allocated_bytes) / kMiB);
  if (GetParam().reflink) {
    EXPECT_LT(std::llabs(used), static_cast<long long>(4 * kMiB)) << "reflink snapshot allocated space";
  } else {
    EXPECT_GE(progress.size(), 2u) << "a copy reports progress as it goes";
    EXPECT_NEAR(static_cast<double>(snap->allocated_bytes), static_cast<double>(vol->allocated_bytes),
                2.0 * kMiB);
    EXPECT_LT(snap->allocated_bytes, vol_bytes / 2) << "the copy filled holes";
    EXPECT_GE(used, static_cast<int64_t>(60 * kMiB));
  }
  ASSERT_NO_FATAL_FAILURE(fill("vol", vol_bytes, 64, 2));  // overwrite the volume
  auto clone = provider_->clone("vol", "s1", "copy", {});
  ASSERT_TRUE(clone.isOk()) << clone.toString();
  EXPECT_TRUE(holds("copy", vol_bytes, 64, 1));
  EXPECT_TRUE(holds("vol", vol_bytes, 64, 2));
}

// Revert restores the snapshot's data, clones are independent, and delete is refused while
// snapshots exist.
TEST_P(FileProviderOnFs, RevertCloneAndDeleteWithSnapshots) {
  const uint64_t vol_bytes = 64 * kMiB;
  ASSERT_TRUE(provider_->create("v", vol_bytes, Provisioning::kThin).isOk());
  ASSERT_NO_FATAL_FAILURE(fill("v", vol_bytes, 8, 7));
  ASSERT_TRUE(provider_->snapshot("v", "base", {}).isOk());
  ASSERT_NO_FATAL_FAILURE(fill("v", vol_bytes, 8, 8));
  ASSERT_TRUE(provider_->clone("v", "", "now", {}).isOk());
  ASSERT_TRUE(provider_->revert("v", "base").isOk());
  EXPECT_TRUE(holds("v", vol_bytes, 8, 7));
  EXPECT_TRUE(holds("now", vol_bytes, 8, 8));
  Status s = provider_->remove("v");
  EXPECT_EQ(s.code(), ErrorCode::kConflict) << s.toString();
  ASSERT_TRUE(provider_->removeSnapshot("v", "base").isOk());
  ASSERT_TRUE(provider_->remove("v").isOk());
  EXPECT_TRUE(holds("now", vol_bytes, 8, 8));
}

// A full file system gives kNoSpace naming the path, and leaves no partial volume or work file.
TEST_P(FileProviderOnFs, NoSpaceLeavesNoPartialVolume) {
  Status s = provider_->create("huge", 2 * kImageBytes, Provisioning::kThick);
  EXPECT_EQ(s.code(), ErrorCode::kNoSpace) << s.toString();
  EXPECT_THAT(s.message(), HasSubstr(pool_ + "/huge.img"));
  if (!GetParam().reflink) {
    // A copy that does not fit: a volume holding more than half the file system.
    const uint64_t vol_bytes = 320 * kMiB;
    ASSERT_TRUE(provider_->create("big", vol_bytes, Provisioning::kThin).isOk());
    ASSERT_NO_FATAL_FAILURE(fill("big", vol_bytes, 288, 3));
    Status snap = provider_->snapshot("big", "s", {});
    EXPECT_EQ(snap.code(), ErrorCode::kNoSpace) << snap.toString();
    EXPECT_THAT(snap.message(), HasSubstr(pool_ + "/big@s.img"));
    ASSERT_TRUE(provider_->remove("big").isOk());
  }
  std::vector<std::string> left;
  for (auto& e : std::filesystem::directory_iterator(pool_)) left.push_back(e.path().filename());
  EXPECT_TRUE(left.empty()) << "left behind: " << ::testing::PrintToString(left);
}

INSTANTIATE_TEST_SUITE_P(FileSystems, FileProviderOnFs,
                         ::testing::Values(FsKind{"xfs", {"mkfs.xfs", "-q", "-f", "-m", "reflink=1"}, true},
                                           FsKind{"btrfs", {"mkfs.btrfs", "-q", "-f"}, true},
                                           FsKind{"ext4", {"mkfs.ext4", "-q", "-F"}, false}),
                         fsName);

}  // namespace
}  // namespace tandem::devices
