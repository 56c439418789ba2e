// KernelNbdDeviceManager: the seam for the preferred backend, the kernel nbd client configured
// over netlink (/dev/nbdN, reconnectable with NBD_CMD_RECONFIGURE for retarget). Not
// implemented: this machine's kernel has no nbd module, so nothing could test it.
// chooseDeviceBackend never selects it while kKernelNbdBackendImplemented is false; a direct
// create() says so.
#pragma once

#include <memory>

#include "tandem/attach/local_device_manager.h"

namespace tandem::attach {

class KernelNbdDeviceManager {
 public:
  static Result<std::unique_ptr<LocalDeviceManager>> create(const LocalDeviceOptions&) {
    return Status(ErrorCode::kUnsupported, "the kernel nbd backend is not implemented")
        .withReason(std::string(kReasonNoBlockDeviceSupport));
  }
};

}  // namespace tandem::attach
