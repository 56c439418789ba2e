// SharedDeviceOpener: one open device shared by everyone using it. acquire() opens the device on
// first use and hands out the same device to later callers while any holder keeps it; when the
// last holder drops it, the device is destroyed (closed). The next acquire() opens it again.
// This is what lets an NBD export hold a DRBD device open only while a client uses it: DRBD's
// auto-promote/auto-demote then follows the NBD clients as it would a local open (docs/drbd.md).
// Thread-safety: acquire() and isOpen() may be called from any thread; holders may drop their
// device from any thread.
#pragma once

#include <functional>
#include <memory>
#include <mutex>

#include "tandem/common/status.h"
#include "tandem/devices/block_device.h"

namespace tandem::nbd {

class SharedDeviceOpener {
 public:
  using Open = std::function<Result<std::unique_ptr<devices::BlockDevice>>()>;
  explicit SharedDeviceOpener(Open open) : open_(std::move(open)) {}

  // The open device (opened now when nobody holds it), or the opener's error.
  Result<std::shared_ptr<devices::BlockDevice>> acquire();
  // Whether some holder keeps the device open now.
  bool isOpen() const;

 private:
  const Open open_;
  mutable std::mutex mu_;  // held across an open, so two first users never open it twice
  std::weak_ptr<devices::BlockDevice> device_;
};

}  // namespace tandem::nbd
