// DeviceExports: the node's NBD exports of device paths — how the drbd engine serves an nbd
// attachment (/dev/drbd/by-res/<resource>/0). Each device is opened only while an NBD client is
// connected (first connection opens it, the last one leaving closes it), so DRBD's
// auto-promote/auto-demote follows the NBD clients and an idle export never keeps its host
// Primary (docs/drbd.md, NBD mode).
// Thread-safety: add() and remove() may be called from any thread.
#pragma once

#include <functional>
#include <string>

#include "tandem/nbd/static_export_registry.h"

namespace tandem::node {

class DeviceExports {
 public:
  virtual ~DeviceExports() = default;
  // Exports the device at `path` as `name` (replacing an export of that name).
  virtual void add(const std::string& name, const std::string& path) = 0;
  // Removes export `name` and closes its NBD connections (so the device is closed); nothing when
  // there is no such export.
  virtual void remove(const std::string& name) = 0;
};

// The node worker's: on-demand exports in its NBD server's registry (a FileBlockDevice opened on
// the path per first connection); `on_unexport` closes the connections of a removed export.
class RegistryDeviceExports final : public DeviceExports {
 public:
  RegistryDeviceExports(nbd::StaticExportRegistry& registry, std::function<void(const std::string&)> on_unexport)
      : registry_(registry), on_unexport_(std::move(on_unexport)) {}
  void add(const std::string& name, const std::string& path) override;
  void remove(const std::string& name) override;

 private:
  nbd::StaticExportRegistry& registry_;
  std::function<void(const std::string&)> on_unexport_;
};

}  // namespace tandem::node
