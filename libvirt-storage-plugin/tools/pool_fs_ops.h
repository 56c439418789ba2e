// The FUSE low-level operations of tandem-pool-fs: thin glue from FUSE requests to PoolFs.
// rename, link, symlink, mknod, mkdir and rmdir are refused (EPERM); ioctl answers ENOTTY
// (libvirt's BLKBSZGET probe). Files opened with O_DIRECT bypass the page cache (direct_io).
#pragma once

#define FUSE_USE_VERSION 35
#include <fuse_lowlevel.h>

#include <chrono>

#include "tandem/poolfs/pool_fs.h"

namespace tandem::poolfs {

struct FuseTuning {
  std::chrono::milliseconds attr_timeout{1000};  // how long the kernel keeps attributes/entries
  bool writeback_cache = false;  // FUSE_CAP_WRITEBACK_CACHE (see bench/poolfs/README.md)
  bool splice = false;           // FUSE_CAP_SPLICE_READ/WRITE/MOVE
  unsigned max_write = 1 << 20;  // bytes per WRITE request
};

// fuse_session_new's userdata must be a FuseContext that outlives the session.
struct FuseContext {
  PoolFs* fs = nullptr;
  FuseTuning tuning;
};

const fuse_lowlevel_ops& poolFuseOperations();

}  // namespace tandem::poolfs
