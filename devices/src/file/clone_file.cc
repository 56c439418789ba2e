#include "file/clone_file.h"

#include <fcntl.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <vector>

namespace tandem::devices {
namespace {

class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  int get() const { return fd_; }

 private:
  int fd_;
};

bool isReflinkUnsupported(int err) {
  return err == EOPNOTSUPP || err == EXDEV || err == EINVAL || err == ENOTTY || err == ENOSYS;
}

bool allZero(const std::byte* p, size_t n) {
  return std::all_of(p, p + n, [](std::byte b) { return b == std::byte{0}; });
}

Status preadFull(int fd, std::byte* buf, size_t n, uint64_t off, const std::string& path) {
  size_t done = 0;
  while (done < n) {
    ssize_t r = ::pread(fd, buf + done, n - done, static_cast<off_t>(off + done));
    if (r < 0) {
      if (errno == EINTR) continue;
      return Status::fromErrno(errno, "pread " + path);
    }
    if (r == 0) {  // the source shrank under us: the rest reads as zeroes
      std::fill(buf + done, buf + n, std::byte{0});
      break;
    }
    done += static_cast<size_t>(r);
  }
  return Status::ok();
}

Status pwriteFull(int fd, const std::byte* buf, size_t n, uint64_t off, const std::string& path) {
  size_t done = 0;
  while (done < n) {
    ssize_t r = ::pwrite(fd, buf + done, n - done, static_cast<off_t>(off + done));
    if (r < 0) {
      if (errno == EINTR) continue;
      return Status::fromErrno(errno, "pwrite " + path);
    }
    done += static_cast<size_t>(r);
  }
  return Status::ok();
}

// Copies [begin, end) of src to dst, skipping all-zero chunks.
Status copyRange(int src, int dst, uint64_t begin, uint64_t end, std::vector<std::byte>& buf,
                 const std::string& src_path, const std::string& dst_path) {
  for (uint64_t off = begin; off < end;) {
    size_t n = static_cast<size_t>(std::min<uint64_t>(buf.size(), end - off));
    RETURN_IF_ERROR(preadFull(src, buf.data(), n, off, src_path));
    if (!allZero(buf.data(), n)) RETURN_IF_ERROR(pwriteFull(dst, buf.data(), n, off, dst_path));
    off += n;
  }
  return Status::ok();
}

Status sparseCopy(int src, int dst, uint64_t size, const ProgressFn& progress, uint64_t chunk,
                  const std::string& src_path, const std::string& dst_path) {
  if (::ftruncate(dst, static_cast<off_t>(size)) != 0) {
    return Status::fromErrno(errno, "ftruncate " + dst_path);
  }
  std::vector<std::byte> buf(std::max<uint64_t>(chunk, 4096));
  uint64_t pos = 0;
  while (pos < size) {
    off_t data = ::lseek(src, static_cast<off_t>(pos), SEEK_DATA);
    if (data < 0) {
      if (errno == ENXIO) break;  // only a hole remains
      if (errno != EINVAL && errno != EOPNOTSUPP) return Status::fromErrno(errno, "lseek " + src_path);
      // No SEEK_DATA support: everything is data (zero chunks are still skipped).
      RETURN_IF_ERROR(copyRange(src, dst, pos, size, buf, src_path, dst_path));
      pos = size;
      break;
    }
    off_t hole = ::lseek(src, data, SEEK_HOLE);
    if (hole < 0) return Status::fromErrno(errno, "lseek " + src_path);
    uint64_t end = std::min<uint64_t>(static_cast<uint64_t>(hole), size);
    // Copy the extent chunk by chunk so progress is reported during long extents.
    for (uint64_t off = static_cast<uint64_t>(data); off < end;) {
      uint64_t step = std::min<uint64_t>(end - off, 64ull << 20);
      RETURN_IF_ERROR(copyRange(src, dst, off, off + step, buf, src_path, dst_path));
      off += step;
      if (progress) progress(off, size);
    }
    pos = end;
  }
  if (progress) progress(size, size);
  return Status::ok();
}

}  // namespace

Result<CloneMethod> cloneFile(const std::string& src_path, const std::string& dst_path,
                              const ProgressFn& progress, const CloneOptions& options) {
  Fd src(::open(src_path.c_str(), O_RDONLY | O_CLOEXEC));
  if (src.get() < 0) return Status::fromErrno(errno, "open " + src_path);
  struct stat st {};
  if (::fstat(src.get(), &st) != 0) return Status::fromErrno(errno, "fstat " + src_path);
  if (!S_ISREG(st.st_mode)) {
    return Status(ErrorCode::kInvalidArgument, src_path + " is not a regular file");
  }
  const uint64_t size = static_cast<uint64_t>(st.st_size);
  Fd dst(::open(dst_path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
  if (dst.get() < 0) return Status::fromErrno(errno, "create " + dst_path);

  auto fail = [&](Status s) -> Result<CloneMethod> {
    ::unlink(dst_path.c_str());
    return s;
  };

  CloneMethod method = CloneMethod::kSparseCopy;
  if (options.allow_reflink && ::ioctl(dst.get(), FICLONE, src.get()) == 0) {
    method = CloneMethod::kReflink;
    if (progress) progress(size, size);
  } else {
    if (options.allow_reflink && !isReflinkUnsupported(errno)) {
      return fail(Status::fromErrno(errno, "reflink " + src_path + " to " + dst_path));
    }
    Status s = sparseCopy(src.get(), dst.get(), size, progress, options.chunk_bytes, src_path, dst_path);
    if (!s.isOk()) return fail(s);
  }
  if (::fdatasync(dst.get()) != 0) return fail(Status::fromErrno(errno, "fdatasync " + dst_path));
  return method;
}

bool supportsReflink(const std::string& dir) {
  static std::atomic<uint64_t> counter{0};
  std::string base =
      dir + "/.tmp-reflink-probe-" + std::to_string(::getpid()) + "-" + std::to_string(counter.fetch_add(1));
  std::string a = base + "-a", b = base + "-b";
  bool ok = false;
  {
    Fd fa(::open(a.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
    Fd fb(::open(b.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
    if (fa.get() >= 0 && fb.get() >= 0) ok = ::ioctl(fb.get(), FICLONE, fa.get()) == 0;
  }
  ::unlink(a.c_str());
  ::unlink(b.c_str());
  return ok;
}

}  // namespace tandem::devices
