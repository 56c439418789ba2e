// makeProvider: builds the StorageProvider a storage pool's configuration names.
//
// The node worker reads its pools from its configuration and calls makeProvider once per pool.
// Tests inject a CommandRunner (a recording fake) for the command-line providers, and may point
// `device_dir` at a temporary directory to stand in for /dev.
//
// Thread-safety: makeProvider is thread-safe; see StorageProvider for the providers.
#pragma once

#include <memory>
#include <string>

#include "tandem/common/status.h"
#include "tandem/devices/command_runner.h"
#include "tandem/devices/storage_provider.h"

namespace tandem::devices {

struct PoolConfig {
  std::string provider;  // "file" | "lvm-thin" | "zfs"
  // file: the directory holding the volumes (must exist).
  std::string path;
  // lvm-thin: the volume group and its thin pool LV.
  std::string volume_group;
  std::string thin_pool;
  // zfs: the pool and an optional dataset under it (volumes are <zpool>[/<dataset>]/<name>).
  std::string zpool;
  std::string dataset;
  // lvm-thin/zfs: runs the tools; not owned, must outlive the provider. Null: a
  // SubprocessCommandRunner owned by the provider.
  CommandRunner* runner = nullptr;
  // lvm-thin/zfs: where device nodes live ("/dev"); open() uses <device_dir>/<vg>/<lv> and
  // <device_dir>/zvol/<pool>/<dataset>/<name>.
  std::string device_dir = "/dev";
};

// kInvalidArgument for an unknown provider or a missing/malformed setting (a name with '/' or
// whitespace, an empty path); kNotFound if the file provider's directory does not exist. No
// command is run and nothing is created: checking that the VG or zpool exists is the first
// capacity() call's job.
Result<std::unique_ptr<StorageProvider>> makeProvider(const PoolConfig& config);

}  // namespace tandem::devices
