// GatedBlockDevice: a test BlockDevice wrapper that counts mutating calls and can hold them
// (kPause, until the mode changes), hold only flushes (kPauseFlushes) or fail them with kIo
// (kFail). Reads always pass. With ignoreTrims(true), trim() does nothing and returns OK, like a
// file system that cannot punch holes.
// Used to stop a replica at a known point of a sync. Thread-safe.
#pragma once

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>

#include "tandem/devices/block_device.h"

namespace tandem::replication::testing {

class GatedBlockDevice final : public devices::BlockDevice {
 public:
  enum class Mode { kPass, kPause, kPauseFlushes, kFail };

  explicit GatedBlockDevice(std::shared_ptr<devices::BlockDevice> inner) : inner_(std::move(inner)) {}

  void setMode(Mode mode) {
    {
      std::lock_guard lock(mu_);
      mode_ = mode;
    }
    cv_.notify_all();
  }
  // Waits until some call is held by kPause.
  bool waitUntilBlocked(std::chrono::milliseconds timeout) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, timeout, [this] { return blocked_ > 0; });
  }
  void ignoreTrims(bool ignore) {
    std::lock_guard lock(mu_);
    ignore_trims_ = ignore;
  }
  uint64_t mutations() const {
    std::lock_guard lock(mu_);
    return mutations_;
  }
  void resetMutations() {
    std::lock_guard lock(mu_);
    mutations_ = 0;
  }

  uint64_t sizeBytes() const override { return inner_->sizeBytes(); }
  Status read(uint64_t offset, std::span<std::byte> out) override { return inner_->read(offset, out); }
  Status write(uint64_t offset, std::span<const std::byte> data, bool fua) override {
    RETURN_IF_ERROR(gate(true));
    return inner_->write(offset, data, fua);
  }
  Status flush() override {
    RETURN_IF_ERROR(gate(false));
    return inner_->flush();
  }
  Status trim(uint64_t offset, uint64_t length, bool fua) override {
    RETURN_IF_ERROR(gate(true));
    {
      std::lock_guard lock(mu_);
      if (ignore_trims_) return Status::ok();
    }
    return inner_->trim(offset, length, fua);
  }
  Status writeZeroes(uint64_t offset, uint64_t length, bool fua) override {
    RETURN_IF_ERROR(gate(true));
    return inner_->writeZeroes(offset, length, fua);
  }
  Status refreshSize() override { return inner_->refreshSize(); }

 private:
  Status gate(bool mutation) {
    std::unique_lock lock(mu_);
    if (mutation) ++mutations_;
    if (mode_ == Mode::kPause || (!mutation && mode_ == Mode::kPauseFlushes)) {
      const Mode held = mode_;
      ++blocked_;
      cv_.notify_all();
      cv_.wait(lock, [this, held] { return mode_ != held; });
      --blocked_;
    }
    if (mode_ == Mode::kFail) return Status(ErrorCode::kIo, "injected device failure");
    return Status::ok();
  }

  std::shared_ptr<devices::BlockDevice> inner_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  Mode mode_ = Mode::kPass;
  uint64_t blocked_ = 0;
  uint64_t mutations_ = 0;
  bool ignore_trims_ = false;
};

}  // namespace tandem::replication::testing
