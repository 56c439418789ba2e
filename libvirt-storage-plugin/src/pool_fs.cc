#include "tandem/poolfs/pool_fs.h"

#include <fcntl.h>
#include <linux/falloc.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <thread>

#include "tandem/common/log.h"
#include "tandem/common/object_name.h"

namespace tandem::poolfs {
namespace {

constexpr std::string_view kLog = "pool-fs";
constexpr uint64_t kSector = 512;

// The errno a failed controller call becomes.
int errnoOf(const Status& s) {
  switch (s.code()) {
    case ErrorCode::kNotFound: return ENOENT;
    case ErrorCode::kConflict:
    case ErrorCode::kAlreadyExists: return EBUSY;
    case ErrorCode::kNoSpace: return ENOSPC;
    case ErrorCode::kUnprocessable:
      return s.reason() == "no_space" || s.reason() == "volume_too_large" || s.reason() == "not_enough_nodes" ? ENOSPC
                                                                                                             : EINVAL;
    case ErrorCode::kInvalidArgument: return EINVAL;
    case ErrorCode::kUnauthenticated:
    case ErrorCode::kPermissionDenied: return EACCES;
    case ErrorCode::kTimeout: return ETIMEDOUT;
    default: return EIO;
  }
}

bool isWriting(int flags) { return (flags & O_ACCMODE) != O_RDONLY; }

}  // namespace

PoolFs::PoolFs(PoolFsOptions options, VolumeApi& api, AttrStore& attrs, VolumeIoFactory connect, const Clock& clock)
    : options_(std::move(options)), api_(api), attrs_(attrs), connect_(std::move(connect)), clock_(clock) {
  mounted_at_ = std::chrono::system_clock::to_time_t(clock_.wallNow());
}

PoolFs::~PoolFs() = default;

Status PoolFs::start() {
  std::lock_guard lock(mu_);
  ASSIGN_OR_RETURN(group_, api_.getGroup(options_.group));
  return refreshLocked(true);
}

void PoolFs::shutdown() {
  std::lock_guard lock(mu_);
  for (auto& [name, e] : entries_) {
    e.io.reset();
    if (e.attached_here) detachLocked(e);
  }
}

bool PoolFs::pastDeadline(std::chrono::steady_clock::time_point deadline) const {
  return clock_.steadyNow() >= deadline;
}

void PoolFs::pause() const { std::this_thread::sleep_for(options_.poll_interval); }

uint64_t PoolFs::inoFor(const std::string& name) {
  auto [it, inserted] = inos_.emplace(name, next_ino_);
  if (inserted) ++next_ino_;
  return it->second;
}

Status PoolFs::refreshLocked(bool force) {
  auto now = clock_.steadyNow();
  if (!force && listed_at_ && now - *listed_at_ < options_.metadata_ttl) return Status::ok();
  auto volumes = api_.listVolumes();
  if (!volumes.isOk()) {
    log::warn(kLog, "listing volumes: " + volumes.status().toString());
    return volumes.status();
  }
  listed_at_ = now;
  std::map<std::string, const VolumeView*> listed;
  for (const auto& v : *volumes) {
    if (v.resource_group == options_.group) listed[v.name] = &v;
  }
  for (auto it = entries_.begin(); it != entries_.end();) {
    Entry& e = it->second;
    bool gone = listed.find(e.name) == listed.end();
    // A pending file has no volume yet; an open one stays until released (its I/O then fails).
    if (gone && !e.pending() && e.opens == 0) {
      it = entries_.erase(it);
    } else {
      ++it;
    }
  }
  for (const auto& [name, v] : listed) {
    Entry& e = entries_[name];
    if (e.ino == 0) {
      e.ino = inoFor(name);
      e.name = name;
    }
    if (e.uuid != v->uuid) e.wiped = false;  // another volume of the same name
    e.uuid = v->uuid;
    e.size_bytes = v->size_bytes;
    e.allocated_bytes = v->allocated_bytes;
    e.attached_hosts = v->attached_hosts;
    e.nbd_uri = v->nbd_uri;
  }
  return Status::ok();
}

PoolFs::Entry* PoolFs::byIno(uint64_t ino) {
  for (auto& [name, e] : entries_) {
    if (e.ino == ino) return &e;
  }
  return nullptr;
}

PoolFs::Entry* PoolFs::byName(const std::string& name) {
  auto it = entries_.find(name);
  return it == entries_.end() ? nullptr : &it->second;
}

void PoolFs::fillDirAttr(uint64_t ino, struct stat* st) const {
  std::memset(st, 0, sizeof *st);
  st->st_ino = ino;
  st->st_mode = S_IFDIR | 0755;
  st->st_nlink = 2;
  st->st_blksize = 4096;
  st->st_atime = st->st_mtime = st->st_ctime = mounted_at_;
}

void PoolFs::fillAttr(const Entry& e, struct stat* st) const {
  std::memset(st, 0, sizeof *st);
  FileAttrs a = e.pending() ? e.pending_attrs : attrs_.get(e.uuid, FileAttrs{});
  st->st_ino = e.ino;
  st->st_mode = S_IFREG | (a.mode & 07777);
  st->st_uid = a.uid;
  st->st_gid = a.gid;
  st->st_nlink = 1;
  st->st_size = static_cast<off_t>(e.shownSize());
  st->st_blksize = 4096;
  uint64_t allocated = e.wiped ? 0 : e.allocated_bytes.value_or(e.size_bytes);
  st->st_blocks = static_cast<blkcnt_t>((allocated + kSector - 1) / kSector);
  st->st_atime = st->st_mtime = st->st_ctime = mounted_at_;
}

int PoolFs::lookup(uint64_t parent, const std::string& name, struct stat* st) {
  std::lock_guard lock(mu_);
  if (parent == kRootIno) {
    if (name != kVolumesDir) return ENOENT;
    fillDirAttr(kVolumesIno, st);
    return 0;
  }
  if (parent != kVolumesIno) return ENOTDIR;
  (void)refreshLocked(false);
  Entry* e = byName(name);
  if (e == nullptr) return ENOENT;
  fillAttr(*e, st);
  return 0;
}

int PoolFs::getattr(uint64_t ino, struct stat* st) {
  std::lock_guard lock(mu_);
  if (ino == kRootIno || ino == kVolumesIno) {
    fillDirAttr(ino, st);
    return 0;
  }
  (void)refreshLocked(false);
  Entry* e = byIno(ino);
  if (e == nullptr) return ENOENT;
  fillAttr(*e, st);
  return 0;
}

int PoolFs::readdir(uint64_t ino, std::vector<DirEntry>* out) {
  std::lock_guard lock(mu_);
  out->clear();
  if (ino == kRootIno) {
    *out = {{".", kRootIno, S_IFDIR}, {"..", kRootIno, S_IFDIR}, {kVolumesDir, kVolumesIno, S_IFDIR}};
    return 0;
  }
  if (ino != kVolumesIno) return ENOTDIR;
  if (Status s = refreshLocked(false); !s.isOk() && !listed_at_) return errnoOf(s);
  *out = {{".", kVolumesIno, S_IFDIR}, {"..", kRootIno, S_IFDIR}};
  for (const auto& [name, e] : entries_) out->push_back({name, e.ino, S_IFREG});
  return 0;
}

int PoolFs::setattr(uint64_t ino, const SetAttrRequest& request, struct stat* st) {
  std::lock_guard lock(mu_);
  if (ino == kRootIno || ino == kVolumesIno) {
    // libvirt's pool-build chmods/chowns the pool directory: accepted, not kept.
    if (request.size) return EISDIR;
    fillDirAttr(ino, st);
    return 0;
  }
  Entry* e = byIno(ino);
  if (e == nullptr) return ENOENT;
  if (request.size) {
    if (int err = truncateLocked(*e, *request.size); err != 0) return err;
  }
  if (request.mode || request.uid || request.gid) {
    FileAttrs a = e->pending() ? e->pending_attrs : attrs_.get(e->uuid, FileAttrs{});
    if (request.mode) a.mode = *request.mode & 07777;
    if (request.uid) a.uid = *request.uid;
    if (request.gid) a.gid = *request.gid;
    if (e->pending()) {
      e->pending_attrs = a;
    } else if (Status s = attrs_.set(e->uuid, a); !s.isOk()) {
      log::error(kLog, "storing the attributes of " + e->name + ": " + s.toString());
      return EIO;
    }
  }
  fillAttr(*e, st);
  return 0;
}

int PoolFs::create(uint64_t parent, const std::string& name, mode_t mode, uid_t uid, gid_t gid, int flags,
                   struct stat* st) {
  std::lock_guard lock(mu_);
  if (parent != kVolumesIno) return parent == kRootIno ? EACCES : ENOTDIR;
  if (name.size() > kMaxObjectNameLength) return ENAMETOOLONG;
  if (!isValidObjectName(name)) return EINVAL;
  if (Status s = refreshLocked(true); !s.isOk()) return errnoOf(s);
  if (byName(name) != nullptr) return EEXIST;
  if (isWriting(flags) && options_.node_name.empty()) return EROFS;
  Entry& e = entries_[name];
  e.ino = inoFor(name);
  e.name = name;
  e.pending_attrs = FileAttrs{static_cast<mode_t>(mode & 07777), uid, gid};
  e.opens = 1;
  e.writers = isWriting(flags) ? 1 : 0;
  log::info(kLog, "created file " + name + " (the volume is created by the first ftruncate)");
  fillAttr(e, st);
  return 0;
}

int PoolFs::open(uint64_t ino, int flags) {
  std::lock_guard lock(mu_);
  Entry* e = byIno(ino);
  if (e == nullptr) return ENOENT;
  bool writing = isWriting(flags);
  if (writing && options_.node_name.empty()) return EROFS;
  if (!e->pending()) {
    if (writing && !e->attached_here) {
      if (int err = attachLocked(*e); err != 0) return err;
    } else if (!e->io) {
      (void)refreshLocked(true);
      auto endpoint = parseNbdUri(e->nbd_uri);
      if (!endpoint.isOk()) {
        log::warn(kLog, "volume " + e->name + " has no NBD export now: " + endpoint.status().toString());
        return EIO;
      }
      if (int err = connectLocked(*e, *endpoint); err != 0) return err;
    }
  }
  ++e->opens;
  if (writing) ++e->writers;
  return 0;
}

void PoolFs::release(uint64_t ino, int flags) {
  std::lock_guard lock(mu_);
  Entry* e = byIno(ino);
  if (e == nullptr) return;
  if (e->opens > 0) --e->opens;
  if (isWriting(flags) && e->writers > 0) --e->writers;
  if (e->writers == 0 && e->attached_here) {
    if (e->io) {
      if (int err = e->io->flush(); err != 0) log::warn(kLog, "flush of " + e->name + " at release: " + std::strerror(err));
    }
    // The primary stays here after the detach: readers still open keep their connections.
    detachLocked(*e);
  }
  if (e->opens == 0) e->io.reset();
}

int PoolFs::attachLocked(Entry& e) {
  auto attached = api_.attach(e.name, options_.node_name, true);
  if (!attached.isOk()) {
    log::warn(kLog, "attaching " + e.name + " here: " + attached.status().toString());
    return errnoOf(attached.status());
  }
  e.attached_here = true;
  auto deadline = clock_.steadyNow() + options_.wait_timeout;
  AttachmentView view = *attached;
  while (view.state != "attached" || view.endpoint.export_name.empty()) {
    if (view.state == "error" || pastDeadline(deadline)) {
      log::warn(kLog, "attachment of " + e.name + " not ready: " + view.state + " " + view.reason);
      detachLocked(e);
      return EIO;
    }
    pause();
    auto again = api_.getAttachment(e.name, options_.node_name);
    if (!again.isOk()) {
      detachLocked(e);
      return errnoOf(again.status());
    }
    view = *again;
  }
  if (int err = connectLocked(e, view.endpoint); err != 0) {
    detachLocked(e);
    return err;
  }
  log::info(kLog, "volume " + e.name + " attached here, I/O to " + view.endpoint.describe());
  return 0;
}

void PoolFs::detachLocked(Entry& e) {
  e.attached_here = false;
  Status s = api_.detach(e.name, options_.node_name);
  if (!s.isOk() && s.code() != ErrorCode::kNotFound) log::warn(kLog, "detaching " + e.name + ": " + s.toString());
  listed_at_.reset();
}

int PoolFs::connectLocked(Entry& e, const attach::NbdEndpoint& endpoint) {
  e.io.reset();
  auto deadline = clock_.steadyNow() + options_.wait_timeout;
  for (;;) {
    auto io = connect_(endpoint, e.name, e.size_bytes);
    if (io.isOk()) {
      e.io = std::move(io).value();
      e.endpoint = endpoint;
      return 0;
    }
    if (pastDeadline(deadline)) {
      log::warn(kLog, "connecting to volume " + e.name + ": " + io.status().toString());
      return EIO;
    }
    pause();
  }
}

int PoolFs::createVolumeLocked(Entry& e, uint64_t size) {
  auto created = api_.createVolume(e.name, options_.group, size);
  if (!created.isOk()) {
    log::warn(kLog, "creating volume " + e.name + ": " + created.status().toString());
    return errnoOf(created.status());
  }
  e.uuid = created->uuid;
  e.size_bytes = created->size_bytes;
  if (Status s = attrs_.set(e.uuid, e.pending_attrs); !s.isOk()) log::error(kLog, s.toString());
  auto deadline = clock_.steadyNow() + options_.wait_timeout;
  for (VolumeView v = *created; v.state != "available" && v.state != "attached";) {
    if (pastDeadline(deadline)) {
      log::warn(kLog, "volume " + e.name + " still " + v.state + " after the wait timeout");
      return EIO;
    }
    pause();
    auto again = api_.getVolume(e.name);
    if (!again.isOk()) return errnoOf(again.status());
    v = *again;
  }
  log::info(kLog, "created volume " + e.name + " of " + std::to_string(size) + " bytes");
  listed_at_.reset();
  return e.writers > 0 ? attachLocked(e) : 0;
}

int PoolFs::growLocked(Entry& e, uint64_t size) {
  auto grown = api_.growVolume(e.name, size);
  if (!grown.isOk()) {
    log::warn(kLog, "growing volume " + e.name + ": " + grown.status().toString());
    return errnoOf(grown.status());
  }
  e.size_bytes = grown->size_bytes;
  e.wiped = false;
  log::info(kLog, "grew volume " + e.name + " to " + std::to_string(e.size_bytes) + " bytes");
  // NBD clients see the new size after reconnecting.
  if (e.io) return connectLocked(e, e.endpoint);
  return 0;
}

int PoolFs::truncateLocked(Entry& e, uint64_t size) {
  if (size % kSector != 0) {
    log::warn(kLog, "ftruncate of " + e.name + " to " + std::to_string(size) + " refused: not a multiple of 512");
    return EINVAL;
  }
  if (e.pending()) return size == 0 ? 0 : createVolumeLocked(e, size);
  if (size == e.shownSize()) return 0;
  if (size == 0) {
    if (!e.attached_here && !e.attached_hosts.empty()) return EBUSY;  // someone else writes it
    std::shared_ptr<VolumeIo> io = e.io;
    if (!io) {
      auto endpoint = parseNbdUri(e.nbd_uri);
      if (!endpoint.isOk()) return EIO;
      auto connected = connect_(*endpoint, e.name, e.size_bytes);
      if (!connected.isOk()) return EIO;
      io = *connected;
    }
    if (int err = io->zero(0, e.size_bytes, !group_.thin); err != 0) return err;
    if (int err = io->flush(); err != 0) return err;
    e.wiped = true;
    log::info(kLog, "ftruncate(0) of " + e.name + ": data discarded, the volume kept");
    return 0;
  }
  if (size == e.size_bytes) {
    e.wiped = false;
    return 0;
  }
  if (size < e.size_bytes) {
    log::warn(kLog, "ftruncate of " + e.name + " to " + std::to_string(size) + " refused: volumes do not shrink (" +
                        std::to_string(e.size_bytes) + " bytes)");
    return EINVAL;
  }
  return growLocked(e, size);
}

std::shared_ptr<VolumeIo> PoolFs::ioOf(uint64_t ino, uint64_t* size) {
  std::lock_guard lock(mu_);
  Entry* e = byIno(ino);
  if (e == nullptr) return nullptr;
  *size = e->shownSize();
  return e->io;
}

int PoolFs::read(uint64_t ino, void* buf, size_t size, uint64_t offset, size_t* got) {
  uint64_t file_size = 0;
  auto io = ioOf(ino, &file_size);
  *got = 0;
  if (offset >= file_size) return 0;
  size = static_cast<size_t>(std::min<uint64_t>(size, file_size - offset));
  if (!io) return EIO;
  if (int err = io->pread(buf, size, offset); err != 0) return err;
  *got = size;
  return 0;
}

int PoolFs::write(uint64_t ino, const void* buf, size_t size, uint64_t offset) {
  uint64_t file_size = 0;
  auto io = ioOf(ino, &file_size);
  if (offset > file_size || size > file_size - offset) return ENOSPC;  // files grow by ftruncate only
  if (!io) return EBADF;
  return io->pwrite(buf, size, offset);
}

int PoolFs::fsync(uint64_t ino) {
  uint64_t file_size = 0;
  auto io = ioOf(ino, &file_size);
  return io ? io->flush() : 0;
}

int PoolFs::fallocate(uint64_t ino, int mode, uint64_t offset, uint64_t length) {
  constexpr int kKnown = FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE | FALLOC_FL_ZERO_RANGE;
  if ((mode & ~kKnown) != 0) return EOPNOTSUPP;
  if (length == 0) return EINVAL;
  std::unique_lock lock(mu_);
  Entry* e = byIno(ino);
  if (e == nullptr) return ENOENT;
  bool zeroing = (mode & (FALLOC_FL_PUNCH_HOLE | FALLOC_FL_ZERO_RANGE)) != 0;
  uint64_t end = offset + length;
  if (!zeroing) {
    // Allocation: thick volumes are fully allocated, thin ones allocate on write; what is
    // left is the size (posix_fallocate extends the file).
    if (!(mode & FALLOC_FL_KEEP_SIZE) && end > e->shownSize()) {
      uint64_t size = (end + kSector - 1) / kSector * kSector;
      return truncateLocked(*e, size);
    }
    return 0;
  }
  uint64_t shown = e->shownSize();
  if (offset >= shown) return 0;
  uint64_t len = std::min(end, shown) - offset;
  std::shared_ptr<VolumeIo> io = e->io;
  lock.unlock();
  if (!io) return EBADF;
  return io->zero(offset, len, (mode & FALLOC_FL_ZERO_RANGE) != 0);
}

int PoolFs::unlink(uint64_t parent, const std::string& name) {
  std::lock_guard lock(mu_);
  if (parent != kVolumesIno) return parent == kRootIno ? EACCES : ENOTDIR;
  (void)refreshLocked(true);
  Entry* e = byName(name);
  if (e == nullptr) return ENOENT;
  if (e->opens > 0) {
    log::warn(kLog, "unlink of " + name + " refused: open here");
    return EBUSY;
  }
  if (e->pending()) {
    entries_.erase(name);
    return 0;
  }
  if (!e->attached_hosts.empty()) {
    log::warn(kLog, "unlink of " + name + " refused: attached on " + e->attached_hosts.front());
    return EBUSY;
  }
  Status s = api_.deleteVolume(name);
  if (!s.isOk()) {
    log::warn(kLog, "deleting volume " + name + ": " + s.toString());
    return errnoOf(s);
  }
  if (Status a = attrs_.erase(e->uuid); !a.isOk()) log::error(kLog, a.toString());
  entries_.erase(name);
  log::info(kLog, "deleted volume " + name);
  return 0;
}

int PoolFs::statfs(struct statvfs* st) {
  std::lock_guard lock(mu_);
  auto pools = api_.listStoragePools();
  if (!pools.isOk()) return errnoOf(pools.status());
  uint64_t total = 0, free = 0;
  for (const auto& p : *pools) {
    if (p.state != "online") continue;
    if (!group_.pools.empty() && std::find(group_.pools.begin(), group_.pools.end(), p.name) == group_.pools.end())
      continue;
    total += p.total_bytes;
    free += p.free_bytes;
  }
  uint64_t replicas = std::max<uint64_t>(1, group_.replicas);
  constexpr uint64_t kBlock = 4096;
  std::memset(st, 0, sizeof *st);
  st->f_bsize = kBlock;
  st->f_frsize = kBlock;
  st->f_blocks = total / replicas / kBlock;
  st->f_bfree = free / replicas / kBlock;
  st->f_bavail = st->f_bfree;
  st->f_files = entries_.size();
  st->f_namemax = kMaxObjectNameLength;
  return 0;
}

}  // namespace tandem::poolfs
