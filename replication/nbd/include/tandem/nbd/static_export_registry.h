// StaticExportRegistry: an ExportRegistry backed by an in-memory map of name → device.
// Thread-safe (one mutex); find() and names() may run concurrently with add()/remove().
// Removing an export does not close connections using it: call
// NbdServer::disconnectExport(name) afterwards.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "tandem/nbd/nbd_server.h"

namespace tandem::nbd {

class StaticExportRegistry final : public ExportRegistry {
 public:
  // Adds or replaces the export `name`.
  void add(const std::string& name, std::shared_ptr<devices::BlockDevice> device);
  // Removes `name`; returns false when there was no such export.
  bool remove(const std::string& name);

  std::shared_ptr<devices::BlockDevice> find(const std::string& name) override;
  // Sorted by name.
  std::vector<std::string> names() override;

 private:
  std::mutex mu_;
  std::map<std::string, std::shared_ptr<devices::BlockDevice>> exports_;
};

}  // namespace tandem::nbd
