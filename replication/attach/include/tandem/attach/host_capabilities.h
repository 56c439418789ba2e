// What this host can use to make a local block device, and the choice among them.
// detectHostCapabilities reads the host (thread-safe); chooseDeviceBackend is pure.
#pragma once

#include <string>

#include "tandem/common/status.h"

namespace tandem::attach {

struct HostCapabilities {
  bool kernel_nbd = false;  // the nbd module is loaded or loadable (/sys/module/nbd, /dev/nbd0)
  bool fuse = false;        // /dev/fuse opens read-write
  bool loop = false;        // /dev/loop-control exists
  std::string detail;       // what was missing, for error messages
};

struct HostPaths {
  std::string dev_root = "/dev";
  std::string sys_root = "/sys";
};

HostCapabilities detectHostCapabilities(const HostPaths& paths = {});

enum class DeviceBackend { kKernelNbd, kFuseLoop };
std::string_view deviceBackendName(DeviceBackend backend);

// The kernel nbd backend is only a seam for now; it is chosen once it is implemented.
inline constexpr bool kKernelNbdBackendImplemented = false;

// Kernel nbd (when implemented and present), else FUSE + loop. Neither: kUnsupported with
// reason "no_block_device_support" and the detail of what is missing.
Result<DeviceBackend> chooseDeviceBackend(const HostCapabilities& capabilities);

}  // namespace tandem::attach
