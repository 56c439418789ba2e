#include "tandem/nbd/static_export_registry.h"

namespace tandem::nbd {

void StaticExportRegistry::add(const std::string& name, std::shared_ptr<devices::BlockDevice> device) {
  std::lock_guard lock(mu_);
  exports_[name] = std::move(device);
}

bool StaticExportRegistry::remove(const std::string& name) {
  std::lock_guard lock(mu_);
  return exports_.erase(name) > 0;
}

std::shared_ptr<devices::BlockDevice> StaticExportRegistry::find(const std::string& name) {
  std::lock_guard lock(mu_);
  auto it = exports_.find(name);
  return it == exports_.end() ? nullptr : it->second;
}

std::vector<std::string> StaticExportRegistry::names() {
  std::lock_guard lock(mu_);
  std::vector<std::string> out;
  out.reserve(exports_.size());
  for (const auto& [name, device] : exports_) out.push_back(name);
  return out;
}

}  // namespace tandem::nbd
