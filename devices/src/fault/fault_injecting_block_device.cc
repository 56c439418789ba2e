#include <cerrno>

#include "tandem/devices/fault_injection.h"

namespace tandem::devices {

void FaultControls::clear() {
  read_countdown_ = 0;
  write_countdown_ = 0;
  flush_countdown_ = 0;
  space_limit_ = -1;
  written_ = 0;
  broken_ = false;
}

bool FaultControls::hit(std::atomic<uint64_t>& countdown) {
  uint64_t v = countdown.load();
  while (v != 0) {
    if (countdown.compare_exchange_weak(v, v - 1)) return v == 1;
  }
  return false;
}

bool FaultControls::reserveSpace(uint64_t bytes) {
  int64_t limit = space_limit_.load();
  if (limit < 0) return true;
  uint64_t cur = written_.load();
  do {
    if (cur > static_cast<uint64_t>(limit) || bytes > static_cast<uint64_t>(limit) - cur) {
      written_ = static_cast<uint64_t>(limit) + 1;  // sticky: the device stays full
      return false;
    }
  } while (!written_.compare_exchange_weak(cur, cur + bytes));
  return true;
}

FaultInjectingBlockDevice::FaultInjectingBlockDevice(std::shared_ptr<BlockDevice> inner,
                                                     std::shared_ptr<FaultControls> controls)
    : inner_(std::move(inner)),
      controls_(controls ? std::move(controls) : std::make_shared<FaultControls>()) {}

Status FaultInjectingBlockDevice::checkBroken() {
  if (controls_->broken_) {
    ++controls_->injected_;
    return Status::fromErrno(EIO, "injected fault: device broken");
  }
  return Status::ok();
}

Status FaultInjectingBlockDevice::read(uint64_t offset, std::span<std::byte> out) {
  ++controls_->reads_;
  RETURN_IF_ERROR(checkBroken());
  if (FaultControls::hit(controls_->read_countdown_)) {
    ++controls_->injected_;
    return Status::fromErrno(EIO, "injected fault: read at " + std::to_string(offset));
  }
  return inner_->read(offset, out);
}

Status FaultInjectingBlockDevice::recordPreImage(uint64_t offset, uint64_t length) {
  if (length == 0) return Status::ok();
  RETURN_IF_ERROR(checkRange(offset, length, inner_->sizeBytes()));
  PreImage pre{offset, std::vector<std::byte>(length)};
  RETURN_IF_ERROR(inner_->read(offset, pre.bytes));
  undo_.push_back(std::move(pre));
  return Status::ok();
}

void FaultInjectingBlockDevice::forgetRange(uint64_t offset, uint64_t length) {
  const uint64_t end = offset + length;
  std::vector<PreImage> kept;
  kept.reserve(undo_.size());
  for (auto& pre : undo_) {
    const uint64_t pre_end = pre.offset + pre.bytes.size();
    if (pre_end <= offset || pre.offset >= end) {
      kept.push_back(std::move(pre));
      continue;
    }
    if (pre.offset < offset) {
      kept.push_back(PreImage{
          pre.offset,
          std::vector<std::byte>(pre.bytes.begin(),
                                 pre.bytes.begin() + static_cast<std::ptrdiff_t>(offset - pre.offset))});
    }
    if (pre_end > end) {
      kept.push_back(PreImage{
          end, std::vector<std::byte>(pre.bytes.begin() + static_cast<std::ptrdiff_t>(end - pre.offset),
                                      pre.bytes.end())});
    }
  }
  undo_ = std::move(kept);
}

template <typename Op>
Status FaultInjectingBlockDevice::mutate(uint64_t offset, uint64_t length, bool fua, Op op) {
  if (!fua) RETURN_IF_ERROR(recordPreImage(offset, length));
  // On failure the pre-image stays: restoring bytes the write did not change is harmless.
  RETURN_IF_ERROR(op());
  if (fua) forgetRange(offset, length);
  return Status::ok();
}

Status FaultInjectingBlockDevice::write(uint64_t offset, std::span<const std::byte> data, bool fua) {
  ++controls_->writes_;
  RETURN_IF_ERROR(checkBroken());
  if (FaultControls::hit(controls_->write_countdown_)) {
    ++controls_->injected_;
    return Status::fromErrno(EIO, "injected fault: write at " + std::to_string(offset));
  }
  RETURN_IF_ERROR(checkRange(offset, data.size(), inner_->sizeBytes()));
  if (!controls_->reserveSpace(data.size())) {
    ++controls_->injected_;
    return Status::fromErrno(ENOSPC, "injected fault: write at " + std::to_string(offset));
  }
  std::lock_guard lock(mu_);
  return mutate(offset, data.size(), fua, [&] { return inner_->write(offset, data, fua); });
}

Status FaultInjectingBlockDevice::trim(uint64_t offset, uint64_t length, bool fua) {
  ++controls_->writes_;
  RETURN_IF_ERROR(checkBroken());
  if (FaultControls::hit(controls_->write_countdown_)) {
    ++controls_->injected_;
    return Status::fromErrno(EIO, "injected fault: trim at " + std::to_string(offset));
  }
  std::lock_guard lock(mu_);
  return mutate(offset, length, fua, [&] { return inner_->trim(offset, length, fua); });
}

Status FaultInjectingBlockDevice::writeZeroes(uint64_t offset, uint64_t length, bool fua) {
  ++controls_->writes_;
  RETURN_IF_ERROR(checkBroken());
  if (FaultControls::hit(controls_->write_countdown_)) {
    ++controls_->injected_;
    return Status::fromErrno(EIO, "injected fault: write zeroes at " + std::to_string(offset));
  }
  std::lock_guard lock(mu_);
  return mutate(offset, length, fua, [&] { return inner_->writeZeroes(offset, length, fua); });
}

Status FaultInjectingBlockDevice::flush() {
  ++controls_->flushes_;
  RETURN_IF_ERROR(checkBroken());
  if (FaultControls::hit(controls_->flush_countdown_)) {
    ++controls_->injected_;
    return Status::fromErrno(EIO, "injected fault: flush");
  }
  std::lock_guard lock(mu_);
  RETURN_IF_ERROR(inner_->flush());
  undo_.clear();
  return Status::ok();
}

Status FaultInjectingBlockDevice::crash() {
  std::lock_guard lock(mu_);
  for (auto it = undo_.rbegin(); it != undo_.rend(); ++it) {
    RETURN_IF_ERROR(inner_->write(it->offset, it->bytes, false).withContext("crash: restore pre-image"));
  }
  undo_.clear();
  return inner_->flush().withContext("crash: flush restored state");
}

uint64_t FaultInjectingBlockDevice::unflushedBytes() const {
  std::lock_guard lock(mu_);
  uint64_t total = 0;
  for (const auto& pre : undo_) total += pre.bytes.size();
  return total;
}

}  // namespace tandem::devices
