#include "tandem/node/drbd_suspensions.h"

#include <filesystem>
#include <sstream>

#include "tandem/common/log.h"
#include "tandem/common/uuid.h"
#include "tandem/drbd/durable_file.h"

namespace tandem::node {

std::string DrbdSuspensions::markerPath(const std::string& volume_uuid) const {
  return marker_dir_ + "/" + volume_uuid;
}

Status DrbdSuspensions::suspend(const std::string& volume_uuid, uint32_t minor, const std::string& snapshot) {
  if (suspended_.count(volume_uuid)) {
    return Status(ErrorCode::kConflict, "volume " + volume_uuid + " is suspended for snapshot " +
                                            suspended_.at(volume_uuid).snapshot);
  }
  if (!marker_dir_.empty()) {
    std::error_code ec;
    std::filesystem::create_directories(marker_dir_, ec);
    if (ec) return Status(ErrorCode::kIo, "create " + marker_dir_ + ": " + ec.message());
    // The marker first: a crash right after suspend-io leaves it for recover().
    RETURN_IF_ERROR(drbd::writeFileSynced(markerPath(volume_uuid), std::to_string(minor) + " " + snapshot + "\n"));
  }
  Status s = lifecycle_.suspendIo(minor);
  if (!s.isOk()) {
    if (!marker_dir_.empty()) (void)drbd::removeFileSynced(markerPath(volume_uuid));
    return s;
  }
  suspended_[volume_uuid] = Suspension{minor, snapshot, clock_.steadyNow()};
  log::info("drbd", "I/O suspended on minor " + std::to_string(minor) + " for snapshot " + snapshot);
  return Status::ok();
}

Status DrbdSuspensions::resume(const std::string& volume_uuid) {
  auto it = suspended_.find(volume_uuid);
  if (it == suspended_.end()) return Status::ok();
  RETURN_IF_ERROR(lifecycle_.resumeIo(it->second.minor));
  log::info("drbd", "I/O resumed on minor " + std::to_string(it->second.minor) + " (snapshot " + it->second.snapshot +
                        ")");
  suspended_.erase(it);
  if (!marker_dir_.empty()) RETURN_IF_ERROR(drbd::removeFileSynced(markerPath(volume_uuid)));
  return Status::ok();
}

std::string DrbdSuspensions::suspendedFor(const std::string& volume_uuid) const {
  auto it = suspended_.find(volume_uuid);
  return it == suspended_.end() ? "" : it->second.snapshot;
}

std::vector<SuspensionEnded> DrbdSuspensions::recover() {
  std::vector<SuspensionEnded> out;
  std::error_code ec;
  if (marker_dir_.empty() || !std::filesystem::is_directory(marker_dir_, ec)) return out;
  for (const auto& entry : std::filesystem::directory_iterator(marker_dir_, ec)) {
    const std::string uuid = entry.path().filename().string();
    if (!isUuid(uuid)) continue;
    auto text = drbd::readFileIfExists(entry.path().string());
    uint32_t minor = 0;
    std::string snapshot;
    if (text.isOk() && text->has_value()) {
      std::istringstream in(**text);
      in >> minor >> snapshot;
    }
    if (snapshot.empty()) {
      log::error("drbd", "unreadable suspension marker " + entry.path().string() + "; removed");
      (void)drbd::removeFileSynced(entry.path().string());
      continue;
    }
    log::warn("drbd", "a previous run left I/O suspended on minor " + std::to_string(minor) + " for snapshot " +
                          snapshot + ": resuming it (the snapshot failed here)");
    suspended_[uuid] = Suspension{minor, snapshot, clock_.steadyNow()};
    Status s = resume(uuid);
    if (!s.isOk()) log::error("drbd", "resume-io on minor " + std::to_string(minor) + ": " + s.toString());
    out.push_back({uuid, snapshot});
  }
  return out;
}

std::vector<SuspensionEnded> DrbdSuspensions::expire() {
  std::vector<SuspensionEnded> out;
  const auto now = clock_.steadyNow();
  std::vector<std::string> due;
  for (const auto& [uuid, s] : suspended_) {
    if (now - s.since >= deadline_) due.push_back(uuid);
  }
  for (const auto& uuid : due) {
    const Suspension s = suspended_.at(uuid);
    log::warn("drbd", "I/O on minor " + std::to_string(s.minor) + " suspended for snapshot " + s.snapshot +
                          " longer than " + std::to_string(deadline_.count()) +
                          " ms without the controller's next phase: resuming (the snapshot failed here)");
    Status r = resume(uuid);
    if (!r.isOk()) {
      log::error("drbd", "resume-io on minor " + std::to_string(s.minor) + ": " + r.toString());
      continue;  // retried at the next expire()
    }
    out.push_back({uuid, s.snapshot});
  }
  return out;
}

}  // namespace tandem::node
