// StaticExportRegistry: an ExportRegistry backed by an in-memory map of name → device (or →
// SharedDeviceOpener, for a device opened only while clients use it).
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
#include "tandem/nbd/shared_device_opener.h"

namespace tandem::nbd {

class StaticExportRegistry final : public ExportRegistry {
 public:
  // Adds or replaces the export `name`.
  void add(const std::string& name, std::shared_ptr<devices::BlockDevice> device);
  // Adds or replaces the export `name` whose device `opener` opens on demand: find() acquires
  // it (the first connection opens it; it closes when the last holder lets go). find() returns
  // null, logging why, when it cannot be opened.
  void addOnDemand(const std::string& name, std::shared_ptr<SharedDeviceOpener> opener);
  // Removes `name`; returns false when there was no such export.
  bool remove(const std::string& name);

  std::shared_ptr<devices::BlockDevice> find(const std::string& name) override;
  // Sorted by name.
  std::vector<std::string> names() override;
  bool contains(const std::string& name) override;

 private:
  struct Entry {
    std::shared_ptr<devices::BlockDevice> device;  // a static export, or
    std::shared_ptr<SharedDeviceOpener> opener;    // one opened on demand
  };
  std::mutex mu_;
  std::map<std::string, Entry> exports_;
};

}  // namespace tandem::nbd
