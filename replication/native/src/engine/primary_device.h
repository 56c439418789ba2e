// PrimaryDevice: the BlockDevice a volume's primary hands to its users (NBD export, FUSE file).
// Writes, trims, zeroings and flushes go through the Volume (local + every receiving peer,
// protocol C); reads are local. After the volume is removed or demoted, calls fail with
// kUnavailable. Thread-safe.
#pragma once

#include <memory>

#include "engine/volume.h"
#include "tandem/devices/block_device.h"

namespace tandem::replication {

class PrimaryDevice final : public devices::BlockDevice {
 public:
  explicit PrimaryDevice(std::shared_ptr<Volume> volume) : volume_(std::move(volume)) {}

  uint64_t sizeBytes() const override { return volume_->sizeBytes(); }
  Status read(uint64_t offset, std::span<std::byte> out) override { return volume_->read(offset, out); }
  Status write(uint64_t offset, std::span<const std::byte> data, bool fua) override {
    return volume_->write(offset, data, fua);
  }
  Status flush() override { return volume_->flush(); }
  Status trim(uint64_t offset, uint64_t length, bool fua) override {
    return volume_->trim(offset, length, fua);
  }
  Status writeZeroes(uint64_t offset, uint64_t length, bool fua) override {
    return volume_->writeZeroes(offset, length, fua);
  }
  // The local copy's allocation (reads are local too).
  Result<std::vector<devices::Extent>> extents(uint64_t offset, uint64_t length) override {
    return volume_->localExtents(offset, length);
  }

 private:
  std::shared_ptr<Volume> volume_;
};

}  // namespace tandem::replication
