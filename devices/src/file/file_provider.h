// FileProvider: a storage pool that is a directory of sparse files.
//
// Layout (see devices/README.md):
//   <dir>/<volume>.img              a volume (its size is the file size)
//   <dir>/<volume>@<snapshot>.img   a snapshot of <volume> ('@' cannot occur in names)
//   <dir>/.tmp-*                    work files being built; removed when the provider opens
// Every new file is built under a .tmp- name, fdatasync'ed, then renamed into place and the
// directory fsync'ed, so a crash never leaves a half-made volume under a real name.
// Thread-safe: no mutable state besides the file system.
#pragma once

#include <memory>
#include <string>

#include "tandem/devices/storage_provider.h"

namespace tandem::devices {

class FileProvider final : public StorageProvider {
 public:
  // `dir` must be an existing directory. Removes leftover .tmp- files and probes reflink support.
  static Result<std::unique_ptr<FileProvider>> make(const std::string& dir);

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
  // Copies the volume while it is written and re-copies what changed at the cut
  // (file_snapshot_staging.h); the snapshot is built under a .tmp- name like every other file.
  Result<std::unique_ptr<SnapshotStaging>> stageSnapshot(const std::string& volume,
                                                         const std::string& snapshot) override;
  Status removeSnapshot(const std::string& volume, const std::string& snapshot) override;
  Status clone(const std::string& source_volume, const std::string& source_snapshot,
               const std::string& target, const ProgressFn& progress) override;
  Status revert(const std::string& volume, const std::string& snapshot) override;
  Status rename(const std::string& from, const std::string& to) override;
  std::string pathOf(const std::string& name) const override;

  // The file holding a volume or snapshot (for tests and diagnostics).
  std::string volumePath(const std::string& name) const;
  std::string snapshotPath(const std::string& volume, const std::string& snapshot) const;

 private:
  FileProvider(std::string dir, bool reflink) : dir_(std::move(dir)), reflink_(reflink) {}

  std::string tempPath(const std::string& final_path) const;
  // The files of a new snapshot, checked: names valid, the volume there, the snapshot not yet.
  struct SnapshotFiles {
    std::string volume;    // the volume's file
    std::string snapshot;  // the snapshot's final file
    std::string context;   // "snapshot V@S (path)", for errors
  };
  Result<SnapshotFiles> newSnapshotFiles(const std::string& volume, const std::string& snapshot) const;
  // Renames tmp to final; fails with kAlreadyExists (and removes tmp) if final exists.
  Status publish(const std::string& tmp, const std::string& final_path) const;
  // Renames tmp over final atomically.
  Status replace(const std::string& tmp, const std::string& final_path) const;
  Status syncDir() const;
  Result<std::vector<std::string>> snapshotsOf(const std::string& volume) const;

  std::string dir_;
  bool reflink_;
};

}  // namespace tandem::devices
