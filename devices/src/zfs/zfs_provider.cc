#include "zfs/zfs_provider.h"

#include <algorithm>
#include <charconv>

#include "tandem/devices/file_block_device.h"

namespace tandem::devices {
namespace {

constexpr std::string_view kHiddenPrefix = "clone:";

Status checkName(const std::string& name, std::string_view what) {
  if (!isValidVolumeName(name)) {
    return Status(ErrorCode::kInvalidArgument, "invalid " + std::string(what) + " name '" + name + "'");
  }
  return Status::ok();
}

bool isHidden(const std::string& snapshot) { return snapshot.starts_with(kHiddenPrefix); }

std::string joinNames(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& n : names) out += (out.empty() ? "" : ", ") + n;
  return out;
}

}  // namespace

ZfsProvider::ZfsProvider(std::string root, CommandRunner* runner, std::unique_ptr<CommandRunner> owned_runner,
                         std::string device_dir)
    : root_(std::move(root)),
      owned_runner_(std::move(owned_runner)),
      runner_(runner != nullptr ? runner : owned_runner_.get()),
      device_dir_(std::move(device_dir)) {}

ProviderCapabilities ZfsProvider::capabilities() const {
  return ProviderCapabilities{.provider = "zfs", .thin = true, .snapshots = true, .reflink = true};
}

Status ZfsProvider::run(const std::vector<std::string>& argv) {
  auto out = runChecked(*runner_, argv);
  return out.isOk() ? Status::ok() : out.status();
}

Result<std::vector<ZfsProvider::Entry>> ZfsProvider::entries() {
  const std::vector<std::string> argv = {
      "zfs", "list",      "-Hp", "-o", "name,volsize,used,referenced,origin", "-t", "volume,snapshot",
      "-s",  "createtxg", "-r",  root_};
  ASSIGN_OR_RETURN(auto out, runChecked(*runner_, argv));
  auto rows = parseZfsList(out.stdout_text);
  if (!rows.isOk()) return rows.status().withContext("`" + formatCommandLine(argv) + "`");
  std::vector<Entry> result;
  const std::string prefix = root_ + "/";
  for (auto& row : *rows) {
    if (!row.name.starts_with(prefix)) continue;
    std::string rest = row.name.substr(prefix.size());
    if (rest.find('/') != std::string::npos) continue;  // a nested dataset: not ours
    Entry e;
    size_t at = rest.find('@');
    e.volume = rest.substr(0, at);
    if (at != std::string::npos) e.snapshot = rest.substr(at + 1);
    if (!isValidVolumeName(e.volume)) continue;
    if (!e.snapshot.empty() && !isValidVolumeName(e.snapshot) && !isHidden(e.snapshot)) continue;
    e.row = std::move(row);
    result.push_back(std::move(e));
  }
  return result;
}

Result<Capacity> ZfsProvider::capacity() {
  const std::vector<std::string> argv = {"zfs", "list", "-Hp", "-o", "used,available", root_};
  ASSIGN_OR_RETURN(auto out, runChecked(*runner_, argv));
  std::string_view text = out.stdout_text;
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.remove_suffix(1);
  size_t tab = text.find('\t');
  uint64_t used = 0, avail = 0;
  auto num = [](std::string_view s, uint64_t* v) {
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), *v);
    return !s.empty() && ec == std::errc() && end == s.data() + s.size();
  };
  if (tab == std::string_view::npos || text.find('\n') != std::string_view::npos ||
      !num(text.substr(0, tab), &used) || !num(text.substr(tab + 1), &avail)) {
    return Status(ErrorCode::kProtocol,
                  "`" + formatCommandLine(argv) + "`: unexpected output '" + std::string(text) + "'");
  }
  Capacity cap;
  cap.total_bytes = used + avail;
  cap.free_bytes = avail;
  ASSIGN_OR_RETURN(auto all, entries());
  for (const auto& e : all) {
    if (e.snapshot.empty()) cap.provisioned_bytes += e.row.volsize;
  }
  return cap;
}

Status ZfsProvider::create(const std::string& name, uint64_t size_bytes, Provisioning provisioning) {
  RETURN_IF_ERROR(checkName(name, "volume"));
  const std::string context = "create volume " + ds(name);
  ASSIGN_OR_RETURN(auto all, entries());
  for (const auto& e : all) {
    if (e.volume == name && e.snapshot.empty()) {
      return Status(ErrorCode::kAlreadyExists, context + ": dataset already exists");
    }
  }
  std::vector<std::string> argv = {"zfs", "create"};
  if (provisioning == Provisioning::kThin) argv.push_back("-s");
  argv.insert(argv.end(), {"-V", std::to_string(size_bytes), ds(name)});
  return run(argv).withContext(context);
}

