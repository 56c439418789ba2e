// FuseLoopDeviceManager: LocalDeviceManager over one tandem-disk-fuse process per attachment
// (serving <state_dir>/<volume>/mnt/disk from NBD) and a loop device bound to that file.
// See local_device_manager.h for the contract and docs/attach.md for the design.
#pragma once

#include <memory>
#include <mutex>

#include "loop_devices.h"
#include "tandem/attach/local_device_manager.h"

namespace tandem::attach {

class FuseLoopDeviceManager final : public LocalDeviceManager {
 public:
  // `options.state_dir` and `options.link_root` must exist and be absolute, canonical paths.
  FuseLoopDeviceManager(LocalDeviceOptions options, std::shared_ptr<devices::CommandRunner> runner)
      : options_(std::move(options)), runner_(std::move(runner)) {}

  std::string_view backendName() const override { return "fuse-loop"; }
  Result<AttachedDevice> attach(const AttachSpec& spec) override;
  Status retarget(std::string_view volume, const NbdEndpoint& endpoint) override;
  Status resize(std::string_view volume, uint64_t size_bytes) override;
  Status detach(std::string_view volume, bool force) override;
  Result<std::vector<AttachmentInfo>> list() override;
  Result<AdoptReport> adopt() override;

 private:
  class HostLock;
  std::string dirOf(std::string_view volume) const;
  std::string diskOf(std::string_view volume) const;
  std::string linkOf(std::string_view volume) const;
  Result<AttachmentInfo> inspect(const std::string& volume, const std::vector<LoopDevice>& loops);
  Result<AttachmentInfo> inspect(const std::string& volume);
  Status retargetLocked(const std::string& volume, const NbdEndpoint& endpoint);
  // Removes everything of the attachment that exists (any state). device_busy as detach().
  Status removeLocked(const std::string& volume, bool force);
  Status ensureLink(const std::string& volume, const std::string& device);
  Result<AttachedDevice> createLocked(const AttachSpec& spec);

  const LocalDeviceOptions options_;
  const std::shared_ptr<devices::CommandRunner> runner_;
  std::mutex mu_;
};

}  // namespace tandem::attach
