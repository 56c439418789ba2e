#include "tandem/node/attachment_reconciler.h"

#include <set>

#include "tandem/common/log.h"

namespace tandem::node {
namespace {

nodeapi::DeviceHealth reportedHealth(attach::AttachmentHealth health) {
  switch (health) {
    case attach::AttachmentHealth::kHealthy:
      return nodeapi::DeviceHealth::kHealthy;
    case attach::AttachmentHealth::kDisconnected:
      return nodeapi::DeviceHealth::kDisconnected;
    case attach::AttachmentHealth::kBroken:
      return nodeapi::DeviceHealth::kBroken;
  }
  return nodeapi::DeviceHealth::kBroken;
}

}  // namespace

AttachmentReconciler::AttachmentReconciler(attach::LocalDeviceManager& devices, std::string nbd_socket,
                                           std::string link_root)
    : devices_(devices), nbd_socket_(std::move(nbd_socket)), link_root_(std::move(link_root)) {}

Status AttachmentReconciler::apply(const std::vector<nodeapi::DesiredAttachment>& desired,
                                   const std::vector<std::string>& force_detach) {
  const std::set<std::string> forced(force_detach.begin(), force_detach.end());
  std::lock_guard lock(mu_);
  desired_.clear();
  for (const auto& d : desired) {
    desired_[d.volume_name] = d;
    uuids_[d.volume_name] = d.volume_uuid;
  }
  Status first;
  auto fail = [&](const Status& s) {
    if (first.isOk()) first = s;
  };

  // First the devices no longer desired (a volume detached here, or deleted).
  auto present = devices_.list();
  std::map<std::string, uint64_t> present_sizes;
  if (present.isOk()) {
    for (const auto& info : *present) present_sizes[info.volume] = info.size_bytes;
  }
  if (!present.isOk()) {
    log::error("attach", "listing the attachments failed: " + present.status().toString());
    fail(present.status());
  } else {
    for (const auto& info : *present) {
      if (desired_.count(info.volume)) continue;
      Status s = devices_.detach(info.volume, forced.count(info.volume) > 0);
      if (s.isOk()) {
        log::info("attach", "detached volume " + info.volume);
        busy_.erase(info.volume);
        errors_.erase(info.volume);
        continue;
      }
      log::warn("attach", "detach of volume " + info.volume + " refused: " + s.toString());
      busy_[info.volume] = s.toString();
      fail(s);
    }
  }

  for (const auto& [name, d] : desired_) {
    busy_.erase(name);
    // A volume grown online: the device follows once the primary's export has grown.
    auto size = present_sizes.find(name);
    if (size != present_sizes.end() && (size->second < d.size_bytes || !sized_.count(name))) {
      Status grown = size->second <= d.size_bytes ? devices_.resize(name, d.size_bytes) : Status::ok();
      if (!grown.isOk()) {
        log::warn("attach", "grow of the device of volume " + name + " to " + std::to_string(d.size_bytes) +
                                " bytes: " + grown.toString());
        errors_[name] = grown.toString();
        fail(grown);
        continue;
      }
      sized_.insert(name);
    }
    attach::AttachSpec spec;
    spec.volume = name;
    spec.size_bytes = d.size_bytes;
    spec.volume_uuid = d.volume_uuid;
    spec.endpoint = d.primary_here && !nbd_socket_.empty()
                        ? attach::NbdEndpoint::unixSocket(nbd_socket_, d.nbd_export)
                        : attach::NbdEndpoint::tcp(d.nbd_host, d.nbd_port, d.nbd_export);
    auto attached = devices_.attach(spec);
    if (attached.isOk()) {
      if (errors_.erase(name)) log::info("attach", "volume " + name + " attached at " + attached->stable_path);
      continue;
    }
    log::error("attach", "attach of volume " + name + " failed: " + attached.status().toString());
    errors_[name] = attached.status().toString();
    fail(attached.status());
  }
  for (auto it = errors_.begin(); it != errors_.end();) {
    it = desired_.count(it->first) ? std::next(it) : errors_.erase(it);
  }
  for (auto it = sized_.begin(); it != sized_.end();) {
    it = desired_.count(*it) ? std::next(it) : sized_.erase(it);
  }
  return first;
}

std::vector<nodeapi::AttachmentReport> AttachmentReconciler::report() {
  std::lock_guard lock(mu_);
  std::map<std::string, attach::AttachmentInfo> present;
  if (auto list = devices_.list(); list.isOk()) {
    for (auto& info : *list) present[info.volume] = std::move(info);
  }
  std::vector<nodeapi::AttachmentReport> out;
  auto describe = [&](const std::string& name, const std::string& uuid) {
    nodeapi::AttachmentReport r;
    r.volume_uuid = uuid;
    auto info = present.find(name);
    if (info != present.end()) {
      r.device_path = info->second.stable_path;
      r.health = reportedHealth(info->second.health);
      if (r.health != nodeapi::DeviceHealth::kHealthy) r.error = info->second.detail;
    }
    return r;
  };
  for (const auto& [name, d] : desired_) {
    nodeapi::AttachmentReport r = describe(name, d.volume_uuid);
    if (auto err = errors_.find(name); err != errors_.end()) r.error = err->second;
    out.push_back(std::move(r));
  }
  // Every other device the host holds: kept because its detach was refused (busy), or not yet
  // detached. Its uuid comes from the host (the attachment's spec), so a restarted node worker,
  // which has not seen the volume in a desired state, still names it: the controller must never
  // take a device it does not hear about for removed.
  for (const auto& [name, info] : present) {
    if (desired_.count(name)) continue;
    std::string uuid = info.volume_uuid;
    if (auto remembered = uuids_.find(name); uuid.empty() && remembered != uuids_.end()) uuid = remembered->second;
    if (uuid.empty()) {
      log::warn("attach", "device of volume " + name + " has no recorded uuid; it cannot be reported");
      continue;
    }
    nodeapi::AttachmentReport r = describe(name, uuid);
    if (auto why = busy_.find(name); why != busy_.end()) {
      r.busy = true;
      r.error = why->second;
    }
    out.push_back(std::move(r));
  }
  return out;
}

}  // namespace tandem::node
