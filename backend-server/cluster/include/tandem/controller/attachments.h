// Attachments: the rules for attaching a volume on a host and the attachment's view. Pure (no
// store, no clock, no lock); the caller holds whatever guards `observed`.
//
// checkAttach, in this order:
//  - kUnprocessable (node_not_found): `host` is not a registered node;
//  - the host's existing attachment with the same mode: returned (a repeated attach is the same
//    attachment, whatever the host's liveness);
//  - kConflict (attachment_exists): the host has it attached in the other mode, or it is being
//    detached there;
//  - kConflict (node_offline): the host is offline;
//  - kConflict (multiattach_not_allowed): another host has it attached and the volume's resource
//    group does not allow multi-attach.
// OK with nullopt: a new attachment may be made.
//
// deriveAttachmentView: `detaching` while a detach waits for the host; an nbd attachment needs
// nothing on the host and is `attached`; a block attachment is `attached` once the host reports
// its device healthy (or disconnected: the device exists and reconnects), `error` with the
// reason when the host reports a broken device or an error, else `attaching` (also while the
// volume's primary is being handed over: nothing serves it meanwhile). An nbd attachment of a
// drbd volume (`drbd`) is served by its host (which runs the resource and exports the DRBD
// device): it follows the host's report like a block attachment.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tandem/common/status.h"
#include "tandem/controller/observed_state.h"
#include "tandem/controller/records.h"

namespace tandem::controller {

// Where a block attachment's stable path lives on its host until the host reports its device
// (or, before that, its device_link_root).
inline constexpr std::string_view kDefaultDeviceLinkRoot = "/dev/tandem";

struct AttachRequest {
  std::string host;
  AttachMode mode = AttachMode::kBlock;
  std::string connector;  // Cinder's connector object (JSON text), "" when none
  // nbd mode: the primary follows the attachment as for block mode (tandem-pool-fs asks for it).
  bool move_primary = false;
};

enum class AttachmentState {
  kAttaching,  // the host has not made the device yet
  kAttached,
  kDetaching,  // a detach waits for the host to remove the device
  kError,      // the host failed to make the device, or it broke (reason says why)
};
std::string_view name(AttachmentState state);

// Cinder's connection_info: {driver_volume_type, data}.
struct ConnectionInfo {
  std::string driver_volume_type;  // "local" (block) or "nbd"
  std::string device_path;         // local: the stable path on the host
  std::string uri;                 // nbd: nbd://host:port/export of the primary
  std::string nbd_host;
  uint16_t nbd_port = 0;
  std::string nbd_export;
  std::string socket;              // nbd, when the host is the primary's: its UNIX socket
};

struct AttachmentView {
  std::string volume;  // the volume's name
  AttachmentRecord record;
  AttachmentState state = AttachmentState::kAttaching;
  std::string reason;
  ConnectionInfo connection_info;
};

Result<std::optional<AttachmentRecord>> checkAttach(const VolumeRecord& volume, const GroupRecord& group,
                                                    const std::vector<AttachmentRecord>& attachments,
                                                    const AttachRequest& request, bool host_registered,
                                                    const ObservedState& observed);

// `primary_node`: the record of the node serving the volume over NBD, or null (no NBD endpoint
// known): the volume's primary, or for an nbd attachment of a drbd volume (`drbd`) the
// attachment's host (see servingNode).
// `generation`: the host's node generation (the last change to its desired state); an error
// the host reported while applying an older one may be stale (the primary moved since), so the
// attachment is `attaching` until the host has applied this one.
AttachmentView deriveAttachmentView(const VolumeRecord& volume, const AttachmentRecord& attachment,
                                    const NodeRecord* primary_node, const ObservedState& observed,
                                    uint64_t generation, bool drbd = false);

// The primary follows the attachment: true when the attachment on `host` is a block one (or an
// nbd one with `nbd_follows`: AttachRequest::move_primary), `host`
// is not the primary, holds a diskful
// replica that the online primary's last report counts up to date, is the only host the volume
// is attached on (`attachments` includes the new one), and no handover is under way. The
// handover is planned: the primary is asked to stop serving first (the desired state names no
// primary), and only once its report shows it demoted does the target become the primary with
// the next epoch (handoverDemoted).
bool shouldHandOver(const VolumeRecord& volume, const std::vector<ReplicaRecord>& replicas,
                    const std::vector<AttachmentRecord>& attachments, const std::string& host,
                    const ObservedState& observed, bool nbd_follows = false);
// True when the volume's handover may complete: its primary's node is online and its last report
// holds the volume's replica no longer primary.
bool handoverDemoted(const VolumeRecord& volume, const ObservedState& observed);

// Lists `hosts` (the volume's attachments) in the view; an available volume attached on some
// host is `attached` (any other state says more and stays).
void markAttached(VolumeView& view, std::vector<std::string> hosts);

// The host's report of the volume's device, or null.
const nodeapi::AttachmentReport* attachmentReport(const ObservedState& observed, const std::string& host,
                                                  const std::string& volume_uuid);

}  // namespace tandem::controller
