// FileSnapshotStaging: the file pool's two-step snapshot (tandem/devices/snapshot_staging.h).
//
// The volume file is divided into chunks (64 KiB); a bitmap marks the chunks the snapshot still
// needs. The first precopy (or the cut) marks the chunks holding data (SEEK_DATA, a window at a
// time), dirtied() marks chunks written since the stage was made. A pass takes runs of marked chunks (up to 1 MiB), clears their marks, then
// copies them into the work file: FICLONERANGE where the file system shares blocks (XFS
// reflink, btrfs), else a copy that punches holes for all-zero pieces. A write applied before a
// run's marks are cleared is in the copy (the copy reads after it); one applied after marks the
// chunk again. So after cut() — a pass run with writes held back — the work file equals the
// volume at that point.
//
// Why: FICLONE of a whole file costs time in proportion to the file's extents (about 1.4 s for
// a 1 GiB volume after 100 000 random 4 KiB writes on XFS), which was the write pause of a
// snapshot of a busy volume; re-cloning the few chunks written during the last pass costs
// microseconds each.
//
// Thread-safety: dirtied() from any thread; the rest from one thread (snapshot_staging.h).
#pragma once

#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "tandem/devices/snapshot_staging.h"

namespace tandem::devices {

class FileSnapshotStaging final : public SnapshotStaging {
 public:
  struct Options {
    bool allow_reflink = true;             // false forces the copy (tests, ext4)
    uint64_t chunk_bytes = 64 << 10;       // dirty-tracking granularity (a multiple of 4096)
    uint64_t max_run_bytes = 256 << 10;    // most bytes copied by one call (FICLONERANGE blocks
                                           // writes to the volume while it runs)
    uint64_t settle_bytes = 4ull << 20;    // precopy ends once no more than this is dirty
    unsigned max_passes = 8;               // precopy passes at most
  };
  // Renames the finished work file to its final name; fails with kAlreadyExists if it exists.
  using PublishFn = std::function<Status(const std::string& tmp, const std::string& final_path)>;

  // Opens `volume_path` and creates the work file `tmp_path` (O_EXCL) at the volume's size: cheap,
  // no scan of the volume. Errors name the path.
  static Result<std::unique_ptr<FileSnapshotStaging>> make(const std::string& volume_path, std::string tmp_path,
                                                           std::string final_path, PublishFn publish,
                                                           const Options& options);
  ~FileSnapshotStaging() override;

  void dirtied(uint64_t offset, uint64_t length) override;
  Status precopy(std::stop_token stop) override;
  Status cut() override;
  Status publish() override;
  CutStats cutStats() const override { return cut_stats_; }

  // Bytes marked and not copied yet (for tests).
  uint64_t dirtyBytes() const;

 private:
  FileSnapshotStaging(int src, int tmp, std::string tmp_path, std::string final_path, PublishFn publish,
                      const Options& options);

  // Marks chunks [first, last] (caller holds mu_).
  void markLocked(uint64_t first, uint64_t last);
  // Takes the next run of marked chunks at or after `from` and clears it: [first, end) chunks.
  bool takeRun(uint64_t from, uint64_t& first, uint64_t& end);
  // One pass over what is marked; returns early (ok) when `stop` is requested.
  Status pass(std::stop_token stop, CutStats* stats);
  // Marks the chunks of the volume holding data (the first precopy, or the cut without one; not
  // make(), which a replica calls on its apply path and which must stay cheap).
  Status markData();
  // Grows the work file to the volume's current size.
  Status followSize();
  Status copyRange(uint64_t offset, uint64_t length);
  Status copyRangeByReading(uint64_t offset, uint64_t length);

  int src_;
  int tmp_;
  std::string tmp_path_;
  std::string final_path_;
  PublishFn publish_;
  Options options_;
  bool reflink_;
  bool published_ = false;
  bool marked_data_ = false;
  uint64_t size_ = 0;  // the work file's size
  CutStats cut_stats_;
  std::vector<std::byte> buf_;

  mutable std::mutex mu_;
  std::vector<uint64_t> marks_;  // one bit per chunk
  uint64_t marked_ = 0;          // chunks marked
};

}  // namespace tandem::devices
