#include "tandem/devices/fault_injection.h"

namespace tandem::devices {
namespace {

// open()'s result: a unique handle on a device the provider also tracks (for crash()).
class SharedDeviceHandle final : public BlockDevice {
 public:
  explicit SharedDeviceHandle(std::shared_ptr<FaultInjectingBlockDevice> dev) : dev_(std::move(dev)) {}
  uint64_t sizeBytes() const override { return dev_->sizeBytes(); }
  Status read(uint64_t offset, std::span<std::byte> out) override { return dev_->read(offset, out); }
  Status write(uint64_t offset, std::span<const std::byte> data, bool fua) override {
    return dev_->write(offset, data, fua);
  }
  Status flush() override { return dev_->flush(); }
  Status trim(uint64_t offset, uint64_t length, bool fua) override { return dev_->trim(offset, length, fua); }
  Status writeZeroes(uint64_t offset, uint64_t length, bool fua) override {
    return dev_->writeZeroes(offset, length, fua);
  }
  Status refreshSize() override { return dev_->refreshSize(); }
  Result<std::vector<Extent>> extents(uint64_t offset, uint64_t length) override {
    return dev_->extents(offset, length);
  }

 private:
  std::shared_ptr<FaultInjectingBlockDevice> dev_;
};

}  // namespace

std::shared_ptr<FaultControls> FaultInjectingProvider::controls(const std::string& volume) {
  std::lock_guard lock(mu_);
  auto& c = controls_[volume];
  if (!c) c = std::make_shared<FaultControls>();
  return c;
}

Status FaultInjectingProvider::crash(const std::string& volume) {
  std::vector<std::shared_ptr<FaultInjectingBlockDevice>> devices;
  {
    std::lock_guard lock(mu_);
    for (auto& weak : open_devices_[volume]) {
      if (auto dev = weak.lock()) devices.push_back(std::move(dev));
    }
  }
  Status first;
  for (auto& dev : devices) {
    Status s = dev->crash();
    if (first.isOk() && !s.isOk()) first = s;
  }
  return first;
}

void FaultInjectingProvider::failNextCall(Status status) {
  std::lock_guard lock(mu_);
  next_failure_ = std::move(status);
}

std::optional<Status> FaultInjectingProvider::takeInjected() {
  std::lock_guard lock(mu_);
  std::optional<Status> s = std::move(next_failure_);
  next_failure_.reset();
  return s;
}

Result<Capacity> FaultInjectingProvider::capacity() {
  if (auto s = takeInjected()) return *s;
  return inner_->capacity();
}

Status FaultInjectingProvider::create(const std::string& name, uint64_t size_bytes,
                                      Provisioning provisioning) {
  if (auto s = takeInjected()) return *s;
  return inner_->create(name, size_bytes, provisioning);
}

Status FaultInjectingProvider::remove(const std::string& name) {
  if (auto s = takeInjected()) return *s;
  return inner_->remove(name);
}

Status FaultInjectingProvider::resize(const std::string& name, uint64_t new_size_bytes, bool force) {
  if (auto s = takeInjected()) return *s;
  return inner_->resize(name, new_size_bytes, force);
}

Result<std::unique_ptr<BlockDevice>> FaultInjectingProvider::open(const std::string& name) {
  if (auto s = takeInjected()) return *s;
  ASSIGN_OR_RETURN(std::unique_ptr<BlockDevice> inner, inner_->open(name));
  auto dev = std::make_shared<FaultInjectingBlockDevice>(std::shared_ptr<BlockDevice>(std::move(inner)),
                                                         controls(name));
  {
    std::lock_guard lock(mu_);
    auto& devices = open_devices_[name];
    std::erase_if(devices, [](const auto& weak) { return weak.expired(); });
    devices.push_back(dev);
  }
  return std::unique_ptr<BlockDevice>(std::make_unique<SharedDeviceHandle>(std::move(dev)));
}

Result<std::vector<VolumeInfo>> FaultInjectingProvider::list() {
  if (auto s = takeInjected()) return *s;
  return inner_->list();
}

Result<VolumeInfo> FaultInjectingProvider::info(const std::string& name) {
  if (auto s = takeInjected()) return *s;
  return inner_->info(name);
}

Status FaultInjectingProvider::snapshot(const std::string& volume, const std::string& snapshot,
                                        const ProgressFn& progress) {
  if (auto s = takeInjected()) return *s;
  return inner_->snapshot(volume, snapshot, progress);
}

Status FaultInjectingProvider::removeSnapshot(const std::string& volume, const std::string& snapshot) {
  if (auto s = takeInjected()) return *s;
  return inner_->removeSnapshot(volume, snapshot);
}

Status FaultInjectingProvider::clone(const std::string& source_volume, const std::string& source_snapshot,
                                     const std::string& target, const ProgressFn& progress) {
  if (auto s = takeInjected()) return *s;
  return inner_->clone(source_volume, source_snapshot, target, progress);
}

Status FaultInjectingProvider::revert(const std::string& volume, const std::string& snapshot) {
  if (auto s = takeInjected()) return *s;
  return inner_->revert(volume, snapshot);
}

Status FaultInjectingProvider::rename(const std::string& from, const std::string& to) {
  if (auto s = takeInjected()) return *s;
  return inner_->rename(from, to);
}

}  // namespace tandem::devices
