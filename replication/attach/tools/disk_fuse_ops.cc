#include "disk_fuse_ops.h"

#include <fcntl.h>
#include <linux/falloc.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <vector>

namespace tandem::attach {
namespace {

constexpr fuse_ino_t kDiskIno = 2;
constexpr double kAttrTimeout = 3600.0;  // changes only by a grow, which invalidates it

NbdConnectionPool& pool(fuse_req_t req) { return *static_cast<NbdConnectionPool*>(fuse_req_userdata(req)); }

bool fillAttr(NbdConnectionPool& p, fuse_ino_t ino, struct stat* st) {
  std::memset(st, 0, sizeof *st);
  st->st_ino = ino;
  if (ino == FUSE_ROOT_ID) {
    st->st_mode = S_IFDIR | 0755;
    st->st_nlink = 2;
    return true;
  }
  if (ino != kDiskIno) return false;
  st->st_mode = S_IFREG | 0600;
  st->st_nlink = 1;
  st->st_size = static_cast<off_t>(p.sizeBytes());
  st->st_blksize = 4096;
  st->st_blocks = static_cast<blkcnt_t>(p.sizeBytes() / 512);
  return true;
}

void opInit(void*, fuse_conn_info* conn) {
  conn->want &= ~FUSE_CAP_WRITEBACK_CACHE;
  if (conn->capable & FUSE_CAP_ASYNC_DIO) conn->want |= FUSE_CAP_ASYNC_DIO;
  // The loop device's direct I/O arrives as background requests; the kernel's default of 12 in
  // flight caps queue depth below what a deep fio/VM queue offers.
  conn->max_background = 64;
  conn->congestion_threshold = 48;
}

void opLookup(fuse_req_t req, fuse_ino_t parent, const char* name) {
  if (parent != FUSE_ROOT_ID || std::strcmp(name, std::string(kDiskFile).c_str()) != 0) {
    fuse_reply_err(req, ENOENT);
    return;
  }
  fuse_entry_param e{};
  e.ino = kDiskIno;
  e.attr_timeout = kAttrTimeout;
  e.entry_timeout = kAttrTimeout;
  fillAttr(pool(req), kDiskIno, &e.attr);
  fuse_reply_entry(req, &e);
}

void opGetattr(fuse_req_t req, fuse_ino_t ino, fuse_file_info*) {
  struct stat st;
  if (!fillAttr(pool(req), ino, &st)) {
    fuse_reply_err(req, ENOENT);
    return;
  }
  fuse_reply_attr(req, &st, kAttrTimeout);
}

void opSetattr(fuse_req_t req, fuse_ino_t ino, struct stat* attr, int to_set, fuse_file_info*) {
  struct stat st;
  if (!fillAttr(pool(req), ino, &st)) {
    fuse_reply_err(req, ENOENT);
    return;
  }
  if ((to_set & FUSE_SET_ATTR_SIZE) && attr->st_size != st.st_size) {
    fuse_reply_err(req, EPERM);  // the volume's size is the controller's to change
    return;
  }
  fuse_reply_attr(req, &st, kAttrTimeout);  // ownership/mode/times: accepted, not stored
}

void opReaddir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, fuse_file_info*) {
  if (ino != FUSE_ROOT_ID) {
    fuse_reply_err(req, ENOTDIR);
    return;
  }
  struct Entry {
    const char* name;
    fuse_ino_t ino;
    mode_t mode;
  };
  const std::string disk(kDiskFile);
  const Entry entries[] = {
      {".", FUSE_ROOT_ID, S_IFDIR}, {"..", FUSE_ROOT_ID, S_IFDIR}, {disk.c_str(), kDiskIno, S_IFREG}};
  std::vector<char> buf(size);
  size_t used = 0;
  for (off_t i = off; i < 3; ++i) {
    struct stat st {};
    st.st_ino = entries[i].ino;
    st.st_mode = entries[i].mode;
    size_t need = fuse_add_direntry(req, buf.data() + used, size - used, entries[i].name, &st, i + 1);
    if (need > size - used) break;
    used += need;
  }
  fuse_reply_buf(req, buf.data(), used);
}

void opOpen(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
  if (ino != kDiskIno) {
    fuse_reply_err(req, EISDIR);
    return;
  }
  fi->direct_io = 1;
  fi->keep_cache = 0;
  fuse_reply_open(req, fi);
}

void opRead(fuse_req_t req, fuse_ino_t, size_t size, off_t off, fuse_file_info*) {
  NbdConnectionPool& p = pool(req);
  uint64_t offset = static_cast<uint64_t>(off);
  if (off < 0 || offset >= p.sizeBytes()) {
    fuse_reply_buf(req, nullptr, 0);
    return;
  }
  size = static_cast<size_t>(std::min<uint64_t>(size, p.sizeBytes() - offset));
  thread_local std::vector<char> buf;
  if (buf.size() < size) buf.resize(size);
  int err = p.pread(buf.data(), size, offset);
  if (err != 0) {
    fuse_reply_err(req, err);
    return;
  }
  fuse_reply_buf(req, buf.data(), size);
}

void opWrite(fuse_req_t req, fuse_ino_t, const char* data, size_t size, off_t off, fuse_file_info*) {
  NbdConnectionPool& p = pool(req);
  uint64_t offset = static_cast<uint64_t>(off);
  if (off < 0 || offset > p.sizeBytes() || size > p.sizeBytes() - offset) {
    fuse_reply_err(req, ENOSPC);  // the file cannot grow
    return;
  }
  int err = p.pwrite(data, size, offset);
  if (err != 0) {
    fuse_reply_err(req, err);
    return;
  }
  fuse_reply_write(req, size);
}

void opFlush(fuse_req_t req, fuse_ino_t, fuse_file_info*) {
  fuse_reply_err(req, 0);
}  // close(2): nothing buffered

void opFsync(fuse_req_t req, fuse_ino_t, int, fuse_file_info*) { fuse_reply_err(req, pool(req).flush()); }

void opRelease(fuse_req_t req, fuse_ino_t, fuse_file_info*) { fuse_reply_err(req, 0); }

void opFallocate(fuse_req_t req, fuse_ino_t, int mode, off_t off, off_t length, fuse_file_info*) {
  NbdConnectionPool& p = pool(req);
  constexpr int kKnown = FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE | FALLOC_FL_ZERO_RANGE;
  if ((mode & ~kKnown) != 0 || off < 0 || length <= 0) {
    fuse_reply_err(req, (mode & ~kKnown) != 0 ? EOPNOTSUPP : EINVAL);
    return;
  }
  uint64_t offset = static_cast<uint64_t>(off), len = static_cast<uint64_t>(length);
  bool zeroing = mode & (FALLOC_FL_PUNCH_HOLE | FALLOC_FL_ZERO_RANGE);
  if (offset >= p.sizeBytes() || len > p.sizeBytes() - offset) {
    // Past the end: the file cannot grow; with KEEP_SIZE the part past the end is ignored.
    if (!(mode & FALLOC_FL_KEEP_SIZE)) {
      fuse_reply_err(req, EFBIG);
      return;
    }
    len = offset >= p.sizeBytes() ? 0 : p.sizeBytes() - offset;
  }
  if (!zeroing || len == 0) {
    fuse_reply_err(req, 0);
    return;
  }
  fuse_reply_err(req, p.zero(offset, len, (mode & FALLOC_FL_ZERO_RANGE) != 0));
}

fuse_lowlevel_ops makeOps() {
  fuse_lowlevel_ops ops{};
  ops.init = opInit;
  ops.lookup = opLookup;
  ops.getattr = opGetattr;
  ops.setattr = opSetattr;
  ops.readdir = opReaddir;
  ops.open = opOpen;
  ops.read = opRead;
  ops.write = opWrite;
  ops.flush = opFlush;
  ops.fsync = opFsync;
  ops.release = opRelease;
  ops.fallocate = opFallocate;
  return ops;
}

}  // namespace

const fuse_lowlevel_ops& diskFuseOperations() {
  static const fuse_lowlevel_ops ops = makeOps();
  return ops;
}

void invalidateDiskAttributes(fuse_session* se) {
  int rc = fuse_lowlevel_notify_inval_inode(se, kDiskIno, 0, 0);
  if (rc != 0 && rc != -ENOENT) {  // ENOENT: the kernel has not looked the file up yet
    std::fprintf(stderr, "tandem-disk-fuse: invalidating the disk's attributes failed: %s\n", std::strerror(-rc));
  }
}

}  // namespace tandem::attach
