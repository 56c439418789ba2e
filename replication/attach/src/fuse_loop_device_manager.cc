#include "fuse_loop_device_manager.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>

#include "device_users.h"
#include "disk_process.h"
#include "tandem/common/log.h"
#include "tandem/common/object_name.h"

namespace tandem::attach {
namespace {

namespace fs = std::filesystem;
constexpr std::string_view kLog = "attach";
// tandem-disk-fuse's exit code when the NBD endpoint cannot be reached.
constexpr int kDiskFuseExitUnavailable = 3;

Status notFound(std::string_view volume) {
  return Status(ErrorCode::kNotFound, "volume " + std::string(volume) + " is not attached")
      .withReason(std::string(kReasonAttachmentNotFound));
}

Status busy(std::string_view volume, const DeviceUsers& users) {
  return Status(ErrorCode::kConflict,
                "the device of volume " + std::string(volume) + " is in use: " + users.describe())
      .withReason(std::string(kReasonDeviceBusy));
}

Status checkVolumeName(std::string_view volume) {
  if (!isValidObjectName(volume))
    return Status(ErrorCode::kInvalidArgument, "bad volume name: " + std::string(volume));
  return Status::ok();
}

}  // namespace

// Serialises manager operations in this process (mutex) and across processes (flock).
class FuseLoopDeviceManager::HostLock {
 public:
  HostLock(std::mutex& mu, const std::string& state_dir) : guard_(mu) {
    fd_ = ::open((state_dir + "/.lock").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd_ >= 0) {
      while (::flock(fd_, LOCK_EX) != 0 && errno == EINTR) {
      }
    }
  }
  ~HostLock() {
    if (fd_ >= 0) ::close(fd_);
  }

