// StorageProvider: one storage pool's backing store for volumes (a directory of sparse files,
// an LVM thin pool, a ZFS pool). Volumes and snapshots are named; names are validated by the
// provider (see isValidVolumeName) so no name can escape the pool.
//
// Error contract (Status codes): kNotFound (no such volume/snapshot), kAlreadyExists,
// kNoSpace, kUnsupported (the provider cannot do this), kIo (the tool or syscall failed),
// kInvalidArgument (bad name, shrink without force). Every message names the failing path or
// command, and for command-line providers carries the tool's stderr.
//
// Thread-safety: implementations are thread-safe; operations on the same volume are the
// caller's to serialise (the node worker does one reconcile step at a time per volume).
//
// Snapshots are crash-consistent copies of what the volume's backing store holds at the time
// of the call: the caller flushes (BlockDevice::flush) any open device first. revert() replaces
// the volume's contents; devices opened before it must be closed and reopened (the file
// provider swaps the file, LVM merges on next activation, ZFS rolls back in place).
// See devices/README.md for each provider's layout and the commands it runs.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "tandem/common/status.h"
#include "tandem/devices/block_device.h"
#include "tandem/devices/snapshot_staging.h"

namespace tandem::devices {

struct ProviderCapabilities {
  std::string provider;    // "file", "lvm-thin", "zfs"
  bool thin = false;       // volumes can be thinly provisioned
  bool snapshots = false;  // snapshot/clone/revert are supported
  bool reflink = false;    // snapshots share blocks (no copy)
};

struct Capacity {
  uint64_t total_bytes = 0;        // size of the pool
  uint64_t free_bytes = 0;         // space not yet allocated
  uint64_t provisioned_bytes = 0;  // sum of the volumes' virtual sizes
};

struct VolumeInfo {
  std::string name;
  uint64_t size_bytes = 0;       // virtual size
  uint64_t allocated_bytes = 0;  // blocks really used
  bool is_snapshot = false;
  std::string parent;  // for a snapshot: its volume
};

enum class Provisioning { kThin, kThick };

// Progress of a long copy (sparse-copy snapshots): called with bytes done and total.
using ProgressFn = std::function<void(uint64_t done, uint64_t total)>;

class StorageProvider {
 public:
  virtual ~StorageProvider() = default;

  virtual ProviderCapabilities capabilities() const = 0;
  virtual Result<Capacity> capacity() = 0;

  // Creates a volume of `size_bytes` (zero-filled). kAlreadyExists if the name is taken.
  virtual Status create(const std::string& name, uint64_t size_bytes, Provisioning provisioning) = 0;
  // Deletes a volume. kNotFound if absent; kConflict if it still has snapshots.
  virtual Status remove(const std::string& name) = 0;
  // Grows a volume; shrinking is refused (kInvalidArgument) unless `force`.
  virtual Status resize(const std::string& name, uint64_t new_size_bytes, bool force) = 0;
  // Opens a volume for I/O. The device stays valid after remove() of the name (POSIX semantics).
  virtual Result<std::unique_ptr<BlockDevice>> open(const std::string& name) = 0;
  virtual Result<std::vector<VolumeInfo>> list() = 0;
  // The volume's info, or kNotFound.
  virtual Result<VolumeInfo> info(const std::string& name) = 0;

  virtual Status snapshot(const std::string& volume, const std::string& snapshot,
                          const ProgressFn& progress = {}) = 0;
  // The same snapshot in two steps, so that writes are held back only for what changed during
  // the copy (snapshot_staging.h). kNotFound/kAlreadyExists/kInvalidArgument as snapshot(), or
  // later from cut()/publish(). The default takes snapshot() at the cut (right for providers
  // whose snapshot is cheap and atomic, and for wrappers).
  virtual Result<std::unique_ptr<SnapshotStaging>> stageSnapshot(const std::string& volume,
                                                                 const std::string& snapshot);
  virtual Status removeSnapshot(const std::string& volume, const std::string& snapshot) = 0;
  // Makes a new volume `target` from a volume (snapshot empty) or from one of its snapshots.
  virtual Status clone(const std::string& source_volume, const std::string& source_snapshot,
                       const std::string& target, const ProgressFn& progress = {}) = 0;
  virtual Status revert(const std::string& volume, const std::string& snapshot) = 0;

  // Renames volume `from` to `to`, keeping its data (adopting a backing volume under Tandem's
  // name and releasing it under another). kNotFound if `from` is absent; kAlreadyExists if `to`
  // exists; kConflict if `from` has snapshots (they are named after their volume). Devices
  // opened before it stay valid.
  virtual Status rename(const std::string& from, const std::string& to) = 0;
  // Where volume `name`'s data is on this host (a file or a device node), to tell an operator.
  // Computed from the name: the volume need not exist.
  virtual std::string pathOf(const std::string& name) const = 0;
};

// Names are [A-Za-z0-9][A-Za-z0-9_.-]{0,127} and never "." or "..".
bool isValidVolumeName(const std::string& name);

}  // namespace tandem::devices
