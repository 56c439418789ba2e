// SnapshotStaging: a snapshot taken in two steps, so that the writes a crash-consistent
// snapshot must hold back are few (docs/replication.md, "Snapshots").
//
// A provider whose snapshot costs time proportional to the volume (the file pool: FICLONE walks
// every extent of the file, a copy reads every byte) copies the volume while it is still being
// written (precopy), is told of every write made meanwhile (dirtied), and, while its caller holds
// writes back, copies again only what was written since (cut). Providers whose snapshot is
// already cheap and atomic (LVM thin, ZFS) take it at the cut.
//
// The caller's protocol:
//   1. stage = provider.stageSnapshot(volume, name)
//   2. from then on, after every write to the volume is applied (visible to reads of its backing
//      store), stage->dirtied(offset, length) — also during precopy and from other threads;
//   3. stage->precopy(stop) with writes going on (may take seconds; `stop` ends it early);
//   4. hold writes back, flush the volume's open device, stage->cut(): the snapshot's contents
//      are now exactly the volume's at this point;
//   5. release writes, then stage->publish() makes the snapshot visible and durable.
// Destroying a stage that was not published removes everything it made. A snapshot of the same
// name appearing meanwhile makes publish() fail with kAlreadyExists.
//
// Thread-safety: dirtied() may be called concurrently with everything else; precopy, cut and
// publish are called by one thread, in that order (precopy may be skipped).
#pragma once

#include <cstdint>
#include <memory>
#include <stop_token>
#include <string>

#include "tandem/common/status.h"

namespace tandem::devices {

class StorageProvider;

class SnapshotStaging {
 public:
  virtual ~SnapshotStaging() = default;

  // [offset, offset + length) of the volume was written after stageSnapshot returned.
  virtual void dirtied(uint64_t offset, uint64_t length) = 0;
  // Copies the volume, then what was dirtied meanwhile, until little is left to copy at the cut,
  // the copy stops converging, or `stop` is requested (then it returns ok at once: the cut does
  // what is left).
  virtual Status precopy(std::stop_token stop = {}) = 0;
  // Called with writes held back and the volume flushed: copies what is still dirty (and what
  // precopy did not reach). After it, later writes no longer matter to the snapshot.
  virtual Status cut() = 0;
  // Makes the snapshot durable and visible under its name.
  virtual Status publish() = 0;

  // How much the cut had to copy, for logs and benchmarks: bytes, and chunks.
  struct CutStats {
    uint64_t bytes = 0;
    uint64_t ranges = 0;
    unsigned precopy_passes = 0;
  };
  virtual CutStats cutStats() const = 0;
};

// The stage of a provider whose snapshot is cheap: precopy does nothing, cut() calls
// provider.snapshot(volume, snapshot), publish() does nothing. `provider` must outlive it.
std::unique_ptr<SnapshotStaging> makeSnapshotAtCut(StorageProvider& provider, std::string volume,
                                                   std::string snapshot);

}  // namespace tandem::devices
