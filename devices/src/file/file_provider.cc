#include "file/file_provider.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>

#include "file/clone_file.h"
#include "file/file_snapshot_staging.h"
#include "tandem/devices/file_block_device.h"

namespace tandem::devices {
namespace {

constexpr std::string_view kSuffix = ".img";
constexpr std::string_view kTempPrefix = ".tmp-";

Status checkName(const std::string& name, std::string_view what) {
  if (!isValidVolumeName(name)) {
    return Status(ErrorCode::kInvalidArgument, "invalid " + std::string(what) + " name '" + name + "'");
  }
  return Status::ok();
}

// Lists the directory's entry names (without . and ..).
Result<std::vector<std::string>> readDir(const std::string& dir) {
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return Status::fromErrno(errno, "opendir " + dir);
  std::vector<std::string> names;
  errno = 0;
  while (dirent* e = ::readdir(d)) {
    std::string n = e->d_name;
    if (n != "." && n != "..") names.push_back(std::move(n));
  }
  int err = errno;
  ::closedir(d);
  if (err != 0) return Status::fromErrno(err, "readdir " + dir);
  std::sort(names.begin(), names.end());
  return names;
}

bool endsWith(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

// Splits "<vol>.img" or "<vol>@<snap>.img"; false for anything else (foreign files are ignored).
bool parseEntry(const std::string& entry, std::string* volume, std::string* snapshot) {
  if (!endsWith(entry, kSuffix)) return false;
  std::string base = entry.substr(0, entry.size() - kSuffix.size());
  size_t at = base.find('@');
  if (at == std::string::npos) {
    *volume = base;
    snapshot->clear();
    return isValidVolumeName(base);
  }
  *volume = base.substr(0, at);
  *snapshot = base.substr(at + 1);
  return isValidVolumeName(*volume) && isValidVolumeName(*snapshot);
}

Result<struct stat> statPath(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return Status::fromErrno(errno, "stat " + path);
  return st;
}

bool exists(const std::string& path) {
  struct stat st {};
  return ::lstat(path.c_str(), &st) == 0;
}

VolumeInfo infoFromStat(const struct stat& st) {
  VolumeInfo info;
  info.size_bytes = static_cast<uint64_t>(st.st_size);
  info.allocated_bytes = static_cast<uint64_t>(st.st_blocks) * 512;
  return info;
}

}  // namespace

Result<std::unique_ptr<FileProvider>> FileProvider::make(const std::string& dir) {
  if (dir.empty()) return Status(ErrorCode::kInvalidArgument, "file provider: empty directory path");
  ASSIGN_OR_RETURN(struct stat st, statPath(dir));
  if (!S_ISDIR(st.st_mode)) return Status(ErrorCode::kInvalidArgument, dir + " is not a directory");
  ASSIGN_OR_RETURN(auto entries, readDir(dir));
  for (const auto& e : entries) {
    if (e.starts_with(kTempPrefix)) ::unlink((dir + "/" + e).c_str());  // a crashed build
  }
  std::string clean = dir;
  while (clean.size() > 1 && clean.back() == '/') clean.pop_back();
  bool reflink = supportsReflink(clean);
  return std::unique_ptr<FileProvider>(new FileProvider(clean, reflink));
}

ProviderCapabilities FileProvider::capabilities() const {
  return ProviderCapabilities{.provider = "file", .thin = true, .snapshots = true, .reflink = reflink_};
}

std::string FileProvider::volumePath(const std::string& name) const {
  return dir_ + "/" + name + std::string(kSuffix);
}

std::string FileProvider::snapshotPath(const std::string& volume, const std::string& snapshot) const {
  return dir_ + "/" + volume + "@" + snapshot + std::string(kSuffix);
}

std::string FileProvider::tempPath(const std::string& final_path) const {
  static std::atomic<uint64_t> counter{0};
  std::string base = final_path.substr(final_path.rfind('/') + 1);
  return dir_ + "/" + std::string(kTempPrefix) + std::to_string(::getpid()) + "-" +
         std::to_string(counter.fetch_add(1)) + "-" + base;
}

Status FileProvider::syncDir() const {
  int fd = ::open(dir_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return Status::fromErrno(errno, "open " + dir_);
  int rc = ::fsync(fd);
  int err = errno;
  ::close(fd);
  if (rc != 0) return Status::fromErrno(err, "fsync " + dir_);
  return Status::ok();
}

Status FileProvider::publish(const std::string& tmp, const std::string& final_path) const {
  if (::renameat2(AT_FDCWD, tmp.c_str(), AT_FDCWD, final_path.c_str(), RENAME_NOREPLACE) != 0) {
    int err = errno;
    if (err == EINVAL || err == ENOSYS) {
      // No RENAME_NOREPLACE on this file system: link() refuses an existing target too.
      if (::link(tmp.c_str(), final_path.c_str()) == 0) {
        ::unlink(tmp.c_str());
        return syncDir();
      }
      err = errno;
    }
    ::unlink(tmp.c_str());
    return Status::fromErrno(err, "rename " + tmp + " to " + final_path);
  }
  return syncDir();
}

Status FileProvider::replace(const std::string& tmp, const std::string& final_path) const {
  if (::rename(tmp.c_str(), final_path.c_str()) != 0) {
    int err = errno;
    ::unlink(tmp.c_str());
    return Status::fromErrno(err, "rename " + tmp + " to " + final_path);
  }
  return syncDir();
}

Result<Capacity> FileProvider::capacity() {
  struct statvfs vfs {};
  if (::statvfs(dir_.c_str(), &vfs) != 0) return Status::fromErrno(errno, "statvfs " + dir_);
  Capacity cap;
  cap.total_bytes = static_cast<uint64_t>(vfs.f_blocks) * vfs.f_frsize;
  cap.free_bytes = static_cast<uint64_t>(vfs.f_bavail) * vfs.f_frsize;
  ASSIGN_OR_RETURN(auto volumes, list());
  for (const auto& v : volumes) {
    if (!v.is_snapshot) cap.provisioned_bytes += v.size_bytes;
  }
  return cap;
}

Status FileProvider::create(const std::string& name, uint64_t size_bytes, Provisioning provisioning) {
  RETURN_IF_ERROR(checkName(name, "volume"));
  const std::string path = volumePath(name);
  const std::string context = "create volume " + name + " (" + path + ")";
  if (exists(path)) return Status(ErrorCode::kAlreadyExists, context + ": already exists");
  if (size_bytes > static_cast<uint64_t>(INT64_MAX)) {
    return Status(ErrorCode::kInvalidArgument, context + ": size too large");
  }
  const std::string tmp = tempPath(path);
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) return Status::fromErrno(errno, "create " + tmp).withContext(context);
  Status s;
  if (provisioning == Provisioning::kThick && size_bytes > 0) {
    int rc = ::posix_fallocate(fd, 0, static_cast<off_t>(size_bytes));  // returns the error
    if (rc != 0) s = Status::fromErrno(rc, "fallocate " + tmp);
  } else if (::ftruncate(fd, static_cast<off_t>(size_bytes)) != 0) {
    s = Status::fromErrno(errno, "ftruncate " + tmp);
  }
  if (s.isOk() && ::fdatasync(fd) != 0) s = Status::fromErrno(errno, "fdatasync " + tmp);
  ::close(fd);
  if (!s.isOk()) {
    ::unlink(tmp.c_str());
    return s.withContext(context);
  }
  return publish(tmp, path).withContext(context);
}

Result<std::vector<std::string>> FileProvider::snapshotsOf(const std::string& volume) const {
  ASSIGN_OR_RETURN(auto entries, readDir(dir_));
  std::vector<std::string> snaps;
  std::string vol, snap;
  for (const auto& e : entries) {
    if (parseEntry(e, &vol, &snap) && vol == volume && !snap.empty()) snaps.push_back(snap);
  }
  return snaps;
}

Status FileProvider::remove(const std::string& name) {
  RETURN_IF_ERROR(checkName(name, "volume"));
  const std::string path = volumePath(name);
  const std::string context = "remove volume " + name + " (" + path + ")";
  if (!exists(path)) return Status(ErrorCode::kNotFound, context + ": no such volume");
  ASSIGN_OR_RETURN(auto snaps, snapshotsOf(name));
  if (!snaps.empty()) {
    std::string list;
    for (const auto& s : snaps) list += (list.empty() ? "" : ", ") + s;
    return Status(ErrorCode::kConflict, context + ": it still has snapshots: " + list);
  }
  if (::unlink(path.c_str()) != 0) return Status::fromErrno(errno, "unlink " + path).withContext(context);
  return syncDir().withContext(context);
}

Status FileProvider::resize(const std::string& name, uint64_t new_size_bytes, bool force) {
  RETURN_IF_ERROR(checkName(name, "volume"));
  const std::string path = volumePath(name);
  const std::string context = "resize volume " + name + " (" + path + ")";
  if (new_size_bytes > static_cast<uint64_t>(INT64_MAX)) {
    return Status(ErrorCode::kInvalidArgument, context + ": size too large");
  }
  int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) return Status::fromErrno(errno, "open " + path).withContext(context);
  struct stat st {};
  Status s;
  if (::fstat(fd, &st) != 0) {
    s = Status::fromErrno(errno, "fstat " + path);
  } else if (new_size_bytes < static_cast<uint64_t>(st.st_size) && !force) {
    s = Status(ErrorCode::kInvalidArgument, "shrinking from " + std::to_string(st.st_size) + " to " +
                                                std::to_string(new_size_bytes) +
                                                " bytes loses data; refused without force");
  } else if (new_size_bytes != static_cast<uint64_t>(st.st_size)) {
    if (::ftruncate(fd, static_cast<off_t>(new_size_bytes)) != 0) {
      s = Status::fromErrno(errno, "ftruncate " + path);
    } else if (::fsync(fd) != 0) {  // fsync, not fdatasync: the size is metadata
      s = Status::fromErrno(errno, "fsync " + path);
    }
  }
  ::close(fd);
  return s.withContext(context);
}

Result<std::unique_ptr<BlockDevice>> FileProvider::open(const std::string& name) {
  RETURN_IF_ERROR(checkName(name, "volume"));
  auto dev = FileBlockDevice::open(volumePath(name));
  if (!dev.isOk()) return dev.status().withContext("open volume " + name);
  return std::unique_ptr<BlockDevice>(std::move(dev).value());
}

Result<std::vector<VolumeInfo>> FileProvider::list() {
  ASSIGN_OR_RETURN(auto entries, readDir(dir_));
  std::vector<VolumeInfo> out;
  std::string vol, snap;
  for (const auto& e : entries) {
    if (!parseEntry(e, &vol, &snap)) continue;
    struct stat st {};
    if (::stat((dir_ + "/" + e).c_str(), &st) != 0) {
      if (errno == ENOENT) continue;  // removed while we listed
      return Status::fromErrno(errno, "stat " + dir_ + "/" + e);
    }
    if (!S_ISREG(st.st_mode)) continue;
    VolumeInfo info = infoFromStat(st);
    if (snap.empty()) {
      info.name = vol;
    } else {
      info.name = snap;
      info.is_snapshot = true;
      info.parent = vol;
    }
    out.push_back(std::move(info));
  }
  return out;
}

Result<VolumeInfo> FileProvider::info(const std::string& name) {
  RETURN_IF_ERROR(checkName(name, "volume"));
  auto st = statPath(volumePath(name));
  if (!st.isOk()) return st.status().withContext("volume " + name);
  VolumeInfo info = infoFromStat(*st);
  info.name = name;
  return info;
}

Result<FileProvider::SnapshotFiles> FileProvider::newSnapshotFiles(const std::string& volume,
                                                                    const std::string& snapshot) const {
  RETURN_IF_ERROR(checkName(volume, "volume"));
  RETURN_IF_ERROR(checkName(snapshot, "snapshot"));
  SnapshotFiles f{volumePath(volume), snapshotPath(volume, snapshot), ""};
  f.context = "snapshot " + volume + "@" + snapshot + " (" + f.snapshot + ")";
  if (!exists(f.volume)) return Status(ErrorCode::kNotFound, f.context + ": no volume " + f.volume);
  if (exists(f.snapshot)) return Status(ErrorCode::kAlreadyExists, f.context + ": already exists");
  return f;
}

Status FileProvider::snapshot(const std::string& volume, const std::string& snapshot,
                              const ProgressFn& progress) {
  ASSIGN_OR_RETURN(SnapshotFiles f, newSnapshotFiles(volume, snapshot));
  const std::string tmp = tempPath(f.snapshot);
  auto method = cloneFile(f.volume, tmp, progress, CloneOptions{.allow_reflink = reflink_});
  if (!method.isOk()) return method.status().withContext(f.context);
  return publish(tmp, f.snapshot).withContext(f.context);
}

Result<std::unique_ptr<SnapshotStaging>> FileProvider::stageSnapshot(const std::string& volume,
                                                                     const std::string& snapshot) {
  ASSIGN_OR_RETURN(SnapshotFiles f, newSnapshotFiles(volume, snapshot));
  auto publish_fn = [this, context = f.context](const std::string& tmp, const std::string& final_path) {
    return publish(tmp, final_path).withContext(context);
  };
  auto stage = FileSnapshotStaging::make(f.volume, tempPath(f.snapshot), f.snapshot, std::move(publish_fn),
                                         FileSnapshotStaging::Options{.allow_reflink = reflink_});
  if (!stage.isOk()) return stage.status().withContext(f.context);
  return std::unique_ptr<SnapshotStaging>(std::move(stage).value());
}

Status FileProvider::removeSnapshot(const std::string& volume, const std::string& snapshot) {
  RETURN_IF_ERROR(checkName(volume, "volume"));
  RETURN_IF_ERROR(checkName(snapshot, "snapshot"));
  const std::string path = snapshotPath(volume, snapshot);
  const std::string context = "remove snapshot " + volume + "@" + snapshot;
  if (::unlink(path.c_str()) != 0) return Status::fromErrno(errno, "unlink " + path).withContext(context);
  return syncDir().withContext(context);
}

Status FileProvider::clone(const std::string& source_volume, const std::string& source_snapshot,
                           const std::string& target, const ProgressFn& progress) {
  RETURN_IF_ERROR(checkName(source_volume, "volume"));
  if (!source_snapshot.empty()) RETURN_IF_ERROR(checkName(source_snapshot, "snapshot"));
  RETURN_IF_ERROR(checkName(target, "volume"));
  const std::string src =
      source_snapshot.empty() ? volumePath(source_volume) : snapshotPath(source_volume, source_snapshot);
  const std::string dst = volumePath(target);
  const std::string context = "clone " + src + " to volume " + target + " (" + dst + ")";
  if (!exists(src)) return Status(ErrorCode::kNotFound, context + ": no source " + src);
  if (exists(dst)) return Status(ErrorCode::kAlreadyExists, context + ": target already exists");
  const std::string tmp = tempPath(dst);
  auto method = cloneFile(src, tmp, progress, CloneOptions{.allow_reflink = reflink_});
  if (!method.isOk()) return method.status().withContext(context);
  return publish(tmp, dst).withContext(context);
}

Status FileProvider::revert(const std::string& volume, const std::string& snapshot) {
  RETURN_IF_ERROR(checkName(volume, "volume"));
  RETURN_IF_ERROR(checkName(snapshot, "snapshot"));
  const std::string src = snapshotPath(volume, snapshot);
  const std::string dst = volumePath(volume);
  const std::string context = "revert volume " + volume + " to snapshot " + snapshot;
  if (!exists(dst)) return Status(ErrorCode::kNotFound, context + ": no volume " + dst);
  if (!exists(src)) return Status(ErrorCode::kNotFound, context + ": no snapshot " + src);
  const std::string tmp = tempPath(dst);
  auto method = cloneFile(src, tmp, {}, CloneOptions{.allow_reflink = reflink_});
  if (!method.isOk()) return method.status().withContext(context);
  return replace(tmp, dst).withContext(context);
}

Status FileProvider::rename(const std::string& from, const std::string& to) {
  RETURN_IF_ERROR(checkName(from, "volume"));
  RETURN_IF_ERROR(checkName(to, "volume"));
  const std::string src = volumePath(from);
  const std::string dst = volumePath(to);
  const std::string context = "rename volume " + src + " to " + dst;
  if (!exists(src)) return Status(ErrorCode::kNotFound, context + ": no such volume");
  ASSIGN_OR_RETURN(auto snaps, snapshotsOf(from));
  if (!snaps.empty()) return Status(ErrorCode::kConflict, context + ": it has snapshots");
  // Never over an existing file; unlike publish(), a failure leaves the source where it is.
  if (::renameat2(AT_FDCWD, src.c_str(), AT_FDCWD, dst.c_str(), RENAME_NOREPLACE) != 0) {
    int err = errno;
    if (err != EINVAL && err != ENOSYS) {
      if (err == EEXIST) return Status(ErrorCode::kAlreadyExists, context + ": the target exists");
      return Status::fromErrno(err, "rename").withContext(context);
    }
    // No RENAME_NOREPLACE on this file system: link() refuses an existing target too.
    if (::link(src.c_str(), dst.c_str()) != 0) {
      err = errno;
      if (err == EEXIST) return Status(ErrorCode::kAlreadyExists, context + ": the target exists");
      return Status::fromErrno(err, "link").withContext(context);
    }
    if (::unlink(src.c_str()) != 0) return Status::fromErrno(errno, "unlink " + src).withContext(context);
  }
  return syncDir().withContext(context);
}

std::string FileProvider::pathOf(const std::string& name) const { return volumePath(name); }

}  // namespace tandem::devices
