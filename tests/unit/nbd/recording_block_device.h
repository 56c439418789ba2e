// RecordingBlockDevice: a MemoryBlockDevice that counts each kind of call and can be told to
// fail every call with a given Status. For NBD tests. Thread-safe like its inner device.
#pragma once

#include <atomic>
#include <mutex>

#include "tandem/devices/memory_block_device.h"

namespace tandem::nbd::testing {

class RecordingBlockDevice final : public devices::BlockDevice {
 public:
  explicit RecordingBlockDevice(uint64_t size) : inner_(size) {}

  uint64_t sizeBytes() const override { return inner_.sizeBytes(); }
  Status read(uint64_t offset, std::span<std::byte> out) override {
    RETURN_IF_ERROR(failure());
    return inner_.read(offset, out);
  }
  Status write(uint64_t offset, std::span<const std::byte> data, bool fua) override {
    RETURN_IF_ERROR(failure());
    ++writes;
    return inner_.write(offset, data, fua);
  }
  Status flush() override {
    RETURN_IF_ERROR(failure());
    return inner_.flush();
  }
  Status trim(uint64_t offset, uint64_t length, bool fua) override {
    RETURN_IF_ERROR(failure());
    ++trims;
    return inner_.trim(offset, length, fua);
  }
  Status writeZeroes(uint64_t offset, uint64_t length, bool fua) override {
    RETURN_IF_ERROR(failure());
    ++write_zeroes;
    return inner_.writeZeroes(offset, length, fua);
  }

  void failWith(Status status) {
    std::lock_guard lock(mu_);
    fail_ = std::move(status);
  }
  devices::MemoryBlockDevice& inner() { return inner_; }

  std::atomic<int> writes{0};
  std::atomic<int> trims{0};
  std::atomic<int> write_zeroes{0};

 private:
  Status failure() {
    std::lock_guard lock(mu_);
    return fail_;
  }
  devices::MemoryBlockDevice inner_;
  std::mutex mu_;
  Status fail_;
};

}  // namespace tandem::nbd::testing
