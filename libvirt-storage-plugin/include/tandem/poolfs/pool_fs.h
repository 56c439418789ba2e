// PoolFs: the file system of tandem-pool-fs, without FUSE: the volumes of one resource group
// as regular files of the directory `volumes/` (the root holds nothing else, so that an
// unmounted mount point has no `volumes/` and a libvirt pool on <mount>/volumes fails to start
// instead of showing an empty directory). Inode 1 is the root, 2 `volumes/`, 3.. the files
// (stable for the life of the mount, by name).
//
// File semantics (each method returns 0 or a positive errno, what FUSE replies):
//   create (O_CREAT|O_EXCL)  a new, empty file; the first ftruncate to a non-zero size creates the
//                            Tandem volume of that size (a multiple of 512) and waits until it is
//                            available. Names follow the volume-name rule (EINVAL, ENAMETOOLONG).
//   ftruncate larger         grows the volume online (PATCH size_bytes)
//   ftruncate smaller        EINVAL (logged), except ftruncate(0): the data is discarded (NBD
//                            WRITE_ZEROES over the whole volume) and the file shows size 0 until
//                            the next ftruncate back to the volume's size (libvirt's vol-wipe)
//   fallocate                plain: extends the size like ftruncate (unless KEEP_SIZE); a thick
//                            group's volumes are fully allocated already, a thin group's allocate
//                            on write. PUNCH_HOLE/ZERO_RANGE: NBD WRITE_ZEROES. Others EOPNOTSUPP.
//   unlink                   DELETE the volume; EBUSY while open here or attached on any host
//   open for writing         attaches the volume on this host in nbd mode with move_primary (the
//                            primary moves here when this host holds an up-to-date replica) and
//                            connects to the attachment's endpoint (UNIX socket when local); the
//                            last release of a writer detaches. Read-only opens connect to the
//                            primary's export without attaching.
//   read/write               the volume's bytes over NBD; past the end: short read / ENOSPC
//   fsync                    NBD FLUSH
//   chmod/chown              stored in the AttrStore (mode, uid, gid)
//   stat                     size, blocks = what the primary's copy uses (replicas[].allocated_bytes;
//                            the size when the controller does not say),
//                            mode/owner from the AttrStore (default 0600 root)
//   statfs                   the group's capacity and free space: the sums over the storage pools
//                            it may use (online ones), divided by its replica count
//
// Thread-safety: every method may be called from any thread. Metadata changes are serialised
// by one mutex (held across the controller calls they make); reads and writes take it only to
// find the volume's connections.
#pragma once

#include <sys/stat.h>
#include <sys/statvfs.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "tandem/common/clock.h"
#include "tandem/poolfs/attr_store.h"
#include "tandem/poolfs/volume_api.h"
#include "tandem/poolfs/volume_io.h"

namespace tandem::poolfs {

struct PoolFsOptions {
  std::string group;      // the resource group served
  std::string node_name;  // this host's node name; empty: opening for writing is EROFS
  std::chrono::milliseconds metadata_ttl{1000};  // how long a volume listing is reused
  std::chrono::milliseconds wait_timeout{60000};  // volume available, attachment ready, export grown
  std::chrono::milliseconds poll_interval{100};
};

struct SetAttrRequest {
  std::optional<uint64_t> size;
  std::optional<mode_t> mode;
  std::optional<uid_t> uid;
  std::optional<gid_t> gid;
};

struct DirEntry {
  std::string name;
  uint64_t ino = 0;
  mode_t type = 0;  // S_IFDIR or S_IFREG
};

class PoolFs {
 public:
  static constexpr uint64_t kRootIno = 1;
  static constexpr uint64_t kVolumesIno = 2;
  static constexpr const char* kVolumesDir = "volumes";

  PoolFs(PoolFsOptions options, VolumeApi& api, AttrStore& attrs, VolumeIoFactory connect, const Clock& clock);
  ~PoolFs();
  PoolFs(const PoolFs&) = delete;
  PoolFs& operator=(const PoolFs&) = delete;

  // Reads the group (kNotFound when it does not exist) and the first listing.
  Status start();
  // Detaches every attachment this file system still holds (at unmount).
  void shutdown();

  int lookup(uint64_t parent, const std::string& name, struct stat* st);
  int getattr(uint64_t ino, struct stat* st);
  int setattr(uint64_t ino, const SetAttrRequest& request, struct stat* st);
  int readdir(uint64_t ino, std::vector<DirEntry>* entries);
  // Creates `name` and opens it with `flags`; fills its attributes.
  int create(uint64_t parent, const std::string& name, mode_t mode, uid_t uid, gid_t gid, int flags,
             struct stat* st);
  int open(uint64_t ino, int flags);
  // Every successful open/create is matched by one release with the same flags.
  void release(uint64_t ino, int flags);
  // Reads up to `size` bytes; `*got` is less at the end of the file.
  int read(uint64_t ino, void* buf, size_t size, uint64_t offset, size_t* got);
  int write(uint64_t ino, const void* buf, size_t size, uint64_t offset);
  int fsync(uint64_t ino);
  int fallocate(uint64_t ino, int mode, uint64_t offset, uint64_t length);
  int unlink(uint64_t parent, const std::string& name);
  int statfs(struct statvfs* st);

 private:
  struct Entry {
    uint64_t ino = 0;
    std::string name;
    std::string uuid;  // empty while pending (created, no volume yet)
    uint64_t size_bytes = 0;  // the volume's
    std::optional<uint64_t> allocated_bytes;  // the primary copy's, when the controller reports it
    bool wiped = false;       // ftruncate(0) seen: shows size 0 until truncated back
    FileAttrs pending_attrs;  // while pending
    std::vector<std::string> attached_hosts;
    std::string nbd_uri;
    unsigned opens = 0;
    unsigned writers = 0;
    bool attached_here = false;
    attach::NbdEndpoint endpoint;  // where `io` is connected
    std::shared_ptr<VolumeIo> io;
    bool pending() const { return uuid.empty(); }
    uint64_t shownSize() const { return wiped ? 0 : size_bytes; }
  };

  Status refreshLocked(bool force);
  Entry* byIno(uint64_t ino);
  Entry* byName(const std::string& name);
  uint64_t inoFor(const std::string& name);
  void fillAttr(const Entry& e, struct stat* st) const;
  void fillDirAttr(uint64_t ino, struct stat* st) const;
  int truncateLocked(Entry& e, uint64_t size);
  int createVolumeLocked(Entry& e, uint64_t size);
  int growLocked(Entry& e, uint64_t size);
  int attachLocked(Entry& e);
  void detachLocked(Entry& e);
  // Connects e.io to `endpoint` for e.size_bytes, retrying until wait_timeout while the export
  // is smaller (a grow not yet applied) or unreachable (a handover in progress).
  int connectLocked(Entry& e, const attach::NbdEndpoint& endpoint);
  std::shared_ptr<VolumeIo> ioOf(uint64_t ino, uint64_t* size);
  bool pastDeadline(std::chrono::steady_clock::time_point deadline) const;
  void pause() const;

  const PoolFsOptions options_;
  VolumeApi& api_;
  AttrStore& attrs_;
  const VolumeIoFactory connect_;
  const Clock& clock_;

  std::mutex mu_;
  GroupView group_;
  std::map<std::string, Entry> entries_;        // by name
  std::map<std::string, uint64_t> inos_;        // name -> inode, never reused for another name
  uint64_t next_ino_ = 3;
  std::optional<std::chrono::steady_clock::time_point> listed_at_;
  time_t mounted_at_ = 0;
};

}  // namespace tandem::poolfs
