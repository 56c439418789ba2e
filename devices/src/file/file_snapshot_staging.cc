#include "file/file_snapshot_staging.h"

#include <fcntl.h>
#include <linux/falloc.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cerrno>

namespace tandem::devices {
namespace {

bool isReflinkUnsupported(int err) {
  return err == EOPNOTSUPP || err == EXDEV || err == EINVAL || err == ENOTTY || err == ENOSYS;
}

bool allZero(const std::byte* p, size_t n) {
  return std::all_of(p, p + n, [](std::byte b) { return b == std::byte{0}; });
}

}  // namespace

Result<std::unique_ptr<FileSnapshotStaging>> FileSnapshotStaging::make(const std::string& volume_path,
                                                                       std::string tmp_path, std::string final_path,
                                                                       PublishFn publish, const Options& options) {
  if (options.chunk_bytes == 0 || options.chunk_bytes % 4096 != 0 || options.max_run_bytes < options.chunk_bytes) {
    return Status(ErrorCode::kInvalidArgument, "snapshot staging: chunk_bytes must be a positive multiple of 4096 "
                                               "and max_run_bytes at least one chunk");
  }
  int src = ::open(volume_path.c_str(), O_RDONLY | O_CLOEXEC);
  if (src < 0) return Status::fromErrno(errno, "open " + volume_path);
  struct stat st {};
  if (::fstat(src, &st) != 0) {
    Status s = Status::fromErrno(errno, "fstat " + volume_path);
    ::close(src);
    return s;
  }
  int tmp = ::open(tmp_path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (tmp < 0) {
    Status s = Status::fromErrno(errno, "create " + tmp_path);
    ::close(src);
    return s;
  }
  // From here the object owns both descriptors and removes the work file unless published.
  std::unique_ptr<FileSnapshotStaging> stage(
      new FileSnapshotStaging(src, tmp, std::move(tmp_path), std::move(final_path), std::move(publish), options));
  RETURN_IF_ERROR(stage->followSize());
  return stage;
}

FileSnapshotStaging::FileSnapshotStaging(int src, int tmp, std::string tmp_path, std::string final_path,
                                         PublishFn publish, const Options& options)
    : src_(src),
      tmp_(tmp),
      tmp_path_(std::move(tmp_path)),
      final_path_(std::move(final_path)),
      publish_(std::move(publish)),
      options_(options),
      reflink_(options.allow_reflink) {}

FileSnapshotStaging::~FileSnapshotStaging() {
  ::close(src_);
  ::close(tmp_);
  if (!published_) ::unlink(tmp_path_.c_str());
}

void FileSnapshotStaging::dirtied(uint64_t offset, uint64_t length) {
  if (length == 0) return;
  std::lock_guard lock(mu_);
  markLocked(offset / options_.chunk_bytes, (offset + length - 1) / options_.chunk_bytes);
}

void FileSnapshotStaging::markLocked(uint64_t first, uint64_t last) {
  if (marks_.size() <= last / 64) marks_.resize(last / 64 + 1, 0);
  for (uint64_t c = first; c <= last; ++c) {
    uint64_t& word = marks_[c / 64];
    const uint64_t bit = uint64_t{1} << (c % 64);
    if ((word & bit) == 0) {
      word |= bit;
      ++marked_;
    }
  }
}

uint64_t FileSnapshotStaging::dirtyBytes() const {
  std::lock_guard lock(mu_);
  return marked_ * options_.chunk_bytes;
}

bool FileSnapshotStaging::takeRun(uint64_t from, uint64_t& first, uint64_t& end) {
  std::lock_guard lock(mu_);
  if (marked_ == 0) return false;
  uint64_t c = from;
  // The first marked chunk at or after `from`, a word at a time.
  for (;;) {
    const uint64_t w = c / 64;
    if (w >= marks_.size()) return false;
    const uint64_t bits = marks_[w] & (~uint64_t{0} << (c % 64));
    if (bits != 0) {
      c = w * 64 + static_cast<uint64_t>(std::countr_zero(bits));
      break;
    }
    c = (w + 1) * 64;
  }
  const uint64_t max_chunks = options_.max_run_bytes / options_.chunk_bytes;
  first = c;
  end = c;
  while (end - first < max_chunks && end / 64 < marks_.size() && (marks_[end / 64] >> (end % 64)) & 1) {
    marks_[end / 64] &= ~(uint64_t{1} << (end % 64));
    --marked_;
    ++end;
  }
  return true;
}

Status FileSnapshotStaging::followSize() {
  struct stat st {};
  if (::fstat(src_, &st) != 0) return Status::fromErrno(errno, "fstat of the volume of " + final_path_);
  const uint64_t size = static_cast<uint64_t>(st.st_size);
  if (size == size_) return Status::ok();
  if (::ftruncate(tmp_, static_cast<off_t>(size)) != 0) return Status::fromErrno(errno, "truncate " + tmp_path_);
  size_ = size;
  return Status::ok();
}

Status FileSnapshotStaging::pass(std::stop_token stop, CutStats* stats) {
  uint64_t from = 0, first = 0, end = 0;
  while (!stop.stop_requested() && takeRun(from, first, end)) {
    const uint64_t chunk = options_.chunk_bytes;
    // A run past the known size was written after the volume grew.
    Status st = end * chunk > size_ ? followSize() : Status::ok();
    const uint64_t offset = first * chunk;
    const uint64_t stop_at = std::min(end * chunk, size_);
    if (st.isOk() && stop_at > offset) st = copyRange(offset, stop_at - offset);
    if (!st.isOk()) {
      std::lock_guard lock(mu_);
      markLocked(first, end - 1);  // still needed: the stage stays conservative
      return st;
    }
    if (stats && stop_at > offset) {
      stats->bytes += stop_at - offset;
      stats->ranges += 1;
    }
    from = end;
  }
  return Status::ok();
}

Status FileSnapshotStaging::copyRange(uint64_t offset, uint64_t length) {
  if (reflink_) {
    struct file_clone_range range {};
    range.src_fd = src_;
    range.src_offset = offset;
    range.src_length = length;  // never 0 (that would mean "to the end")
    range.dest_offset = offset;
    // Written back first, without the file's I/O lock: FICLONERANGE writes back the range itself
    // while holding it, so writes to the volume would wait for that writeback.
    (void)::sync_file_range(src_, static_cast<off_t>(offset), static_cast<off_t>(length),
                            SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE | SYNC_FILE_RANGE_WAIT_AFTER);
    if (::ioctl(tmp_, FICLONERANGE, &range) == 0) return Status::ok();
    if (!isReflinkUnsupported(errno)) return Status::fromErrno(errno, "reflink a range into " + tmp_path_);
    reflink_ = false;  // this file system copies
  }
  return copyRangeByReading(offset, length);
}

Status FileSnapshotStaging::copyRangeByReading(uint64_t offset, uint64_t length) {
  const size_t piece = static_cast<size_t>(options_.chunk_bytes);
  if (buf_.size() < piece) buf_.resize(piece);
  for (uint64_t done = 0; done < length;) {
    const size_t n = static_cast<size_t>(std::min<uint64_t>(piece, length - done));
    const uint64_t at = offset + done;
    for (size_t got = 0; got < n;) {
      ssize_t r = ::pread(src_, buf_.data() + got, n - got, static_cast<off_t>(at + got));
      if (r < 0 && errno == EINTR) continue;
      if (r < 0) return Status::fromErrno(errno, "read the volume of " + final_path_);
      if (r == 0) {  // the volume shrank under us: what is gone reads as zeros
        std::fill(buf_.begin() + static_cast<std::ptrdiff_t>(got), buf_.begin() + static_cast<std::ptrdiff_t>(n),
                  std::byte{0});
        break;
      }
      got += static_cast<size_t>(r);
    }
    bool written = false;
    if (allZero(buf_.data(), n)) {
      // The work file may hold older data here from an earlier pass: make it a hole.
      written = ::fallocate(tmp_, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, static_cast<off_t>(at),
                            static_cast<off_t>(n)) == 0;
      if (!written && errno != EOPNOTSUPP) return Status::fromErrno(errno, "punch a hole in " + tmp_path_);
    }
    for (size_t put = 0; !written && put < n;) {
      ssize_t w = ::pwrite(tmp_, buf_.data() + put, n - put, static_cast<off_t>(at + put));
      if (w < 0 && errno == EINTR) continue;
      if (w < 0) return Status::fromErrno(errno, "write " + tmp_path_);
      put += static_cast<size_t>(w);
      written = put == n;
    }
    done += n;
  }
  return Status::ok();
}

Status FileSnapshotStaging::markData() {
  // Every chunk holding data is needed; holes stay holes in the new file. Looked up a window at
  // a time (SEEK_DATA from where the last window ended, never SEEK_HOLE): SEEK_HOLE walks every
  // extent up to the next hole, holding the inode lock that writes to the volume need, and a
  // volume after random writes has ~100 000 extents. A window marks its holes too; copying a
  // hole costs little (a clone of nothing, or a read of zeros).
  const uint64_t window = std::max(options_.max_run_bytes, options_.chunk_bytes);
  for (uint64_t pos = 0; pos < size_;) {
    off_t data = ::lseek(src_, static_cast<off_t>(pos), SEEK_DATA);
    if (data < 0) {
      if (errno == ENXIO) break;  // no data after pos
      return Status::fromErrno(errno, "seek data in the volume of " + final_path_);
    }
    const uint64_t start = static_cast<uint64_t>(data);
    if (start >= size_) break;
    const uint64_t end = std::min(size_, (start / window + 1) * window);
    dirtied(start, end - start);
    pos = end;
  }
  marked_data_ = true;
  return Status::ok();
}

Status FileSnapshotStaging::precopy(std::stop_token stop) {
  if (!marked_data_) RETURN_IF_ERROR(markData());
  for (unsigned p = 0; p < options_.max_passes; ++p) {
    const uint64_t before = dirtyBytes();
    if (before <= options_.settle_bytes) break;
    RETURN_IF_ERROR(pass(stop, nullptr));
    cut_stats_.precopy_passes = p + 1;
    if (stop.stop_requested()) break;
    // Not converging: the writer dirties about as fast as a pass copies; the cut does the rest.
    if (p > 0 && dirtyBytes() * 2 > before) break;
  }
  return Status::ok();
}

Status FileSnapshotStaging::cut() {
  RETURN_IF_ERROR(followSize());
  if (!marked_data_) RETURN_IF_ERROR(markData());
  const unsigned passes = cut_stats_.precopy_passes;
  cut_stats_ = CutStats{.precopy_passes = passes};
  return pass({}, &cut_stats_);
}

Status FileSnapshotStaging::publish() {
  if (::fdatasync(tmp_) != 0) return Status::fromErrno(errno, "fdatasync " + tmp_path_);
  RETURN_IF_ERROR(publish_(tmp_path_, final_path_));
  published_ = true;
  return Status::ok();
}

}  // namespace tandem::devices