Status ZfsProvider::remove(const std::string& name) {
  RETURN_IF_ERROR(checkName(name, "volume"));
  const std::string context = "remove volume " + ds(name);
  ASSIGN_OR_RETURN(auto all, entries());
  const Entry* volume = nullptr;
  std::vector<std::string> snaps, clones, stale_hidden;
  for (const auto& e : all) {
    if (e.volume != name) continue;
    if (e.snapshot.empty()) {
      volume = &e;
    } else if (!isHidden(e.snapshot)) {
      snaps.push_back(e.snapshot);
    } else {
      bool in_use = std::any_of(all.begin(), all.end(), [&](const Entry& other) {
        return other.snapshot.empty() && other.row.origin == e.row.name;
      });
      if (in_use) {
        clones.push_back(e.snapshot.substr(kHiddenPrefix.size()));
      } else {
        stale_hidden.push_back(e.row.name);
      }
    }
  }
  if (volume == nullptr) return Status(ErrorCode::kNotFound, context + ": no such volume");
  if (!snaps.empty())
    return Status(ErrorCode::kConflict, context + ": it still has snapshots: " + joinNames(snaps));
  if (!clones.empty()) {
    return Status(ErrorCode::kConflict, context + ": it is the origin of clones: " + joinNames(clones));
  }
  for (const auto& hidden : stale_hidden)
    RETURN_IF_ERROR(run({"zfs", "destroy", hidden}).withContext(context));
  const std::string origin = volume->row.origin;
  RETURN_IF_ERROR(run({"zfs", "destroy", ds(name)}).withContext(context));
  // A clone made from a volume leaves its hidden origin snapshot behind: remove it too.
  if (origin.starts_with(root_ + "/") &&
      origin.find(std::string("@") + std::string(kHiddenPrefix)) != std::string::npos) {
    RETURN_IF_ERROR(run({"zfs", "destroy", origin}).withContext(context + " (its clone origin)"));
  }
  return Status::ok();
}

Status ZfsProvider::resize(const std::string& name, uint64_t new_size_bytes, bool force) {
  RETURN_IF_ERROR(checkName(name, "volume"));
  const std::string context = "resize volume " + ds(name);
  auto current = info(name);
  if (!current.isOk()) return current.status().withContext(context);
  if (new_size_bytes == current->size_bytes) return Status::ok();
  if (new_size_bytes < current->size_bytes && !force) {
    return Status(ErrorCode::kInvalidArgument,
                  context + ": shrinking from " + std::to_string(current->size_bytes) + " to " +
                      std::to_string(new_size_bytes) + " bytes loses data; refused without force");
  }
  return run({"zfs", "set", "volsize=" + std::to_string(new_size_bytes), ds(name)}).withContext(context);
}

Result<std::unique_ptr<BlockDevice>> ZfsProvider::open(const std::string& name) {
  RETURN_IF_ERROR(checkName(name, "volume"));
  auto dev = FileBlockDevice::open(device_dir_ + "/zvol/" + ds(name));
  if (!dev.isOk()) return dev.status().withContext("open volume " + ds(name));
  return std::unique_ptr<BlockDevice>(std::move(dev).value());
}

Result<std::vector<VolumeInfo>> ZfsProvider::list() {
  ASSIGN_OR_RETURN(auto all, entries());
  std::vector<VolumeInfo> out;
  for (const auto& e : all) {
    if (isHidden(e.snapshot)) continue;
    VolumeInfo info;
    info.size_bytes = e.row.volsize;
    info.allocated_bytes = e.row.referenced;
    if (e.snapshot.empty()) {
      info.name = e.volume;
    } else {
      info.name = e.snapshot;
      info.parent = e.volume;
      info.is_snapshot = true;
    }
    out.push_back(std::move(info));
  }
  return out;
}

Result<VolumeInfo> ZfsProvider::info(const std::string& name) {
  RETURN_IF_ERROR(checkName(name, "volume"));
  ASSIGN_OR_RETURN(auto all, entries());
  for (const auto& e : all) {
    if (e.volume == name && e.snapshot.empty()) {
      VolumeInfo info;
      info.name = name;
      info.size_bytes = e.row.volsize;
      info.allocated_bytes = e.row.referenced;
      return info;
    }
  }
  return Status(ErrorCode::kNotFound, "no volume " + ds(name));
}

Status ZfsProvider::snapshot(const std::string& volume, const std::string& snapshot,
                             const ProgressFn& progress) {
  RETURN_IF_ERROR(checkName(volume, "volume"));
  RETURN_IF_ERROR(checkName(snapshot, "snapshot"));
  const std::string context = "snapshot " + ds(volume) + "@" + snapshot;
  ASSIGN_OR_RETURN(auto all, entries());
  bool found = false;
  for (const auto& e : all) {
    if (e.volume != volume) continue;
    if (e.snapshot.empty()) found = true;
    if (e.snapshot == snapshot) return Status(ErrorCode::kAlreadyExists, context + ": already exists");
  }
  if (!found) return Status(ErrorCode::kNotFound, context + ": no volume " + ds(volume));
  RETURN_IF_ERROR(run({"zfs", "snapshot", ds(volume) + "@" + snapshot}).withContext(context));
  if (progress) progress(1, 1);
  return Status::ok();
}

