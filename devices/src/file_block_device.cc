#include "tandem/devices/file_block_device.h"

#include <fcntl.h>
#include <linux/falloc.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <vector>

namespace tandem::devices {

Result<std::unique_ptr<FileBlockDevice>> FileBlockDevice::open(const std::string& path, bool direct) {
  int flags = O_RDWR | O_CLOEXEC;
  if (direct) flags |= O_DIRECT;
  int fd = ::open(path.c_str(), flags);
  if (fd < 0) return Status::fromErrno(errno, "open " + path);
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    Status s = Status::fromErrno(errno, "fstat " + path);
    ::close(fd);
    return s;
  }
  uint64_t size = static_cast<uint64_t>(st.st_size);
  if (S_ISBLK(st.st_mode)) {
    off_t end = ::lseek(fd, 0, SEEK_END);
    if (end < 0) {
      Status s = Status::fromErrno(errno, "lseek " + path);
      ::close(fd);
      return s;
    }
    size = static_cast<uint64_t>(end);
  }
  return std::unique_ptr<FileBlockDevice>(new FileBlockDevice(fd, path, size));
}

FileBlockDevice::~FileBlockDevice() { ::close(fd_); }

Status FileBlockDevice::refreshSize() {
  // SEEK_END gives the size of regular files and block devices alike (fstat reports 0 for the
  // latter). The file offset is unused: every I/O here is positional.
  off_t end = ::lseek(fd_, 0, SEEK_END);
  if (end < 0) return Status::fromErrno(errno, "lseek " + path_);
  uint64_t now = size_.load();
  while (static_cast<uint64_t>(end) > now && !size_.compare_exchange_weak(now, static_cast<uint64_t>(end))) {
  }
  return Status::ok();
}

Status FileBlockDevice::read(uint64_t offset, std::span<std::byte> out) {
  RETURN_IF_ERROR(checkRange(offset, out.size(), size_.load()));
  size_t done = 0;
  while (done < out.size()) {
    ssize_t n = ::pread(fd_, out.data() + done, out.size() - done, static_cast<off_t>(offset + done));
    if (n < 0) {
      if (errno == EINTR) continue;
      return Status::fromErrno(errno, "pread " + path_);
    }
    if (n == 0) {  // past EOF of a file shorter than expected: reads as zeroes
      std::fill(out.begin() + static_cast<std::ptrdiff_t>(done), out.end(), std::byte{0});
      break;
    }
    done += static_cast<size_t>(n);
  }
  return Status::ok();
}

Status FileBlockDevice::write(uint64_t offset, std::span<const std::byte> data, bool fua) {
  RETURN_IF_ERROR(checkRange(offset, data.size(), size_.load()));
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = ::pwrite(fd_, data.data() + done, data.size() - done, static_cast<off_t>(offset + done));
    if (n < 0) {
      if (errno == EINTR) continue;
      return Status::fromErrno(errno, "pwrite " + path_);
    }
    done += static_cast<size_t>(n);
  }
  return fua ? flush() : Status::ok();
}

Status FileBlockDevice::flush() {
  if (::fdatasync(fd_) != 0) return Status::fromErrno(errno, "fdatasync " + path_);
  return Status::ok();
}

Status FileBlockDevice::trim(uint64_t offset, uint64_t length, bool fua) {
  RETURN_IF_ERROR(checkRange(offset, length, size_.load()));
  if (length == 0) return Status::ok();
  if (::fallocate(fd_, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, static_cast<off_t>(offset),
                  static_cast<off_t>(length)) != 0) {
    if (errno == EOPNOTSUPP) return Status::ok();  // trim is advisory
    return Status::fromErrno(errno, "punch hole " + path_);
  }
  return fua ? flush() : Status::ok();
}

Status FileBlockDevice::writeZeroes(uint64_t offset, uint64_t length, bool fua) {
  RETURN_IF_ERROR(checkRange(offset, length, size_.load()));
  if (length == 0) return Status::ok();
  if (::fallocate(fd_, FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE, static_cast<off_t>(offset),
                  static_cast<off_t>(length)) == 0 ||
      ::fallocate(fd_, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, static_cast<off_t>(offset),
                  static_cast<off_t>(length)) == 0) {
    return fua ? flush() : Status::ok();
  }
  if (errno != EOPNOTSUPP) return Status::fromErrno(errno, "zero range " + path_);
  std::vector<std::byte> zeroes(std::min<uint64_t>(length, 1 << 20));
  for (uint64_t done = 0; done < length;) {
    uint64_t n = std::min<uint64_t>(zeroes.size(), length - done);
    RETURN_IF_ERROR(write(offset + done, std::span(zeroes.data(), n), false));
    done += n;
  }
  return fua ? flush() : Status::ok();
}

Result<std::vector<Extent>> FileBlockDevice::extents(uint64_t offset, uint64_t length) {
  RETURN_IF_ERROR(checkRange(offset, length, sizeBytes()));
  std::vector<Extent> out;
  auto add = [&](uint64_t n, bool hole) {
    if (n == 0) return;
    if (!out.empty() && out.back().hole == hole) {
      out.back().length += n;
    } else {
      out.push_back(Extent{n, hole});
    }
  };
  const uint64_t end = offset + length;
  uint64_t at = offset;
  while (at < end) {
    off_t data = ::lseek(fd_, static_cast<off_t>(at), SEEK_DATA);
    if (data < 0) {
      if (errno == ENXIO) {  // no data from `at` to the end of the file
        add(end - at, true);
        break;
      }
      if (errno == EINVAL || errno == EOPNOTSUPP) {  // no hole support: all data
        add(end - at, false);
        break;
      }
      return Status::fromErrno(errno, "lseek(SEEK_DATA) " + path_);
    }
    uint64_t data_at = std::min<uint64_t>(static_cast<uint64_t>(data), end);
    add(data_at - at, true);
    if (data_at >= end) break;
    off_t hole = ::lseek(fd_, static_cast<off_t>(data_at), SEEK_HOLE);
    if (hole < 0) return Status::fromErrno(errno, "lseek(SEEK_HOLE) " + path_);
    uint64_t hole_at = std::min<uint64_t>(std::max<uint64_t>(static_cast<uint64_t>(hole), data_at + 1), end);
    add(hole_at - data_at, false);
    at = hole_at;
  }
  return out;
}

}  // namespace tandem::devices
