// BlockDevice: a fixed-size array of bytes that can be read, written, flushed and discarded.
//
// It is the seam between every data-path layer: a storage provider opens a volume as a
// BlockDevice, the replication engine's primary *is* a BlockDevice (writes fan out to peers),
// and the NBD server exports any BlockDevice.
//
// Contract:
// - Offsets and lengths are in bytes; a request past sizeBytes() fails with kInvalidArgument
//   and changes nothing.
// - write() returning OK means the data is visible to later reads; it is durable only after a
//   successful flush(), or at once when `fua` is true.
// - trim() may discard data (later reads return zeroes or the old data); writeZeroes()
//   guarantees zeroes. Both respect `fua` like write().
// - Thread-safety: implementations allow concurrent calls from several threads. The caller
//   orders overlapping writes if it cares about their order.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "tandem/common/status.h"

namespace tandem::devices {

// A run of bytes of a device with one allocation state.
struct Extent {
  uint64_t length = 0;
  bool hole = false;  // not allocated: reads as zeroes without touching the disk
  bool operator==(const Extent&) const = default;
};

class BlockDevice {
 public:
  virtual ~BlockDevice() = default;

  virtual uint64_t sizeBytes() const = 0;
  virtual Status read(uint64_t offset, std::span<std::byte> out) = 0;
  virtual Status write(uint64_t offset, std::span<const std::byte> data, bool fua) = 0;
  virtual Status flush() = 0;
  virtual Status trim(uint64_t offset, uint64_t length, bool fua) = 0;
  virtual Status writeZeroes(uint64_t offset, uint64_t length, bool fua) = 0;
  // Re-reads the size of the backing store after it grew underneath the open device (a
  // StorageProvider::resize): afterwards sizeBytes() is the backing's current size. Never
  // shrinks the view. Safe to call while I/O is in flight. kUnsupported for a device of fixed
  // size (the default).
  virtual Status refreshSize() { return Status(ErrorCode::kUnsupported, "this device cannot grow"); }
  // The allocation of [offset, offset+length): consecutive extents, in order, covering exactly
  // that range (none when length is 0). A hole reads as zeroes; "allocated" promises nothing
  // about the content. Racy by nature: a write may allocate a hole right after the answer.
  // kInvalidArgument past sizeBytes(). The default reports everything allocated.
  virtual Result<std::vector<Extent>> extents(uint64_t offset, uint64_t length);
};

// Checks [offset, offset+length) against `size` without overflow; kInvalidArgument if outside.
Status checkRange(uint64_t offset, uint64_t length, uint64_t size);

}  // namespace tandem::devices