 private:
  std::lock_guard<std::mutex> guard_;
  int fd_ = -1;
};

std::string FuseLoopDeviceManager::dirOf(std::string_view volume) const {
  return options_.state_dir + "/" + std::string(volume);
}
std::string FuseLoopDeviceManager::diskOf(std::string_view volume) const {
  return dirOf(volume) + "/" + std::string(kMountDir) + "/" + std::string(kDiskFile);
}
std::string FuseLoopDeviceManager::linkOf(std::string_view volume) const {
  return options_.link_root + "/" + std::string(volume);
}

Result<AttachmentInfo> FuseLoopDeviceManager::inspect(const std::string& volume) {
  ASSIGN_OR_RETURN(auto loops, listLoopDevices(*runner_));
  return inspect(volume, loops);
}

Result<AttachmentInfo> FuseLoopDeviceManager::inspect(const std::string& volume,
                                                      const std::vector<LoopDevice>& loops) {
  std::string dir = dirOf(volume);
  if (!fs::is_directory(dir)) return notFound(volume);
  AttachmentInfo info;
  info.volume = volume;
  info.stable_path = linkOf(volume);
  std::string disk = diskOf(volume);
  for (const auto& loop : loops) {
    if (loop.backing_file == disk) {
      info.device_path = loop.device;
      break;
    }
  }
  auto spec_text = readWholeFile(dir + "/" + std::string(kSpecFile));
  auto spec = spec_text.isOk() ? decodeSpec(*spec_text) : Result<AttachmentSpecFile>(spec_text.status());
  if (spec.isOk()) {
    info.endpoint = spec->endpoint;
    info.size_bytes = spec->size_bytes;
    info.generation = spec->generation;
    info.volume_uuid = spec->volume_uuid;
  }
  info.server_pid = runningServerPid(dir, options_.proc_root);
  if (!spec.isOk()) {
    info.detail = "no valid spec (half-made attachment)";
  } else if (info.server_pid == 0) {
    info.detail = "tandem-disk-fuse is not running";
  } else if (info.device_path.empty()) {
    info.detail = "no loop device bound (half-made attachment)";
  } else {
    auto status_text = readWholeFile(dir + "/" + std::string(kStatusFile));
    auto status =
        status_text.isOk() ? decodeStatus(*status_text) : Result<AttachmentStatusFile>(status_text.status());
    if (status.isOk() && status->generation == info.generation && status->state == LinkState::kConnected) {
      info.health = AttachmentHealth::kHealthy;
    } else {
      info.health = AttachmentHealth::kDisconnected;
      info.detail = status.isOk() ? status->error : "no status";
    }
  }
  return info;
}

Status FuseLoopDeviceManager::ensureLink(const std::string& volume, const std::string& device) {
  std::string link = linkOf(volume);
  std::error_code ec;
  if (fs::read_symlink(link, ec) == device) return Status::ok();
  std::string tmp = link + ".tmp";
  fs::remove(tmp, ec);
  if (::symlink(device.c_str(), tmp.c_str()) != 0) return Status::fromErrno(errno, "symlink " + tmp);
  if (::rename(tmp.c_str(), link.c_str()) != 0) return Status::fromErrno(errno, "rename " + tmp);
  return Status::ok();
}

Result<AttachedDevice> FuseLoopDeviceManager::attach(const AttachSpec& spec) {
  RETURN_IF_ERROR(checkVolumeName(spec.volume));
  RETURN_IF_ERROR(validateEndpoint(spec.endpoint));
  if (spec.size_bytes == 0 || spec.size_bytes % 512 != 0) {
    return Status(ErrorCode::kInvalidArgument, "volume size must be a non-zero multiple of 512");
  }
  HostLock lock(mu_, options_.state_dir);
  auto existing = inspect(spec.volume);
  if (existing.isOk()) {
    if (!spec.volume_uuid.empty() && !existing->volume_uuid.empty() && existing->volume_uuid != spec.volume_uuid) {
      // A device of an earlier volume of the same name (deleted, then created again) is still
      // here, kept because it is in use: never point it at the new volume's data.
      return Status(ErrorCode::kConflict, "a device of an earlier volume named " + spec.volume + " (uuid " +
                                              existing->volume_uuid + ") is still attached here; detach it first")
          .withReason(std::string(kReasonDeviceBusy));
    }
    if (existing->health != AttachmentHealth::kBroken) {
      if (existing->size_bytes != spec.size_bytes) {
        return Status(ErrorCode::kConflict, "volume " + spec.volume + " is attached with size " +
                                                std::to_string(existing->size_bytes));
      }
      if (!(existing->endpoint == spec.endpoint)) RETURN_IF_ERROR(retargetLocked(spec.volume, spec.endpoint));
      RETURN_IF_ERROR(ensureLink(spec.volume, existing->device_path));
      return AttachedDevice{spec.volume, existing->device_path, linkOf(spec.volume)};
    }
    log::warn(kLog, "replacing broken attachment of " + spec.volume + ": " + existing->detail);
    RETURN_IF_ERROR(removeLocked(spec.volume, false));
  } else if (existing.status().code() != ErrorCode::kNotFound) {
    return existing.status();
  }
  auto created = createLocked(spec);
  if (!created.isOk()) {
    Status cleanup = removeLocked(spec.volume, false);
    if (!cleanup.isOk()) log::error(kLog, "cleanup after failed attach: " + cleanup.toString());
  }
  return created;
}

Result<AttachedDevice> FuseLoopDeviceManager::createLocked(const AttachSpec& spec) {
  std::string dir = dirOf(spec.volume);
  std::error_code ec;
  fs::create_directories(dir + "/" + std::string(kMountDir), ec);
  if (ec) return Status(ErrorCode::kIo, "create " + dir + ": " + ec.message());
  RETURN_IF_ERROR(writeFileAtomically(dir + "/" + std::string(kSpecFile),
                                      encodeSpec({spec.volume, spec.size_bytes, spec.endpoint, 1, spec.volume_uuid})));
  std::vector<std::string> argv = {options_.disk_fuse_program, "--dir", dir, "--connections",
                                   std::to_string(options_.nbd_connections), "--io-wait-ms",
                                   std::to_string(options_.io_wait.count())};
  ASSIGN_OR_RETURN(auto out, runner_->run(argv));
  if (out.exit_code != 0) {
    Status s = devices::commandFailed(
        out.exit_code == kDiskFuseExitUnavailable ? ErrorCode::kUnavailable : ErrorCode::kIo, argv, out);
    return out.exit_code == kDiskFuseExitUnavailable ? s.withReason(std::string(kReasonEndpointUnavailable))
                                                     : s;
  }
  ASSIGN_OR_RETURN(std::string device,
                   attachLoopDevice(*runner_, diskOf(spec.volume), options_.loop_direct_io));
  RETURN_IF_ERROR(ensureLink(spec.volume, device));
  log::info(kLog, "attached " + spec.volume + " as " + device + " (" + spec.endpoint.describe() + ")");
  return AttachedDevice{spec.volume, device, linkOf(spec.volume)};
}

Status FuseLoopDeviceManager::retarget(std::string_view volume, const NbdEndpoint& endpoint) {
  RETURN_IF_ERROR(checkVolumeName(volume));
  RETURN_IF_ERROR(validateEndpoint(endpoint));
  HostLock lock(mu_, options_.state_dir);
  return retargetLocked(std::string(volume), endpoint);
}

Status FuseLoopDeviceManager::retargetLocked(const std::string& volume, const NbdEndpoint& endpoint) {
  ASSIGN_OR_RETURN(AttachmentInfo info, inspect(volume));
  if (info.health == AttachmentHealth::kBroken) {
    return Status(ErrorCode::kConflict, "attachment of " + volume + " is broken: " + info.detail)
        .withReason(std::string(kReasonAttachmentBroken));
  }
  AttachmentSpecFile spec{volume, info.size_bytes, endpoint, info.generation + 1, info.volume_uuid};
  std::string dir = dirOf(volume);
  RETURN_IF_ERROR(writeFileAtomically(dir + "/" + std::string(kSpecFile), encodeSpec(spec)));
  if (::kill(info.server_pid, SIGHUP) != 0) return Status::fromErrno(errno, "signal tandem-disk-fuse");
  log::info(kLog, "retargeting " + volume + " to " + endpoint.describe());
  return waitForConnected(dir, spec.generation, options_.retarget_wait).withContext("retarget " + volume);
}

Status FuseLoopDeviceManager::resize(std::string_view name, uint64_t size_bytes) {
  RETURN_IF_ERROR(checkVolumeName(name));
  if (size_bytes == 0 || size_bytes % 512 != 0) {
    return Status(ErrorCode::kInvalidArgument, "volume size must be a non-zero multiple of 512");
  }
  HostLock lock(mu_, options_.state_dir);
  const std::string volume(name);
  ASSIGN_OR_RETURN(AttachmentInfo info, inspect(volume));
  if (size_bytes < info.size_bytes) {
    return Status(ErrorCode::kInvalidArgument, "the device of " + volume + " has " + std::to_string(info.size_bytes) +
                                                   " bytes; it cannot shrink to " + std::to_string(size_bytes));
  }
  if (info.health == AttachmentHealth::kBroken) {
    return Status(ErrorCode::kConflict, "attachment of " + volume + " is broken: " + info.detail)
        .withReason(std::string(kReasonAttachmentBroken));
  }
  const std::string dir = dirOf(volume);
  if (size_bytes > info.size_bytes) {
    ::unlink((dir + "/" + std::string(kGrowErrorFile)).c_str());
    RETURN_IF_ERROR(writeFileAtomically(dir + "/" + std::string(kGrowFile), std::to_string(size_bytes) + "\n"));
    if (::kill(info.server_pid, SIGUSR1) != 0) return Status::fromErrno(errno, "signal tandem-disk-fuse");
    // Until the server has grown (status at the next generation) or said why not (grow-error).
    const auto deadline = std::chrono::steady_clock::now() + options_.retarget_wait;
    Status grown;
    for (;;) {
      grown = waitForConnected(dir, info.generation + 1, std::chrono::milliseconds(100));
      if (grown.isOk() || fs::exists(dir + "/" + std::string(kGrowErrorFile)) ||
          std::chrono::steady_clock::now() >= deadline) {
        break;
      }
    }
    if (!grown.isOk()) {
      auto why = readWholeFile(dir + "/" + std::string(kGrowErrorFile));
      return Status(ErrorCode::kUnavailable, "the device of " + volume + " stays at " + std::to_string(info.size_bytes) +
                                                 " bytes: " + (why.isOk() ? *why : grown.message()))
          .withReason(std::string(kReasonEndpointUnavailable));
    }
    log::info(kLog, "grew the device of " + volume + " to " + std::to_string(size_bytes) + " bytes");
  }
  // The loop device re-reads the file's size (also after an interrupted earlier grow).
  if (!info.device_path.empty()) {
    RETURN_IF_ERROR(devices::runChecked(*runner_, {"losetup", "--set-capacity", info.device_path}).status());
  }
  return Status::ok();
}

Status FuseLoopDeviceManager::detach(std::string_view volume, bool force) {
  RETURN_IF_ERROR(checkVolumeName(volume));
  HostLock lock(mu_, options_.state_dir);
  return removeLocked(std::string(volume), force);
}

Status FuseLoopDeviceManager::removeLocked(const std::string& volume, bool force) {
  auto info = inspect(volume);
  std::error_code ec;
  if (!info.isOk()) {
    if (info.status().code() != ErrorCode::kNotFound) return info.status();
    fs::remove(linkOf(volume), ec);
    return Status::ok();
  }
  // Forced past processes that hold the device open: the kernel detaches the loop device at
  // their last close, and the server is killed so that their I/O fails with EIO from now on.
  bool cut_off = false;
  if (!info->device_path.empty()) {
    ASSIGN_OR_RETURN(DeviceUsers users,
                     findDeviceUsers(info->device_path, options_.proc_root, options_.sys_root));
    if (users.pinned() || (users.any() && !force)) return busy(volume, users);
    cut_off = users.any();
    RETURN_IF_ERROR(detachLoopDevice(*runner_, info->device_path));
  }
  fs::remove(linkOf(volume), ec);
  std::string dir = dirOf(volume);
  std::string mnt = dir + "/" + std::string(kMountDir);
  if (info->server_pid != 0) {
    Status stopped;
    if (cut_off) {
      ::kill(info->server_pid, SIGKILL);
      stopped = waitForExit(info->server_pid, options_.stop_wait);
    } else {
      stopped = stopServer(info->server_pid, options_.stop_wait);
    }
    RETURN_IF_ERROR(stopped.withContext("detach " + volume));
  }
  // A server that died (or was killed) leaves its FUSE mount behind, cut off.
  ASSIGN_OR_RETURN(std::string mountinfo, readWholeFile(options_.proc_root + "/self/mountinfo"));
  if (isMountPoint(mountinfo, mnt)) {
    ASSIGN_OR_RETURN(auto out, devices::runChecked(*runner_, {"umount", "--lazy", mnt}));
  }
  fs::remove_all(dir, ec);
  if (ec) return Status(ErrorCode::kIo, "remove " + dir + ": " + ec.message());
  log::info(kLog, "detached " + volume);
  return Status::ok();
}

Result<std::vector<AttachmentInfo>> FuseLoopDeviceManager::list() {
  HostLock lock(mu_, options_.state_dir);
  ASSIGN_OR_RETURN(auto loops, listLoopDevices(*runner_));
  std::vector<AttachmentInfo> out;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(options_.state_dir, ec)) {
    std::string volume = e.path().filename();
    if (!e.is_directory() || !isValidObjectName(volume)) continue;
    auto info = inspect(volume, loops);
    if (info.isOk()) out.push_back(std::move(info).value());
  }
  return out;
}

