#include "tandem/attach/local_device_manager.h"

#include <filesystem>

#include "fuse_loop_device_manager.h"
#include "kernel_nbd_device_manager.h"

namespace tandem::attach {

std::string_view attachmentHealthName(AttachmentHealth health) {
  switch (health) {
    case AttachmentHealth::kHealthy:
      return "healthy";
    case AttachmentHealth::kDisconnected:
      return "disconnected";
    case AttachmentHealth::kBroken:
      return "broken";
  }
  return "unknown";
}

Result<std::unique_ptr<LocalDeviceManager>> createLocalDeviceManager(
    const LocalDeviceOptions& options, const HostCapabilities& capabilities,
    std::shared_ptr<devices::CommandRunner> runner) {
  ASSIGN_OR_RETURN(DeviceBackend backend, chooseDeviceBackend(capabilities));
  if (backend == DeviceBackend::kKernelNbd) return KernelNbdDeviceManager::create(options);
  LocalDeviceOptions canonical = options;
  for (std::string* dir : {&canonical.state_dir, &canonical.link_root}) {
    std::error_code ec;
    std::filesystem::create_directories(*dir, ec);
    if (ec) return Status(ErrorCode::kIo, "create " + *dir + ": " + ec.message());
    *dir = std::filesystem::canonical(*dir, ec);
    if (ec) return Status(ErrorCode::kIo, "resolve " + *dir + ": " + ec.message());
  }
  return std::unique_ptr<LocalDeviceManager>(
      std::make_unique<FuseLoopDeviceManager>(canonical, std::move(runner)));
}

}  // namespace tandem::attach
