// MemoryBlockDevice: a BlockDevice held in RAM. For tests and benchmarks only.
// Thread-safe (one mutex). Counts flushes so tests can check durability requests.
#pragma once

#include <atomic>
#include <mutex>
#include <vector>

#include "tandem/devices/block_device.h"

namespace tandem::devices {

class MemoryBlockDevice final : public BlockDevice {
 public:
  explicit MemoryBlockDevice(uint64_t size_bytes) : data_(size_bytes), size_(size_bytes) {}

  uint64_t sizeBytes() const override { return size_.load(); }
  Status read(uint64_t offset, std::span<std::byte> out) override;
  Status write(uint64_t offset, std::span<const std::byte> data, bool fua) override;
  Status flush() override;
  Status trim(uint64_t offset, uint64_t length, bool fua) override;
  Status writeZeroes(uint64_t offset, uint64_t length, bool fua) override;
  // Makes sizeBytes() the backing's size (see growBacking()).
  Status refreshSize() override;
  // The stand-in for a provider's resize: the backing grows to `size_bytes` (zero-filled), the
  // device's view only at the next refreshSize().
  void growBacking(uint64_t size_bytes);

  uint64_t flushCount() const { return flushes_.load(); }
  uint64_t fuaWriteCount() const { return fua_writes_.load(); }
  // A copy of the whole contents.
  std::vector<std::byte> snapshot() const;

 private:
  mutable std::mutex mu_;
  std::vector<std::byte> data_;     // the backing: at least size_ bytes
  std::atomic<uint64_t> size_;       // the device's view
  std::atomic<uint64_t> flushes_{0};
  std::atomic<uint64_t> fua_writes_{0};
};

}  // namespace tandem::devices