Result<AdoptReport> FuseLoopDeviceManager::adopt() {
  HostLock lock(mu_, options_.state_dir);
  ASSIGN_OR_RETURN(auto loops, listLoopDevices(*runner_));
  AdoptReport report;
  std::error_code ec;
  std::vector<std::string> volumes;
  for (const auto& e : fs::directory_iterator(options_.state_dir, ec)) {
    std::string volume = e.path().filename();
    if (e.is_directory() && isValidObjectName(volume)) volumes.push_back(volume);
  }
  for (const auto& volume : volumes) {
    ASSIGN_OR_RETURN(AttachmentInfo info, inspect(volume, loops));
    if (info.health == AttachmentHealth::kBroken) {
      Status removed = removeLocked(volume, false);
      if (removed.isOk()) {
        report.cleaned.push_back(volume + ": " + info.detail);
        continue;
      }
      log::warn(kLog, "keeping broken attachment of " + volume + ": " + removed.toString());
      info.detail += "; " + removed.message();
    } else {
      RETURN_IF_ERROR(ensureLink(volume, info.device_path));
    }
    report.attachments.push_back(std::move(info));
  }
  // Loop devices bound to a file of the state dir whose attachment directory is gone.
  for (const auto& loop : loops) {
    if (!loop.backing_file.starts_with(options_.state_dir + "/")) continue;
    std::string rest = loop.backing_file.substr(options_.state_dir.size() + 1);
    std::string volume = rest.substr(0, rest.find('/'));
    if (fs::is_directory(dirOf(volume))) continue;
    auto users = findDeviceUsers(loop.device, options_.proc_root, options_.sys_root);
    if (users.isOk() && !users->any() && detachLoopDevice(*runner_, loop.device).isOk()) {
      report.cleaned.push_back(volume + ": orphan loop device " + loop.device);
    }
  }
  // Symlinks in link_root without an attachment.
  for (const auto& e : fs::directory_iterator(options_.link_root, ec)) {
    std::string volume = e.path().filename();
    if (e.is_symlink() && !fs::is_directory(dirOf(volume))) {
      fs::remove(e.path(), ec);
      report.cleaned.push_back(volume + ": orphan symlink");
    }
  }
  return report;
}

}  // namespace tandem::attach
