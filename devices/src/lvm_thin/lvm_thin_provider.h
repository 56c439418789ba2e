// LvmThinProvider: volumes are thin LVs in one LVM thin pool, driven through lvcreate & co.
//
// Naming: volume <name> is LV <vg>/<name>; snapshot <snap> of it is the thin snapshot LV
// <vg>/<name>+<snap> ('+' is legal in LV names and never in Tandem names). Clones are thin
// snapshots under the target's plain name, with activation skip turned off.
// Every command goes through the injected CommandRunner; failures carry the command line and
// the tool's stderr. Thread-safe: no mutable state (the runner must be thread-safe).
#pragma once

#include <memory>
#include <string>

#include "lvm_thin/lvs_report.h"
#include "tandem/devices/command_runner.h"
#include "tandem/devices/storage_provider.h"

namespace tandem::devices {

class LvmThinProvider final : public StorageProvider {
 public:
  // `runner` is not owned unless passed through `owned_runner`.
  LvmThinProvider(std::string volume_group, std::string thin_pool, CommandRunner* runner,
                  std::unique_ptr<CommandRunner> owned_runner, std::string device_dir);

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
  std::string lvPath(const std::string& lv) const { return vg_ + "/" + lv; }
  Result<std::vector<LvRow>> poolRows();
  Result<LvRow> findLv(const std::string& lv);
  Status run(const std::vector<std::string>& argv);

  std::string vg_;
  std::string pool_;
  std::unique_ptr<CommandRunner> owned_runner_;
  CommandRunner* runner_;
  std::string device_dir_;
};

}  // namespace tandem::devices
