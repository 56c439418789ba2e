#include "lvm_thin/lvm_thin_provider.h"

#include <cmath>

#include "tandem/devices/file_block_device.h"

namespace tandem::devices {
namespace {

constexpr char kSnapSep = '+';

Status checkName(const std::string& name, std::string_view what) {
  if (!isValidVolumeName(name)) {
    return Status(ErrorCode::kInvalidArgument, "invalid " + std::string(what) + " name '" + name + "'");
  }
  return Status::ok();
}

std::string snapLv(const std::string& volume, const std::string& snapshot) {
  return volume + kSnapSep + snapshot;
}

std::string bytesArg(uint64_t bytes) { return std::to_string(bytes) + "b"; }

uint64_t allocatedOf(const LvRow& row) {
  if (!row.data_percent) return 0;
  return static_cast<uint64_t>(std::llround(static_cast<double>(row.size_bytes) * *row.data_percent / 100.0));
}

}  // namespace

LvmThinProvider::LvmThinProvider(std::string volume_group, std::string thin_pool, CommandRunner* runner,
                                 std::unique_ptr<CommandRunner> owned_runner, std::string device_dir)
    : vg_(std::move(volume_group)),
      pool_(std::move(thin_pool)),
      owned_runner_(std::move(owned_runner)),
      runner_(runner != nullptr ? runner : owned_runner_.get()),
      device_dir_(std::move(device_dir)) {}

ProviderCapabilities LvmThinProvider::capabilities() const {
  return ProviderCapabilities{.provider = "lvm-thin", .thin = true, .snapshots = true, .reflink = true};
}

Status LvmThinProvider::run(const std::vector<std::string>& argv) {
  auto out = runChecked(*runner_, argv);
  return out.isOk() ? Status::ok() : out.status();
}

// All LVs of the VG (the pool itself included); callers filter.
Result<std::vector<LvRow>> LvmThinProvider::poolRows() {
  const std::vector<std::string> argv = {
      "lvs", "--reportformat", "json", "-o", "lv_name,lv_size,data_percent,pool_lv,origin,lv_attr", "--units",
      "b",   "--nosuffix",     vg_};
  ASSIGN_OR_RETURN(auto out, runChecked(*runner_, argv));
  auto rows = parseLvsReport(out.stdout_text);
  if (!rows.isOk()) return rows.status().withContext("`" + formatCommandLine(argv) + "`");
  return rows;
}

Result<LvRow> LvmThinProvider::findLv(const std::string& lv) {
  ASSIGN_OR_RETURN(auto rows, poolRows());
  for (auto& row : rows) {
    if (row.name == lv && row.pool_lv == pool_) return row;
  }
  return Status(ErrorCode::kNotFound, "no thin LV " + lvPath(lv) + " in pool " + pool_);
}

Result<Capacity> LvmThinProvider::capacity() {
  ASSIGN_OR_RETURN(auto rows, poolRows());
  Capacity cap;
  bool found = false;
  for (const auto& row : rows) {
    if (row.name == pool_ && row.pool_lv.empty()) {
      found = true;
      cap.total_bytes = row.size_bytes;
      uint64_t used = allocatedOf(row);
      cap.free_bytes = used < row.size_bytes ? row.size_bytes - used : 0;
    } else if (row.pool_lv == pool_ && row.name.find(kSnapSep) == std::string::npos) {
      cap.provisioned_bytes += row.size_bytes;
    }
  }
  if (!found)
    return Status(ErrorCode::kNotFound, "thin pool " + lvPath(pool_) + " not found in `lvs` output");
  return cap;
}

Status LvmThinProvider::create(const std::string& name, uint64_t size_bytes, Provisioning provisioning) {
  RETURN_IF_ERROR(checkName(name, "volume"));
  const std::string context = "create volume " + lvPath(name);
  if (provisioning == Provisioning::kThick) {
    return Status(ErrorCode::kUnsupported, context + ": an LVM thin pool only makes thin volumes");
  }
  auto existing = findLv(name);
  if (existing.isOk()) return Status(ErrorCode::kAlreadyExists, context + ": LV already exists");
  if (existing.status().code() != ErrorCode::kNotFound) return existing.status().withContext(context);
  return run({"lvcreate", "-y", "-V", bytesArg(size_bytes), "-T", lvPath(pool_), "-n", name})
      .withContext(context);
}

Status LvmThinProvider::remove(const std::string& name) {
  RETURN_IF_ERROR(checkName(name, "volume"));
  const std::string context = "remove volume " + lvPath(name);
  ASSIGN_OR_RETURN(auto rows, poolRows());
  bool found = false;
  std::string snaps;
  for (const auto& row : rows) {
    if (row.pool_lv != pool_) continue;
    if (row.name == name) found = true;
    if (row.name.starts_with(name + kSnapSep)) {
      snaps += (snaps.empty() ? "" : ", ") + row.name.substr(name.size() + 1);
    }
  }
  if (!found) return Status(ErrorCode::kNotFound, context + ": no such thin LV in pool " + pool_);
  if (!snaps.empty()) return Status(ErrorCode::kConflict, context + ": it still has snapshots: " + snaps);
  return run({"lvremove", "-y", lvPath(name)}).withContext(context);
}

Status LvmThinProvider::resize(const std::string& name, uint64_t new_size_bytes, bool force) {
  RETURN_IF_ERROR(checkName(name, "volume"));
  const std::string context = "resize volume " + lvPath(name);
  auto lv = findLv(name);
  if (!lv.isOk()) return lv.status().withContext(context);
  if (new_size_bytes == lv->size_bytes) return Status::ok();
  if (new_size_bytes > lv->size_bytes) {
    return run({"lvextend", "-L", bytesArg(new_size_bytes), lvPath(name)}).withContext(context);
  }
  if (!force) {
    return Status(ErrorCode::kInvalidArgument,
                  context + ": shrinking from " + std::to_string(lv->size_bytes) + " to " +
                      std::to_string(new_size_bytes) + " bytes loses data; refused without force");
  }
  return run({"lvreduce", "-y", "-L", bytesArg(new_size_bytes), lvPath(name)}).withContext(context);
}

Result<std::unique_ptr<BlockDevice>> LvmThinProvider::open(const std::string& name) {
  RETURN_IF_ERROR(checkName(name, "volume"));
  const std::string context = "open volume " + lvPath(name);
  RETURN_IF_ERROR(run({"lvchange", "-ay", "-K", lvPath(name)}).withContext(context));
  auto dev = FileBlockDevice::open(device_dir_ + "/" + vg_ + "/" + name);
  if (!dev.isOk()) return dev.status().withContext(context);
  return std::unique_ptr<BlockDevice>(std::move(dev).value());
}

Result<std::vector<VolumeInfo>> LvmThinProvider::list() {
  ASSIGN_OR_RETURN(auto rows, poolRows());
  std::vector<VolumeInfo> out;
  for (const auto& row : rows) {
    if (row.pool_lv != pool_) continue;
    VolumeInfo info;
    info.size_bytes = row.size_bytes;
    info.allocated_bytes = allocatedOf(row);
    size_t sep = row.name.find(kSnapSep);
    if (sep == std::string::npos) {
      info.name = row.name;
    } else {
      info.name = row.name.substr(sep + 1);
      info.parent = row.name.substr(0, sep);
      info.is_snapshot = true;
    }
    out.push_back(std::move(info));
  }
  return out;
}

Result<VolumeInfo> LvmThinProvider::info(const std::string& name) {
  RETURN_IF_ERROR(checkName(name, "volume"));
  ASSIGN_OR_RETURN(auto row, findLv(name));
  VolumeInfo info;
  info.name = name;
  info.size_bytes = row.size_bytes;
  info.allocated_bytes = allocatedOf(row);
  return info;
}

Status LvmThinProvider::snapshot(const std::string& volume, const std::string& snapshot,
                                 const ProgressFn& progress) {
  RETURN_IF_ERROR(checkName(volume, "volume"));
  RETURN_IF_ERROR(checkName(snapshot, "snapshot"));
  const std::string context = "snapshot " + lvPath(volume) + "@" + snapshot;
  ASSIGN_OR_RETURN(auto rows, poolRows());
  bool found = false;
  for (const auto& row : rows) {
    if (row.pool_lv != pool_) continue;
    if (row.name == volume) found = true;
    if (row.name == snapLv(volume, snapshot)) {
      return Status(ErrorCode::kAlreadyExists, context + ": LV " + lvPath(row.name) + " already exists");
    }
  }
  if (!found) return Status(ErrorCode::kNotFound, context + ": no such thin LV in pool " + pool_);
  RETURN_IF_ERROR(
      run({"lvcreate", "-y", "-s", "-n", snapLv(volume, snapshot), lvPath(volume)}).withContext(context));
  if (progress) progress(1, 1);  // thin snapshots are metadata only
  return Status::ok();
}

Status LvmThinProvider::removeSnapshot(const std::string& volume, const std::string& snapshot) {
  RETURN_IF_ERROR(checkName(volume, "volume"));
  RETURN_IF_ERROR(checkName(snapshot, "snapshot"));
  const std::string lv = snapLv(volume, snapshot);
  const std::string context = "remove snapshot " + lvPath(volume) + "@" + snapshot;
  auto row = findLv(lv);
  if (!row.isOk()) return row.status().withContext(context);
  return run({"lvremove", "-y", lvPath(lv)}).withContext(context);
}

Status LvmThinProvider::clone(const std::string& source_volume, const std::string& source_snapshot,
                              const std::string& target, const ProgressFn& progress) {
  RETURN_IF_ERROR(checkName(source_volume, "volume"));
  if (!source_snapshot.empty()) RETURN_IF_ERROR(checkName(source_snapshot, "snapshot"));
  RETURN_IF_ERROR(checkName(target, "volume"));
  const std::string source = source_snapshot.empty() ? source_volume : snapLv(source_volume, source_snapshot);
  const std::string context = "clone " + lvPath(source) + " to volume " + lvPath(target);
  ASSIGN_OR_RETURN(auto rows, poolRows());
  bool found = false;
  for (const auto& row : rows) {
    if (row.name == target) {
      return Status(ErrorCode::kAlreadyExists, context + ": LV " + lvPath(target) + " already exists");
    }
    if (row.name == source && row.pool_lv == pool_) found = true;
  }
  if (!found) return Status(ErrorCode::kNotFound, context + ": no such thin LV in pool " + pool_);
  RETURN_IF_ERROR(run({"lvcreate", "-y", "-s", "--setactivationskip", "n", "-n", target, lvPath(source)})
                      .withContext(context));
  RETURN_IF_ERROR(run({"lvchange", "-ay", "-K", lvPath(target)}).withContext(context));
  if (progress) progress(1, 1);
  return Status::ok();
}

Status LvmThinProvider::revert(const std::string& volume, const std::string& snapshot) {
  RETURN_IF_ERROR(checkName(volume, "volume"));
  RETURN_IF_ERROR(checkName(snapshot, "snapshot"));
  const std::string lv = snapLv(volume, snapshot);
  const std::string context = "revert " + lvPath(volume) + " to snapshot " + snapshot;
  auto row = findLv(lv);
  if (!row.isOk()) return row.status().withContext(context);
  if (row->origin != volume) {
    return Status(ErrorCode::kConflict, context + ": LV " + lvPath(lv) + " is not a snapshot of " + volume +
                                            " (origin '" + row->origin + "')");
  }
  // The merge happens at once only on an inactive origin; it consumes the snapshot, so the
  // snapshot is taken again from the merged volume (same contents) to keep it.
  RETURN_IF_ERROR(run({"lvchange", "-an", lvPath(volume)}).withContext(context));
  RETURN_IF_ERROR(run({"lvconvert", "--merge", lvPath(lv)}).withContext(context));
  RETURN_IF_ERROR(run({"lvchange", "-ay", "-K", lvPath(volume)}).withContext(context));
  return run({"lvcreate", "-y", "-s", "-n", lv, lvPath(volume)})
      .withContext(context + " (re-creating the merged snapshot)");
}

Status LvmThinProvider::rename(const std::string& from, const std::string& to) {
  RETURN_IF_ERROR(checkName(from, "volume"));
  RETURN_IF_ERROR(checkName(to, "volume"));
  const std::string context = "rename volume " + lvPath(from) + " to " + to;
  ASSIGN_OR_RETURN(auto rows, poolRows());
  bool found = false;
  for (const auto& row : rows) {
    if (row.pool_lv != pool_) continue;
    if (row.name == from) found = true;
    if (row.name == to) return Status(ErrorCode::kAlreadyExists, context + ": LV " + lvPath(to) + " exists");
    if (row.name.starts_with(from + kSnapSep)) return Status(ErrorCode::kConflict, context + ": it has snapshots");
  }
  if (!found) return Status(ErrorCode::kNotFound, context + ": no thin LV " + lvPath(from) + " in pool " + pool_);
  return run({"lvrename", vg_, from, to}).withContext(context);
}

std::string LvmThinProvider::pathOf(const std::string& name) const { return device_dir_ + "/" + vg_ + "/" + name; }

}  // namespace tandem::devices