Status ZfsProvider::removeSnapshot(const std::string& volume, const std::string& snapshot) {
  RETURN_IF_ERROR(checkName(volume, "volume"));
  RETURN_IF_ERROR(checkName(snapshot, "snapshot"));
  const std::string full = ds(volume) + "@" + snapshot;
  const std::string context = "remove snapshot " + full;
  ASSIGN_OR_RETURN(auto all, entries());
  bool found = false;
  std::vector<std::string> clones;
  for (const auto& e : all) {
    if (e.volume == volume && e.snapshot == snapshot) found = true;
    if (e.snapshot.empty() && e.row.origin == full) clones.push_back(e.volume);
  }
  if (!found) return Status(ErrorCode::kNotFound, context + ": no such snapshot");
  if (!clones.empty()) {
    return Status(ErrorCode::kConflict, context + ": it is the origin of clones: " + joinNames(clones));
  }
  return run({"zfs", "destroy", full}).withContext(context);
}

Status ZfsProvider::clone(const std::string& source_volume, const std::string& source_snapshot,
                          const std::string& target, const ProgressFn& progress) {
  RETURN_IF_ERROR(checkName(source_volume, "volume"));
  if (!source_snapshot.empty()) RETURN_IF_ERROR(checkName(source_snapshot, "snapshot"));
  RETURN_IF_ERROR(checkName(target, "volume"));
  const std::string origin =
      ds(source_volume) + "@" +
      (source_snapshot.empty() ? std::string(kHiddenPrefix) + target : source_snapshot);
  const std::string context =
      "clone " + (source_snapshot.empty() ? ds(source_volume) : origin) + " to volume " + ds(target);
  ASSIGN_OR_RETURN(auto all, entries());
  bool found = false;
  for (const auto& e : all) {
    if (e.volume == target && e.snapshot.empty()) {
      return Status(ErrorCode::kAlreadyExists, context + ": target already exists");
    }
    if (e.volume == source_volume && e.snapshot == source_snapshot) found = true;
  }
  if (!found) return Status(ErrorCode::kNotFound, context + ": no such source");
  if (source_snapshot.empty()) {
    // A leftover hidden snapshot of an earlier failed clone is reused.
    bool have_hidden =
        std::any_of(all.begin(), all.end(), [&](const Entry& e) { return e.row.name == origin; });
    if (!have_hidden) RETURN_IF_ERROR(run({"zfs", "snapshot", origin}).withContext(context));
  }
  Status s = run({"zfs", "clone", origin, ds(target)}).withContext(context);
  if (!s.isOk()) {
    if (source_snapshot.empty()) (void)run({"zfs", "destroy", origin});  // best effort; s says why
    return s;
  }
  if (progress) progress(1, 1);
  return Status::ok();
}

Status ZfsProvider::revert(const std::string& volume, const std::string& snapshot) {
  RETURN_IF_ERROR(checkName(volume, "volume"));
  RETURN_IF_ERROR(checkName(snapshot, "snapshot"));
  const std::string full = ds(volume) + "@" + snapshot;
  const std::string context = "revert " + ds(volume) + " to snapshot " + snapshot;
  ASSIGN_OR_RETURN(auto all, entries());
  bool found = false;
  std::vector<std::string> later;  // entries() is oldest first
  for (const auto& e : all) {
    if (e.volume != volume || e.snapshot.empty()) continue;
    if (found) later.push_back(isHidden(e.snapshot) ? e.snapshot + " (origin of a clone)" : e.snapshot);
    if (e.snapshot == snapshot) found = true;
  }
  if (!found) return Status(ErrorCode::kNotFound, context + ": no such snapshot");
  if (!later.empty()) {
    return Status(ErrorCode::kConflict,
                  context + ": ZFS rolls back only to the latest snapshot; later ones: " + joinNames(later));
  }
  return run({"zfs", "rollback", full}).withContext(context);
}

Status ZfsProvider::rename(const std::string& from, const std::string& to) {
  RETURN_IF_ERROR(checkName(from, "volume"));
  RETURN_IF_ERROR(checkName(to, "volume"));
  const std::string context = "rename volume " + ds(from) + " to " + ds(to);
  ASSIGN_OR_RETURN(auto all, entries());
  bool found = false;
  for (const auto& e : all) {
    if (e.volume == to) return Status(ErrorCode::kAlreadyExists, context + ": dataset " + ds(to) + " exists");
    if (e.volume != from) continue;
    if (!e.snapshot.empty()) return Status(ErrorCode::kConflict, context + ": it has snapshots");
    found = true;
  }
  if (!found) return Status(ErrorCode::kNotFound, context + ": no such volume");
  return run({"zfs", "rename", ds(from), ds(to)}).withContext(context);
}

std::string ZfsProvider::pathOf(const std::string& name) const { return device_dir_ + "/zvol/" + ds(name); }

}  // namespace tandem::devices
