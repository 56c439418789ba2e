// cloneFile: makes `dst` a copy of the regular file `src`, sharing blocks when it can.
//
// First tries ioctl(FICLONE) (a reflink: XFS with reflink=1, btrfs; instant, no space used).
// Where the file system cannot (EOPNOTSUPP, EXDEV, EINVAL, ENOTTY), it copies only the data
// extents found with SEEK_DATA/SEEK_HOLE, and skips all-zero chunks inside them, so the copy
// keeps the original's holes. The copy is fdatasync'ed before returning.
//
// `dst` must not exist (it is created 0600 with O_EXCL). On failure `dst` is removed, so no
// partial copy is left behind. Errors carry the failing path; ENOSPC becomes kNoSpace.
// Thread-safe (no shared state).
#pragma once

#include <string>

#include "tandem/common/status.h"
#include "tandem/devices/storage_provider.h"

namespace tandem::devices {

enum class CloneMethod { kReflink, kSparseCopy };

struct CloneOptions {
  bool allow_reflink = true;  // false forces the sparse copy (tests, benchmarks)
  uint64_t chunk_bytes = 1 << 20;
};

Result<CloneMethod> cloneFile(const std::string& src, const std::string& dst, const ProgressFn& progress,
                              const CloneOptions& options = {});

// Whether `dir`'s file system supports FICLONE (probes with two temporary files there).
bool supportsReflink(const std::string& dir);

}  // namespace tandem::devices
