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
#include <algorithm>
#include <atomic>
#include <filesystem>
#include <mutex>
#include <thread>

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

// The two-step snapshot (snapshot_staging.h): what precopy copied is not copied again at the cut,
// only what was written after it — data, zeroes over data, and the area a grow added — and the
// published snapshot is the volume exactly at the cut, never a later write.
TEST_P(FileProviderOnFs, StagedSnapshotCopiesOnlyWhatChangedSincePrecopy) {
  const uint64_t vol_bytes = 128 * kMiB;
  ASSERT_TRUE(provider_->create("v", vol_bytes, Provisioning::kThin).isOk());
  ASSERT_NO_FATAL_FAILURE(fill("v", vol_bytes, 64, 7));
  auto stage = provider_->stageSnapshot("v", "s");
  ASSERT_TRUE(stage.isOk()) << stage.status().toString();
  ASSERT_TRUE((*stage)->precopy({}).isOk());
  EXPECT_GE((*stage)->cutStats().precopy_passes, 1u);

  // After precopy: one 4 KiB write, zeroes over a data MiB, and a write in the grown area.
  ASSERT_TRUE(provider_->resize("v", vol_bytes + 16 * kMiB, false).isOk());
  {
    auto dev = provider_->open("v");
    ASSERT_TRUE(dev.isOk()) << dev.status().toString();
    std::vector<std::byte> four(4096, std::byte{0x5a});
    ASSERT_TRUE((*dev)->write(3 * kMiB + 8192, four, false).isOk());
    (*stage)->dirtied(3 * kMiB + 8192, four.size());
    ASSERT_TRUE((*dev)->writeZeroes(vol_bytes / 4 + kMiB, kMiB, false).isOk());
    (*stage)->dirtied(vol_bytes / 4 + kMiB, kMiB);
    ASSERT_TRUE((*dev)->write(vol_bytes + kMiB, pattern(vol_bytes + kMiB, 9), false).isOk());
    (*stage)->dirtied(vol_bytes + kMiB, kMiB);
    ASSERT_TRUE((*dev)->flush().isOk());
  }
  ASSERT_TRUE((*stage)->cut().isOk());
  // 64 KiB + 1 MiB + 1 MiB (the MiBs in runs of at most 256 KiB, the default): not the 64 MiB of
  // data precopy already took.
  EXPECT_EQ((*stage)->cutStats().bytes, 64 * 1024 + 2 * kMiB);
  EXPECT_EQ((*stage)->cutStats().ranges, 1u + 2u * 4u);
  {  // a write after the cut is not in the snapshot
    auto dev = provider_->open("v");
    ASSERT_TRUE(dev.isOk());
    ASSERT_TRUE((*dev)->write(0, pattern(0, 99), false).isOk());
    (*stage)->dirtied(0, kMiB);
  }
  ASSERT_TRUE((*stage)->publish().isOk());
  stage->reset();

  ASSERT_TRUE(provider_->clone("v", "s", "c", {}).isOk());
  auto c = provider_->open("c");
  ASSERT_TRUE(c.isOk());
  EXPECT_EQ((*c)->sizeBytes(), vol_bytes + 16 * kMiB);
  std::vector<std::byte> buf(kMiB);
  ASSERT_TRUE((*c)->read(0, buf).isOk());
  EXPECT_EQ(buf, pattern(0, 7)) << "the write after the cut leaked into the snapshot";
  ASSERT_TRUE((*c)->read(3 * kMiB, buf).isOk());
  std::vector<std::byte> want = pattern(3 * kMiB, 7);
  std::fill(want.begin() + 8192, want.begin() + 8192 + 4096, std::byte{0x5a});
  EXPECT_EQ(buf, want);
  ASSERT_TRUE((*c)->read(vol_bytes / 4 + kMiB, buf).isOk());
  EXPECT_EQ(buf, std::vector<std::byte>(kMiB)) << "zeroes written over data after precopy";
  ASSERT_TRUE((*c)->read(vol_bytes / 4 + 2 * kMiB, buf).isOk());
  EXPECT_EQ(buf, pattern(vol_bytes / 4 + 2 * kMiB, 7));
  ASSERT_TRUE((*c)->read(vol_bytes + kMiB, buf).isOk());
  EXPECT_EQ(buf, pattern(vol_bytes + kMiB, 9)) << "the grown area";
  ASSERT_TRUE((*c)->read(vol_bytes - kMiB, buf).isOk());
  EXPECT_EQ(buf, std::vector<std::byte>(kMiB)) << "a hole of the volume";
}

