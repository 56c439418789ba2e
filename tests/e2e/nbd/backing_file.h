// Helpers of the e2e tests that serve a backing file over NBD: a BlockDevice wrapper that counts
// what reaches the file (so a test can see FUA, FLUSH, TRIM and WRITE_ZEROES), and a reader of a
// byte range of the file. Test-only; the counters are atomic, the rest is not thread-safe.
#pragma once

#include <atomic>
#include <fstream>
#include <memory>
#include <string>

#include "tandem/devices/block_device.h"

namespace tandem::nbd::e2e {

// Counts what reached the file, so tests can see FUA, FLUSH, TRIM and WRITE_ZEROES.
class CountingDevice final : public devices::BlockDevice {
 public:
  explicit CountingDevice(std::unique_ptr<devices::BlockDevice> inner) : inner_(std::move(inner)) {}
  uint64_t sizeBytes() const override { return inner_->sizeBytes(); }
  Status read(uint64_t offset, std::span<std::byte> out) override { return inner_->read(offset, out); }
  Status write(uint64_t offset, std::span<const std::byte> data, bool fua) override {
    (fua ? fua_writes : plain_writes)++;
    return inner_->write(offset, data, fua);
  }
  Status flush() override {
    ++flushes;
    return inner_->flush();
  }
  Status trim(uint64_t offset, uint64_t length, bool fua) override {
    ++trims;
    return inner_->trim(offset, length, fua);
  }
  Status writeZeroes(uint64_t offset, uint64_t length, bool fua) override {
    ++write_zeroes;
    return inner_->writeZeroes(offset, length, fua);
  }  Result<std::vector<devices::Extent>> extents(uint64_t offset, uint64_t length) override {
    return inner_->extents(offset, length);
  }

  std::atomic<int> fua_writes{0}, plain_writes{0}, flushes{0}, trims{0}, write_zeroes{0};

 private:
  std::unique_ptr<devices::BlockDevice> inner_;
};

inline std::string readFileRange(const std::string& path, uint64_t offset, uint64_t length) {
  std::ifstream in(path, std::ios::binary);
  in.seekg(static_cast<std::streamoff>(offset));
  std::string out(length, '\0');
  in.read(out.data(), static_cast<std::streamsize>(length));
  out.resize(static_cast<size_t>(in.gcount()));
  return out;
}

}  // namespace tandem::nbd::e2e
