#include "tandem/controller/attachments.h"

#include "tandem/common/name_table.h"

namespace tandem::controller {
namespace {

constexpr NameEntry<AttachmentState> kAttachmentStates[] = {
    {AttachmentState::kAttaching, "attaching"},
    {AttachmentState::kAttached, "attached"},
    {AttachmentState::kDetaching, "detaching"},
    {AttachmentState::kError, "error"},
};

}  // namespace

std::string_view name(AttachmentState state) { return nameIn(kAttachmentStates, state); }

Result<std::optional<AttachmentRecord>> checkAttach(const VolumeRecord& volume, const GroupRecord& group,
                                                    const std::vector<AttachmentRecord>& attachments,
                                                    const AttachRequest& request, bool host_registered,
                                                    const ObservedState& observed) {
  if (!host_registered) {
    return Status(ErrorCode::kUnprocessable, "host '" + request.host + "' is not a registered node")
        .withReason("node_not_found");
  }
  std::vector<std::string> others;
  for (const auto& a : attachments) {
    if (a.host != request.host) {
      others.push_back(a.host);
      continue;
    }
    if (a.detaching) {
      return Status(ErrorCode::kConflict, "volume '" + volume.name + "' is being detached from " + request.host +
                                              "; retry when the detach has finished")
          .withReason("attachment_exists");
    }
    if (a.mode != request.mode) {
      return Status(ErrorCode::kConflict, "volume '" + volume.name + "' is already attached on " + request.host +
                                              " in mode " + std::string(name(a.mode)) + "; detach it first")
          .withReason("attachment_exists");
    }
    return std::optional<AttachmentRecord>(a);
  }
  if (!observed.online(request.host)) {
    return Status(ErrorCode::kConflict, "host '" + request.host + "' is offline").withReason("node_offline");
  }
  if (request.mode == AttachMode::kBlock) {
    const NodeObservation* host = observed.find(request.host);
    if (host != nullptr && !host->report.no_block_devices.empty()) {
      return Status(ErrorCode::kUnprocessable, "host '" + request.host + "' cannot make local block devices (" +
                                                   host->report.no_block_devices + "); attach in mode nbd")
          .withReason("no_block_device_support");
    }
  }
  if (!others.empty() && !group.allow_multiattach) {
    std::string list;
    for (const auto& h : others) list += (list.empty() ? "" : ", ") + h;
    return Status(ErrorCode::kConflict, "volume '" + volume.name + "' is already attached on " + list +
                                            " and resource group '" + group.name +
                                            "' does not allow multi-attach (allow_multiattach)")
        .withReason("multiattach_not_allowed");
  }
  return std::optional<AttachmentRecord>();
}

bool shouldHandOver(const VolumeRecord& volume, const std::vector<ReplicaRecord>& replicas,
                    const std::vector<AttachmentRecord>& attachments, const std::string& host,
                    const ObservedState& observed, bool nbd_follows) {
  if (host == volume.primary_node || !volume.handover_to.empty()) return false;
  for (const auto& a : attachments) {
    // An nbd attachment was given the primary's URI: the primary stays where it is, unless the
    // client asked for it to follow (and then waits for the attachment to be `attached`).
    if (a.host != host || (a.mode != AttachMode::kBlock && !nbd_follows)) return false;
  }
  bool holds = false;
  for (const auto& r : replicas) holds = holds || (r.node_name == host && r.diskful);
  if (!holds || !observed.online(host) || !observed.online(volume.primary_node)) return false;
  const ReplicaReport* primary = observed.replicaReport(volume.primary_node, volume.uuid);
  const ReplicaReport* target = observed.replicaReport(host, volume.uuid);
  if (primary == nullptr || !primary->primary || target == nullptr || !target->error.empty() ||
      target->disk != nodeapi::DiskState::kUpToDate) {
    return false;
  }
  for (const auto& p : primary->peers) {
    if (p.node == host && p.state == nodeapi::PeerState::kUpToDate) return true;
  }
  return false;
}

bool handoverDemoted(const VolumeRecord& volume, const ObservedState& observed) {
  if (!observed.online(volume.primary_node)) return false;
  const ReplicaReport* primary = observed.replicaReport(volume.primary_node, volume.uuid);
  return primary != nullptr && !primary->primary;
}

void markAttached(VolumeView& view, std::vector<std::string> hosts) {
  view.attached_hosts = std::move(hosts);
  if (!view.attached_hosts.empty() && view.state == VolumeState::kAvailable) view.state = VolumeState::kAttached;
}

const nodeapi::AttachmentReport* attachmentReport(const ObservedState& observed, const std::string& host,
                                                  const std::string& volume_uuid) {
  const NodeObservation* obs = observed.find(host);
  if (obs == nullptr) return nullptr;
  for (const auto& a : obs->report.attachments) {
    if (a.volume_uuid == volume_uuid) return &a;
  }
  return nullptr;
}

AttachmentView deriveAttachmentView(const VolumeRecord& volume, const AttachmentRecord& attachment,
                                    const NodeRecord* primary_node, const ObservedState& observed,
                                    uint64_t generation, bool drbd) {
  AttachmentView view;
  view.volume = volume.name;
  view.record = attachment;
  ConnectionInfo& info = view.connection_info;
  const nodeapi::AttachmentReport* report = attachmentReport(observed, attachment.host, volume.uuid);
  const NodeObservation* host = observed.find(attachment.host);
  // What the host made of it: block attachments, and nbd attachments of drbd volumes (the host
  // runs the resource and exports its device).
  auto fromHost = [&] {
    if (attachment.detaching) {
      view.state = AttachmentState::kDetaching;
    } else if (!volume.handover_to.empty()) {
      // Nothing serves the volume until the handover completes: a failed attach is expected.
      view.state = AttachmentState::kAttaching;
      view.reason = "the primary moves to " + volume.handover_to;
    } else if (report == nullptr) {
      view.state = AttachmentState::kAttaching;
    } else if (report->health == nodeapi::DeviceHealth::kHealthy ||
               report->health == nodeapi::DeviceHealth::kDisconnected) {
      view.state = AttachmentState::kAttached;
      if (report->health == nodeapi::DeviceHealth::kDisconnected) {
        view.reason = "the device is not connected to the primary (I/O fails with EIO until it reconnects)";
      }
    } else if (host == nullptr || host->report.applied_generation < generation) {
      view.state = AttachmentState::kAttaching;
      view.reason = report->error.empty() ? "" : "retrying: " + report->error;
    } else if (report->health == nodeapi::DeviceHealth::kBroken || !report->error.empty()) {
      view.state = AttachmentState::kError;
      view.reason = report->error.empty() ? "the device is broken; detach and attach again" : report->error;
    } else {
      view.state = AttachmentState::kAttaching;
    }
  };
  if (attachment.mode == AttachMode::kBlock) {
    info.driver_volume_type = "local";
    const std::string link_root = host != nullptr && !host->report.device_link_root.empty()
                                      ? host->report.device_link_root
                                      : std::string(kDefaultDeviceLinkRoot);
    info.device_path =
        report != nullptr && !report->device_path.empty() ? report->device_path : link_root + "/" + volume.name;
    fromHost();
  } else {
    info.driver_volume_type = "nbd";
    if (drbd) {
      fromHost();
    } else if (attachment.detaching) {
      view.state = AttachmentState::kDetaching;
    } else if (!volume.handover_to.empty()) {
      // Nothing serves the volume until the handover completes; the URI names the new primary then.
      view.state = AttachmentState::kAttaching;
      view.reason = "the primary moves to " + volume.handover_to;
    } else {
      view.state = AttachmentState::kAttached;
    }
  }
  if (primary_node != nullptr) {
    info.nbd_host = primary_node->address;
    info.nbd_port = primary_node->nbd_port;
    info.nbd_export = volume.name;
    if (attachment.mode == AttachMode::kNbd) {
      info.uri = "nbd://" + primary_node->address + ":" + std::to_string(primary_node->nbd_port) + "/" + volume.name;
      const NodeObservation* obs = observed.find(primary_node->name);
      if (attachment.host == primary_node->name && obs != nullptr) info.socket = obs->report.nbd_socket;
    }
  }
  return view;
}

}  // namespace tandem::controller
