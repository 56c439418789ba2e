#include "tandem/nbd/static_export_registry.h"

#include "tandem/common/log.h"

namespace tandem::nbd {

void StaticExportRegistry::add(const std::string& name, std::shared_ptr<devices::BlockDevice> device) {
  std::lock_guard lock(mu_);
  exports_[name] = Entry{std::move(device), nullptr};
}

void StaticExportRegistry::addOnDemand(const std::string& name, std::shared_ptr<SharedDeviceOpener> opener) {
  std::lock_guard lock(mu_);
  exports_[name] = Entry{nullptr, std::move(opener)};
}

bool StaticExportRegistry::remove(const std::string& name) {
  std::lock_guard lock(mu_);
  return exports_.erase(name) > 0;
}

std::shared_ptr<devices::BlockDevice> StaticExportRegistry::find(const std::string& name) {
  Entry entry;
  {
    std::lock_guard lock(mu_);
    auto it = exports_.find(name);
    if (it == exports_.end()) return nullptr;
    entry = it->second;
  }
  if (!entry.opener) return entry.device;
  // Opened outside the lock: an open may take a while (DRBD's auto-promote) and must not hold
  // up the other exports.
  auto device = entry.opener->acquire();
  if (!device.isOk()) {
    log::warn("nbd", "export '" + name + "': cannot open its device: " + device.status().toString());
    return nullptr;
  }
  return std::move(device).value();
}

bool StaticExportRegistry::contains(const std::string& name) {
  std::lock_guard lock(mu_);
  return exports_.count(name) > 0;
}

std::vector<std::string> StaticExportRegistry::names() {
  std::lock_guard lock(mu_);
  std::vector<std::string> out;
  out.reserve(exports_.size());
  for (const auto& [name, entry] : exports_) out.push_back(name);
  return out;
}

}  // namespace tandem::nbd
