#include "tandem/devices/memory_block_device.h"

#include <algorithm>
#include <cstring>

namespace tandem::devices {

Status MemoryBlockDevice::read(uint64_t offset, std::span<std::byte> out) {
  RETURN_IF_ERROR(checkRange(offset, out.size(), size_.load()));
  std::lock_guard lock(mu_);
  if (!out.empty()) std::memcpy(out.data(), data_.data() + offset, out.size());
  return Status::ok();
}

Status MemoryBlockDevice::write(uint64_t offset, std::span<const std::byte> data, bool fua) {
  RETURN_IF_ERROR(checkRange(offset, data.size(), size_.load()));
  std::lock_guard lock(mu_);
  if (!data.empty()) std::memcpy(data_.data() + offset, data.data(), data.size());
  if (fua) ++fua_writes_;
  return Status::ok();
}

Status MemoryBlockDevice::refreshSize() {
  std::lock_guard lock(mu_);
  size_ = data_.size();
  return Status::ok();
}

void MemoryBlockDevice::growBacking(uint64_t size_bytes) {
  std::lock_guard lock(mu_);
  if (size_bytes > data_.size()) data_.resize(size_bytes);
}

Status MemoryBlockDevice::flush() {
  ++flushes_;
  return Status::ok();
}

Status MemoryBlockDevice::trim(uint64_t offset, uint64_t length, bool fua) {
  return writeZeroes(offset, length, fua);
}

Status MemoryBlockDevice::writeZeroes(uint64_t offset, uint64_t length, bool fua) {
  RETURN_IF_ERROR(checkRange(offset, length, size_.load()));
  std::lock_guard lock(mu_);
  std::fill_n(data_.begin() + static_cast<std::ptrdiff_t>(offset), length, std::byte{0});
  if (fua) ++fua_writes_;
  return Status::ok();
}

std::vector<std::byte> MemoryBlockDevice::snapshot() const {
  std::lock_guard lock(mu_);
  return std::vector<std::byte>(data_.begin(), data_.begin() + static_cast<std::ptrdiff_t>(size_.load()));
}

}  // namespace tandem::devices
