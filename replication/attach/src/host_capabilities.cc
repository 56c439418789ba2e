#include "tandem/attach/host_capabilities.h"

#include <fcntl.h>
#include <unistd.h>

namespace tandem::attach {

HostCapabilities detectHostCapabilities(const HostPaths& paths) {
  HostCapabilities caps;
  caps.kernel_nbd = ::access((paths.sys_root + "/module/nbd").c_str(), F_OK) == 0 ||
                    ::access((paths.dev_root + "/nbd0").c_str(), F_OK) == 0;
  int fd = ::open((paths.dev_root + "/fuse").c_str(), O_RDWR | O_CLOEXEC);
  caps.fuse = fd >= 0;
  if (fd >= 0) ::close(fd);
  caps.loop = ::access((paths.dev_root + "/loop-control").c_str(), F_OK) == 0;
  if (!caps.kernel_nbd) caps.detail += "no nbd kernel module; ";
  if (!caps.fuse) caps.detail += "cannot open " + paths.dev_root + "/fuse; ";
  if (!caps.loop) caps.detail += "no " + paths.dev_root + "/loop-control; ";
  return caps;
}

std::string_view deviceBackendName(DeviceBackend backend) {
  switch (backend) {
    case DeviceBackend::kKernelNbd:
      return "kernel-nbd";
    case DeviceBackend::kFuseLoop:
      return "fuse-loop";
  }
  return "unknown";
}

Result<DeviceBackend> chooseDeviceBackend(const HostCapabilities& caps) {
  if (caps.kernel_nbd && kKernelNbdBackendImplemented) return DeviceBackend::kKernelNbd;
  if (caps.fuse && caps.loop) return DeviceBackend::kFuseLoop;
  return Status(ErrorCode::kUnsupported, "no way to make a local block device on this host: " + caps.detail)
      .withReason("no_block_device_support");
}

}  // namespace tandem::attach
