#include "tandem/node/device_exports.h"

#include "tandem/common/log.h"
#include "tandem/devices/file_block_device.h"

namespace tandem::node {

void RegistryDeviceExports::add(const std::string& name, const std::string& path) {
  registry_.addOnDemand(name, std::make_shared<nbd::SharedDeviceOpener>(
                                  [path]() -> Result<std::unique_ptr<devices::BlockDevice>> {
                                    ASSIGN_OR_RETURN(auto device, devices::FileBlockDevice::open(path));
                                    log::info("nbd", "opened " + path + " for an NBD client");
                                    return std::unique_ptr<devices::BlockDevice>(std::move(device));
                                  }));
  log::info("node", "exporting " + path + " over NBD as '" + name + "' (opened while a client is connected)");
}

void RegistryDeviceExports::remove(const std::string& name) {
  if (registry_.remove(name) && on_unexport_) on_unexport_(name);
}

}  // namespace tandem::node
