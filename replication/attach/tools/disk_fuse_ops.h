// The FUSE file system of tandem-disk-fuse: a root directory holding one regular file, `disk`,
// whose size is the volume's and whose bytes are the NBD export's.
//
// Opened files use FOPEN_DIRECT_IO: no page cache in front of the daemon, so every write the
// loop device issues reaches NBD before it is acknowledged and a failed write surfaces as EIO
// to the writer (no writeback that could drop an error). fsync -> NBD FLUSH on every connection;
// fallocate PUNCH_HOLE -> NBD WRITE_ZEROES (the server may deallocate), ZERO_RANGE -> NBD
// WRITE_ZEROES with NO_HOLE; plain allocation succeeds without I/O (the volume is fully
// provisioned as far as the file is concerned). The size changes only by an online grow
// (NbdConnectionPool::grow), after which invalidateDiskAttributes drops the kernel's cached size.
#pragma once

#define FUSE_USE_VERSION 35
#include <fuse_lowlevel.h>

#include "tandem/attach/nbd_connection_pool.h"

namespace tandem::attach {

// The operations table; fuse_session_new's userdata must be the NbdConnectionPool.
const fuse_lowlevel_ops& diskFuseOperations();

// Tells the kernel that the disk file's attributes (its size) changed.
void invalidateDiskAttributes(fuse_session* se);

}  // namespace tandem::attach
