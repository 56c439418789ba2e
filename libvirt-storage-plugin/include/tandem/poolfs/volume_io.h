// VolumeIo: a connected data path to one volume's NBD export (libnbd connections in
// tandem-pool-fs, see makeNbdVolumeIo; an in-memory one in tests). Every method may be called
// from any thread; they return 0 or a positive errno (what FUSE replies).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "tandem/attach/attachment_files.h"
#include "tandem/common/status.h"

namespace tandem::poolfs {

class VolumeIo {
 public:
  virtual ~VolumeIo() = default;
  virtual int pread(void* buf, size_t count, uint64_t offset) = 0;
  virtual int pwrite(const void* buf, size_t count, uint64_t offset) = 0;
  // NBD FLUSH on every connection: covers every write acknowledged before it.
  virtual int flush() = 0;
  // Zeroes [offset, offset+length); `keep_allocated` false lets the server deallocate.
  virtual int zero(uint64_t offset, uint64_t length, bool keep_allocated) = 0;
};

// Connects to `endpoint` (the export of `volume`, at least `size_bytes` long). Fails
// kUnavailable when it cannot connect, kInvalidArgument while the export is smaller.
using VolumeIoFactory = std::function<Result<std::shared_ptr<VolumeIo>>(
    const attach::NbdEndpoint& endpoint, const std::string& volume, uint64_t size_bytes)>;

// libnbd: `connections` connections per volume (tandem::attach::NbdConnectionPool), each set
// described by a directory of its own under `dir` (spec and status files, removed at close). A
// request whose connection breaks waits up to `io_wait` for a reconnect before it fails (EIO).
VolumeIoFactory nbdVolumeIoFactory(unsigned connections, std::string dir, std::chrono::milliseconds io_wait);

}  // namespace tandem::poolfs
