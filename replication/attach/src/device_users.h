// Who uses a block device: mounts, holder devices (dm, md), exclusive openers and processes
// with it open. Reads /proc and /sys (roots injectable); thread-safe.
#pragma once

#include <sys/types.h>

#include <string>
#include <string_view>
#include <vector>

#include "tandem/common/status.h"

namespace tandem::attach {

struct DeviceUsers {
  std::vector<std::string> mount_points;  // where the device is mounted
  std::vector<std::string> holders;       // /sys/block/<dev>/holders entries
  bool exclusive_open = false;            // open(O_EXCL) failed with EBUSY
  std::vector<int> opener_pids;           // processes with it open

  // Uses that detach refuses even when forced: the device backs a file system or a device.
  bool pinned() const { return !mount_points.empty() || !holders.empty() || exclusive_open; }
  bool any() const { return pinned() || !opener_pids.empty(); }
  std::string describe() const;
};

// Mount points whose device number is `device` in a /proc/<pid>/mountinfo text.
std::vector<std::string> mountPointsOf(std::string_view mountinfo, dev_t device);
// Whether `path` is a mount point in a mountinfo text.
bool isMountPoint(std::string_view mountinfo, std::string_view path);

Result<DeviceUsers> findDeviceUsers(const std::string& device_path, const std::string& proc_root,
                                    const std::string& sys_root);

}  // namespace tandem::attach
