#include "pool_fs_ops.h"

#include <fcntl.h>

#include <cerrno>
#include <cstring>
#include <vector>

namespace tandem::poolfs {
namespace {

FuseContext& ctx(fuse_req_t req) { return *static_cast<FuseContext*>(fuse_req_userdata(req)); }
PoolFs& fs(fuse_req_t req) { return *ctx(req).fs; }
double timeout(fuse_req_t req) { return static_cast<double>(ctx(req).tuning.attr_timeout.count()) / 1000.0; }

void replyEntry(fuse_req_t req, const struct stat& st) {
  fuse_entry_param e{};
  e.ino = st.st_ino;
  e.attr = st;
  e.attr_timeout = timeout(req);
  e.entry_timeout = timeout(req);
  fuse_reply_entry(req, &e);
}

void opInit(void* userdata, fuse_conn_info* conn) {
  const FuseTuning& t = static_cast<FuseContext*>(userdata)->tuning;
  if (t.writeback_cache && (conn->capable & FUSE_CAP_WRITEBACK_CACHE)) {
    conn->want |= FUSE_CAP_WRITEBACK_CACHE;
  } else {
    conn->want &= ~FUSE_CAP_WRITEBACK_CACHE;
  }
  if (t.splice) {
    conn->want |= conn->capable & (FUSE_CAP_SPLICE_READ | FUSE_CAP_SPLICE_WRITE | FUSE_CAP_SPLICE_MOVE);
  }
  if (conn->capable & FUSE_CAP_ASYNC_DIO) conn->want |= FUSE_CAP_ASYNC_DIO;
  conn->max_write = t.max_write;
  conn->max_read = t.max_write;  // must equal the max_read mount option
  conn->max_readahead = t.max_write;
  conn->max_background = 64;
  conn->congestion_threshold = 48;
}

void opLookup(fuse_req_t req, fuse_ino_t parent, const char* name) {
  struct stat st;
  if (int err = fs(req).lookup(parent, name, &st); err != 0) {
    fuse_reply_err(req, err);
    return;
  }
  replyEntry(req, st);
}

void opGetattr(fuse_req_t req, fuse_ino_t ino, fuse_file_info*) {
  struct stat st;
  if (int err = fs(req).getattr(ino, &st); err != 0) {
    fuse_reply_err(req, err);
    return;
  }
  fuse_reply_attr(req, &st, timeout(req));
}

void opSetattr(fuse_req_t req, fuse_ino_t ino, struct stat* attr, int to_set, fuse_file_info*) {
  SetAttrRequest r;
  if (to_set & FUSE_SET_ATTR_SIZE) r.size = static_cast<uint64_t>(attr->st_size);
  if (to_set & FUSE_SET_ATTR_MODE) r.mode = attr->st_mode;
  if (to_set & FUSE_SET_ATTR_UID) r.uid = attr->st_uid;
  if (to_set & FUSE_SET_ATTR_GID) r.gid = attr->st_gid;
  if ((to_set & FUSE_SET_ATTR_SIZE) && attr->st_size < 0) {
    fuse_reply_err(req, EINVAL);
    return;
  }
  struct stat st;
  if (int err = fs(req).setattr(ino, r, &st); err != 0) {
    fuse_reply_err(req, err);
    return;
  }
  fuse_reply_attr(req, &st, timeout(req));  // times: accepted, not kept
}

void opOpendir(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
  auto entries = std::make_unique<std::vector<DirEntry>>();
  if (int err = fs(req).readdir(ino, entries.get()); err != 0) {
    fuse_reply_err(req, err);
    return;
  }
  fi->fh = reinterpret_cast<uint64_t>(entries.release());
  if (fuse_reply_open(req, fi) != 0) delete reinterpret_cast<std::vector<DirEntry>*>(fi->fh);
}

void opReaddir(fuse_req_t req, fuse_ino_t, size_t size, off_t off, fuse_file_info* fi) {
  const auto& entries = *reinterpret_cast<std::vector<DirEntry>*>(fi->fh);
  std::vector<char> buf(size);
  size_t used = 0;
  for (size_t i = static_cast<size_t>(off); i < entries.size(); ++i) {
    struct stat st {};
    st.st_ino = entries[i].ino;
    st.st_mode = entries[i].type;
    size_t need = fuse_add_direntry(req, buf.data() + used, size - used, entries[i].name.c_str(), &st,
                                    static_cast<off_t>(i + 1));
    if (need > size - used) break;
    used += need;
  }
  fuse_reply_buf(req, buf.data(), used);
}

void opReleasedir(fuse_req_t req, fuse_ino_t, fuse_file_info* fi) {
  delete reinterpret_cast<std::vector<DirEntry>*>(fi->fh);
  fuse_reply_err(req, 0);
}

void setOpenFlags(fuse_file_info* fi) {
  // O_DIRECT (libvirt's cache='none') skips the page cache; other opens use it, dropped at open.
  fi->direct_io = (fi->flags & O_DIRECT) ? 1 : 0;
  fi->keep_cache = 0;
}

void opCreate(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode, fuse_file_info* fi) {
  const fuse_ctx* c = fuse_req_ctx(req);
  struct stat st;
  if (int err = fs(req).create(parent, name, mode, c->uid, c->gid, fi->flags, &st); err != 0) {
    fuse_reply_err(req, err);
    return;
  }
  setOpenFlags(fi);
  fuse_entry_param e{};
  e.ino = st.st_ino;
  e.attr = st;
  e.attr_timeout = timeout(req);
  e.entry_timeout = timeout(req);
  if (fuse_reply_create(req, &e, fi) != 0) fs(req).release(st.st_ino, fi->flags);
}

void opOpen(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
  if (ino == PoolFs::kRootIno || ino == PoolFs::kVolumesIno) {
    fuse_reply_err(req, EISDIR);
    return;
  }
  if (int err = fs(req).open(ino, fi->flags); err != 0) {
    fuse_reply_err(req, err);
    return;
  }
  setOpenFlags(fi);
  if (fuse_reply_open(req, fi) != 0) fs(req).release(ino, fi->flags);
}

void opRead(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, fuse_file_info*) {
  thread_local std::vector<char> buf;
  if (buf.size() < size) buf.resize(size);
  size_t got = 0;
  if (int err = fs(req).read(ino, buf.data(), size, static_cast<uint64_t>(off), &got); err != 0) {
    fuse_reply_err(req, err);
    return;
  }
  fuse_reply_buf(req, buf.data(), got);
}

void opWrite(fuse_req_t req, fuse_ino_t ino, const char* data, size_t size, off_t off, fuse_file_info*) {
  if (int err = fs(req).write(ino, data, size, static_cast<uint64_t>(off)); err != 0) {
    fuse_reply_err(req, err);
    return;
  }
  fuse_reply_write(req, size);
}

void opFlush(fuse_req_t req, fuse_ino_t, fuse_file_info*) { fuse_reply_err(req, 0); }

void opFsync(fuse_req_t req, fuse_ino_t ino, int, fuse_file_info*) { fuse_reply_err(req, fs(req).fsync(ino)); }

void opRelease(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
  fs(req).release(ino, fi->flags);
  fuse_reply_err(req, 0);
}

void opFallocate(fuse_req_t req, fuse_ino_t ino, int mode, off_t off, off_t length, fuse_file_info*) {
  if (off < 0 || length <= 0) {
    fuse_reply_err(req, EINVAL);
    return;
  }
  fuse_reply_err(req, fs(req).fallocate(ino, mode, static_cast<uint64_t>(off), static_cast<uint64_t>(length)));
}

void opUnlink(fuse_req_t req, fuse_ino_t parent, const char* name) { fuse_reply_err(req, fs(req).unlink(parent, name)); }

void opStatfs(fuse_req_t req, fuse_ino_t) {
  struct statvfs st;
  if (int err = fs(req).statfs(&st); err != 0) {
    fuse_reply_err(req, err);
    return;
  }
  fuse_reply_statfs(req, &st);
}

void opRename(fuse_req_t req, fuse_ino_t, const char*, fuse_ino_t, const char*, unsigned) {
  fuse_reply_err(req, EPERM);  // a volume's name is its identity in the cluster
}
void opMkdir(fuse_req_t req, fuse_ino_t, const char*, mode_t) { fuse_reply_err(req, EPERM); }
void opRmdir(fuse_req_t req, fuse_ino_t, const char*) { fuse_reply_err(req, EPERM); }
void opMknod(fuse_req_t req, fuse_ino_t, const char*, mode_t, dev_t) { fuse_reply_err(req, EPERM); }
void opSymlink(fuse_req_t req, const char*, fuse_ino_t, const char*) { fuse_reply_err(req, EPERM); }
void opLink(fuse_req_t req, fuse_ino_t, fuse_ino_t, const char*) { fuse_reply_err(req, EPERM); }

void opIoctl(fuse_req_t req, fuse_ino_t, unsigned int, void*, fuse_file_info*, unsigned, const void*, size_t,
             size_t) {
  fuse_reply_err(req, ENOTTY);
}

fuse_lowlevel_ops makeOps() {
  fuse_lowlevel_ops ops{};
  ops.init = opInit;
  ops.lookup = opLookup;
  ops.getattr = opGetattr;
  ops.setattr = opSetattr;
  ops.opendir = opOpendir;
  ops.readdir = opReaddir;
  ops.releasedir = opReleasedir;
  ops.create = opCreate;
  ops.open = opOpen;
  ops.read = opRead;
  ops.write = opWrite;
  ops.flush = opFlush;
  ops.fsync = opFsync;
  ops.release = opRelease;
  ops.fallocate = opFallocate;
  ops.unlink = opUnlink;
  ops.statfs = opStatfs;
  ops.rename = opRename;
  ops.mkdir = opMkdir;
  ops.rmdir = opRmdir;
  ops.mknod = opMknod;
  ops.symlink = opSymlink;
  ops.link = opLink;
  ops.ioctl = opIoctl;
  return ops;
}

}  // namespace

const fuse_lowlevel_ops& poolFuseOperations() {
  static const fuse_lowlevel_ops ops = makeOps();
  return ops;
}

}  // namespace tandem::poolfs
