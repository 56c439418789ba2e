#include "tandem/nbd/shared_device_opener.h"

namespace tandem::nbd {

Result<std::shared_ptr<devices::BlockDevice>> SharedDeviceOpener::acquire() {
  std::lock_guard lock(mu_);
  if (std::shared_ptr<devices::BlockDevice> held = device_.lock()) return held;
  ASSIGN_OR_RETURN(std::unique_ptr<devices::BlockDevice> opened, open_());
  std::shared_ptr<devices::BlockDevice> device(std::move(opened));
  device_ = device;
  return device;
}

bool SharedDeviceOpener::isOpen() const {
  std::lock_guard lock(mu_);
  return !device_.expired();
}

}  // namespace tandem::nbd
