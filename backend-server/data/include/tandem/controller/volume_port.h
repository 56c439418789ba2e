// VolumePort: block access to a volume's bytes from the controller — in production the
// primary's NBD export through libnbd (nbdVolumePortOpener), in tests a memory fake. The
// controller must therefore reach every node's NBD address (the volume's nbd_uri).
// Thread-safety: a VolumePort is used by one thread; the opener may be called from any thread.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "tandem/common/status.h"
#include "tandem/devices/block_device.h"

namespace tandem::controller {

class VolumePort {
 public:
  virtual ~VolumePort() = default;
  virtual uint64_t sizeBytes() const = 0;
  // The allocation of [offset, offset+length) (devices::BlockDevice::extents); a port without
  // allocation information reports everything allocated.
  virtual Result<std::vector<devices::Extent>> extents(uint64_t offset, uint64_t length) = 0;
  virtual Status read(uint64_t offset, std::span<std::byte> out) = 0;
  virtual Status write(uint64_t offset, std::span<const std::byte> data) = 0;
  // Zeroes the range, deallocating it where the volume can (thin volumes stay thin).
  virtual Status zero(uint64_t offset, uint64_t length) = 0;
  virtual Status flush() = 0;
};

class VolumePortOpener {
 public:
  virtual ~VolumePortOpener() = default;
  // Connects to the volume served at `nbd_uri` ("nbd://host:port/export"). kUnavailable when it
  // cannot be reached, with the URI in the message.
  virtual Result<std::unique_ptr<VolumePort>> open(const std::string& nbd_uri) = 0;
};

// Opens ports over NBD with libnbd (structured replies and base:allocation when the server
// offers them).
std::unique_ptr<VolumePortOpener> nbdVolumePortOpener();

}  // namespace tandem::controller
