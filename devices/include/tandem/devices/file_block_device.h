// FileBlockDevice: a BlockDevice on a regular file (or a block device node) via pread/pwrite.
// Thread-safe: positional I/O only, no shared file offset.
// flush() is fdatasync(); fua writes are followed by fdatasync() of the file.
// trim() punches a hole (FALLOC_FL_PUNCH_HOLE); writeZeroes() uses FALLOC_FL_ZERO_RANGE and
// falls back to punching a hole, then to writing zero buffers. extents() asks the file system.
#pragma once

#include <atomic>
#include <memory>
#include <string>

#include "tandem/devices/block_device.h"

namespace tandem::devices {

class FileBlockDevice final : public BlockDevice {
 public:
  // Opens an existing file read-write. The device size is the file size at open time (see
  // refreshSize()).
  // `direct` adds O_DIRECT (callers must then align buffers and offsets to 4096).
  static Result<std::unique_ptr<FileBlockDevice>> open(const std::string& path, bool direct = false);
  ~FileBlockDevice() override;

  uint64_t sizeBytes() const override { return size_.load(); }
  Status read(uint64_t offset, std::span<std::byte> out) override;
  Status write(uint64_t offset, std::span<const std::byte> data, bool fua) override;
  Status flush() override;
  Status trim(uint64_t offset, uint64_t length, bool fua) override;
  Status writeZeroes(uint64_t offset, uint64_t length, bool fua) override;
  // Re-reads the file's (or block device's) size; grows the view only.
  Status refreshSize() override;
  // Holes as lseek(SEEK_DATA/SEEK_HOLE) finds them (a block device node: all allocated).
  Result<std::vector<Extent>> extents(uint64_t offset, uint64_t length) override;

  const std::string& path() const { return path_; }

 private:
  FileBlockDevice(int fd, std::string path, uint64_t size) : fd_(fd), path_(std::move(path)), size_(size) {}
  int fd_;
  std::string path_;
  std::atomic<uint64_t> size_;
};

}  // namespace tandem::devices
