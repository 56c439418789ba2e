// ZfsProvider: volumes are ZFS volumes (zvols) under one dataset, driven through `zfs`.
//
// Naming: volume <name> is <root>/<name> where root is <zpool>[/<dataset>]; snapshot <snap> is
// <root>/<name>@<snap>. A clone made from a volume (not a snapshot) needs a snapshot: it uses a
// hidden one, <root>/<src>@clone:<target> (':' never occurs in Tandem names), which list() does
// not show and which is destroyed with the clone.
// ZFS rolls back only to the latest snapshot: revert() to an older one is kConflict (it would
// have to destroy the later snapshots).
// Every command goes through the injected CommandRunner; failures carry the command line and
// the tool's stderr. Thread-safe: no mutable state (the runner must be thread-safe).
#pragma once

#include <memory>
#include <string>

#include "tandem/devices/command_runner.h"
#include "tandem/devices/storage_provider.h"
#include "zfs/zfs_list.h"

namespace tandem::devices {

class ZfsProvider final : public StorageProvider {
 public:
  // `runner` is not owned unless passed through `owned_runner`.
  ZfsProvider(std::string root, CommandRunner* runner, std::unique_ptr<CommandRunner> owned_runner,
              std::string device_dir);

  ProviderCapabilities capabilities() const override;
  Result<Capacity> capacity() override;
  Status create(const std::string& name, uint64_t size_bytes, Provisioning provisioning) override;
  Status remove(const std::string& name) override;
  Status resize(const std::string& name, uint64_t new_size_bytes, bool force) override;
  Result<std::unique_ptr<BlockDevice>> open(const std::string& name) override;
  Result<std::vector<VolumeInfo>> list() override;
  Result<VolumeInfo> info(const std::string& name) override;
  Status snapshot(const std::string& volume, const std::string& snapshot,
                  const ProgressFn& progress) override;
  Status removeSnapshot(const std::string& volume, const std::string& snapshot) override;
  Status clone(const std::string& source_volume, const std::string& source_snapshot,
               const std::string& target, const ProgressFn& progress) override;
  Status revert(const std::string& volume, const std::string& snapshot) override;
  Status rename(const std::string& from, const std::string& to) override;
  std::string pathOf(const std::string& name) const override;

 private:
  // One of our datasets: <root>/<volume>[@<snapshot>].
  struct Entry {
    std::string volume;
    std::string snapshot;  // empty for a volume
    ZfsRow row;
  };
  std::string ds(const std::string& volume) const { return root_ + "/" + volume; }
  // Our volumes and snapshots (hidden ones included), oldest first.
  Result<std::vector<Entry>> entries();
  Status run(const std::vector<std::string>& argv);

  std::string root_;
  std::unique_ptr<CommandRunner> owned_runner_;
  CommandRunner* runner_;
  std::string device_dir_;
};

}  // namespace tandem::devices