// With a writer going on during precopy (each write followed by dirtied(), as the engine does),
// the snapshot published after the cut is byte for byte the volume as it was at the cut.
TEST_P(FileProviderOnFs, StagedSnapshotUnderConcurrentWritesIsTheVolumeAtTheCut) {
  const uint64_t vol_bytes = 64 * kMiB;
  ASSERT_TRUE(provider_->create("v", vol_bytes, Provisioning::kThin).isOk());
  ASSERT_NO_FATAL_FAILURE(fill("v", vol_bytes, 32, 1));
  auto stage = provider_->stageSnapshot("v", "s");
  ASSERT_TRUE(stage.isOk()) << stage.status().toString();
  auto dev = provider_->open("v");
  ASSERT_TRUE(dev.isOk());
  std::mutex gate;  // held by the test for the cut: the engine's write pause
  std::atomic<bool> done{false};
  std::atomic<uint64_t> writes{0};
  std::thread writer([&] {
    uint64_t x = 12345;
    std::vector<std::byte> data(128 * 1024);
    while (!done) {
      x = x * 6364136223846793005ull + 1442695040888963407ull;
      const uint64_t len = 4096 * (1 + (x >> 20) % 32);
      const uint64_t off = ((x >> 33) % (vol_bytes / 4096)) * 4096;
      const uint64_t n = std::min(len, vol_bytes - off);
      std::lock_guard hold(gate);
      if ((x >> 8) % 8 == 0) {
        if (!(*dev)->writeZeroes(off, n, false).isOk()) return;
      } else {
        std::fill(data.begin(), data.begin() + static_cast<std::ptrdiff_t>(n), std::byte(x >> 56));
        if (!(*dev)->write(off, std::span(data).first(n), false).isOk()) return;
      }
      (*stage)->dirtied(off, n);
      ++writes;
    }
  });
  ASSERT_TRUE((*stage)->precopy({}).isOk());
  std::vector<std::byte> at_cut(vol_bytes);
  {
    std::lock_guard hold(gate);
    ASSERT_TRUE((*dev)->flush().isOk());
    ASSERT_TRUE((*dev)->read(0, at_cut).isOk());
    ASSERT_TRUE((*stage)->cut().isOk());
  }
  const uint64_t at_cut_writes = writes;
  while (writes < at_cut_writes + 100) std::this_thread::yield();  // later writes must not count
  done = true;
  writer.join();
  ASSERT_TRUE((*stage)->publish().isOk());
  EXPECT_GT(at_cut_writes, 0u) << "the writer never ran during precopy";
  ASSERT_TRUE(provider_->clone("v", "s", "c", {}).isOk());
  auto c = provider_->open("c");
  ASSERT_TRUE(c.isOk());
  std::vector<std::byte> snap(vol_bytes);
  ASSERT_TRUE((*c)->read(0, snap).isOk());
  for (uint64_t off = 0; off < vol_bytes; off += 4096) {
    ASSERT_TRUE(std::equal(snap.begin() + off, snap.begin() + off + 4096, at_cut.begin() + off))
        << "the snapshot differs from the volume at the cut at offset " << off;
  }
}

// A stage given up before publish() leaves nothing in the pool; a snapshot of the same name made
// meanwhile makes publish() fail with kAlreadyExists, leaving that snapshot alone.
TEST_P(FileProviderOnFs, StagedSnapshotLeavesNothingWhenAbandonedOrBeaten) {
  ASSERT_TRUE(provider_->create("v", 8 * kMiB, Provisioning::kThin).isOk());
  ASSERT_NO_FATAL_FAILURE(fill("v", 8 * kMiB, 4, 2));
  {
    auto stage = provider_->stageSnapshot("v", "s");
    ASSERT_TRUE(stage.isOk());
    ASSERT_TRUE((*stage)->precopy({}).isOk());
  }
  auto stage = provider_->stageSnapshot("v", "s");
  ASSERT_TRUE(stage.isOk());
  ASSERT_TRUE((*stage)->cut().isOk());
  ASSERT_TRUE(provider_->snapshot("v", "s", {}).isOk());
  Status late = (*stage)->publish();
  EXPECT_EQ(late.code(), ErrorCode::kAlreadyExists) << late.toString();
  stage->reset();
  EXPECT_EQ(provider_->stageSnapshot("v", "s").status().code(), ErrorCode::kAlreadyExists);
  EXPECT_EQ(provider_->stageSnapshot("nope", "s").status().code(), ErrorCode::kNotFound);
  std::vector<std::string> files;
  for (auto& e : std::filesystem::directory_iterator(pool_)) files.push_back(e.path().filename());
  std::sort(files.begin(), files.end());
  EXPECT_EQ(files, (std::vector<std::string>{"v.img", "v@s.img"}));
}

INSTANTIATE_TEST_SUITE_P(FileSystems, FileProviderOnFs,
                         ::testing::Values(FsKind{"xfs", {"mkfs.xfs", "-q", "-f", "-m", "reflink=1"}, true},
                                           FsKind{"btrfs", {"mkfs.btrfs", "-q", "-f"}, true},
                                           FsKind{"ext4", {"mkfs.ext4", "-q", "-F"}, false}),
                         fsName);

}  // namespace
}  // namespace tandem::devices
