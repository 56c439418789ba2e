// LocalDeviceManager: makes a Tandem volume a local block device on this host, with a stable
// path <link_root>/<volume> (default /dev/tandem/<volume>), for the node worker (issue 9,
// attachments). The I/O goes over NBD to whichever node serves the volume (the primary), so a
// host that holds no replica is a diskless client like any other.
//
// Implementations (chosen by createLocalDeviceManager from the host's capabilities, in order
// of preference): the kernel nbd client (a seam only: not implemented, this kernel has no nbd
// module) and a FUSE file of the volume bound to a loop device (FuseLoop: one tandem-disk-fuse
// process per attachment, see docs/attach.md).
//
// Everything the manager knows lives on the host (the state dir, the loop devices, the
// processes), never only in memory: a new instance (node worker restarted) finds the same
// attachments with list()/adopt() and attach() stays idempotent across instances.
//
// Thread-safety: every method may be called from any thread; the operations are serialised by
// an in-process mutex and an flock(2) on <state_dir>/.lock (two managers on one state dir are
// safe too).
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "tandem/attach/attachment_files.h"
#include "tandem/attach/host_capabilities.h"
#include "tandem/common/status.h"
#include "tandem/devices/command_runner.h"

namespace tandem::attach {

// Status reasons (Status::reason()) the REST layer passes on.
inline constexpr std::string_view kReasonDeviceBusy = "device_busy";                        // kConflict
inline constexpr std::string_view kReasonNoBlockDeviceSupport = "no_block_device_support";  // kUnsupported
inline constexpr std::string_view kReasonAttachmentNotFound = "attachment_not_found";       // kNotFound
inline constexpr std::string_view kReasonAttachmentBroken = "attachment_broken";            // kConflict
inline constexpr std::string_view kReasonEndpointUnavailable = "nbd_endpoint_unavailable";  // kUnavailable

struct AttachSpec {
  std::string volume;       // a valid object name (isValidObjectName)
  NbdEndpoint endpoint;     // the export serving the volume (the primary's NBD server)
  uint64_t size_bytes = 0;  // the volume's size; a multiple of 512; the export must be at least this big
  std::string volume_uuid{};  // kept with the attachment on the host (AttachmentInfo::volume_uuid)
};

struct AttachedDevice {
  std::string volume;
  std::string device_path;  // /dev/loopN (changes if the attachment is ever re-created)
  std::string stable_path;  // <link_root>/<volume>, a symlink to device_path
};

enum class AttachmentHealth {
  kHealthy,       // device present, its server running and connected to the current endpoint
  kDisconnected,  // device present, server running, NBD not connected: I/O fails with EIO
                  // while the server reconnects in the background (or waits for a retarget)
  kBroken,        // the server process is gone or the device is missing: I/O fails with EIO
                  // for good; detach (after unmounting) and attach again
};
std::string_view attachmentHealthName(AttachmentHealth health);

struct AttachmentInfo {
  std::string volume;
  std::string volume_uuid;  // as attached ("" for attachments made before uuids were kept)
  std::string device_path;  // empty when no loop device is bound
  std::string stable_path;
  NbdEndpoint endpoint;  // from the spec (empty when the spec is unreadable)
  uint64_t size_bytes = 0;
  uint64_t generation = 0;  // bumped by each retarget
  int server_pid = 0;       // tandem-disk-fuse's pid, 0 when not running
  AttachmentHealth health = AttachmentHealth::kBroken;
  std::string detail;  // why it is not healthy
};

struct AdoptReport {
  std::vector<AttachmentInfo> attachments;  // what is attached now (broken ones still in use included)
  std::vector<std::string> cleaned;         // "volume: why" for each half-made or dead attachment
                                            // (or orphan loop device/symlink) removed
};

class LocalDeviceManager {
 public:
  virtual ~LocalDeviceManager() = default;

  // "fuse-loop" or "kernel-nbd".
  virtual std::string_view backendName() const = 0;

  // Creates the device and the stable path. Idempotent: a healthy (or disconnected) attachment
  // of the same volume is returned as it is (no second device or process); a different endpoint
  // retargets it first; a different size is kConflict. A broken attachment not in use is
  // replaced. Errors: kInvalidArgument (bad spec), kUnavailable + nbd_endpoint_unavailable (the
  // export cannot be reached; nothing is left behind), kConflict + device_busy (a broken
  // attachment of the volume is still mounted/open), kIo/kInternal (tools failed).
  virtual Result<AttachedDevice> attach(const AttachSpec& spec) = 0;

  // Points the attachment at a new endpoint without changing its device or stable path. From
  // the call on, no request goes to the old endpoint; I/O fails with EIO until the new one is
  // connected. Returns OK once connected; kUnavailable (+ nbd_endpoint_unavailable) when not
  // connected within the wait (the server keeps retrying the new endpoint). kNotFound
  // (attachment_not_found), kConflict (attachment_broken: no server process).
  virtual Status retarget(std::string_view volume, const NbdEndpoint& endpoint) = 0;

  // Online grow: the device becomes `size_bytes` large (a multiple of 512, not smaller than
  // now) once the export serving it is at least that large, without a pause in its I/O (the
  // server connects at the new size before it lets go of the old connections); then the loop
  // device re-reads its size (`losetup -c`). Returns OK when the device has the size (at once
  // when it has already). kUnavailable (+ nbd_endpoint_unavailable) when the export is still
  // smaller after the wait (nothing changed; retry once the primary has grown it);
  // kInvalidArgument for a smaller size; kNotFound (attachment_not_found).
  virtual Status resize(std::string_view volume, uint64_t size_bytes) = 0;

  // Removes the device, the stable path, the server process and the state. While the device is
  // mounted, held by another device (holders) or opened O_EXCL: kConflict + device_busy, even
  // with `force` (never pull a device from under a file system). While processes merely have it
  // open: device_busy unless `force`; with force it is detached anyway and their later I/O
  // fails with EIO. Detaching a volume that is not attached is OK (idempotent).
  virtual Status detach(std::string_view volume, bool force) = 0;

  // What is attached, read from the host; changes nothing.
  virtual Result<std::vector<AttachmentInfo>> list() = 0;

  // After a restart: takes over every attachment found on the host, recreates missing stable
  // paths, and removes half-made or dead attachments that nothing uses (a dead one still in use
  // is kept and reported kBroken), orphan loop devices bound to files of the state dir, and
  // orphan symlinks in link_root. Never creates a device.
  virtual Result<AdoptReport> adopt() = 0;
};

struct LocalDeviceOptions {
  std::string link_root = "/dev/tandem";               // the stable paths' directory (created if missing)
  std::string state_dir = "/run/tandem/attach";        // one directory per attachment (created if missing)
  std::string disk_fuse_program = "tandem-disk-fuse";  // path, or a name looked up in PATH
  unsigned nbd_connections = 4;  // NBD connections per attachment (bench/attach: 4 beats 1)
  bool loop_direct_io = true;                          // losetup --direct-io=on (falls back to off)
  // How long a device's I/O waits for a connected primary (a reconnect, or the retarget of a
  // planned handover) before failing with EIO; zero fails at once. Passed to tandem-disk-fuse.
  std::chrono::milliseconds io_wait = std::chrono::seconds(15);
  std::chrono::milliseconds retarget_wait = std::chrono::seconds(10);
  std::chrono::milliseconds stop_wait = std::chrono::seconds(10);  // for the server to exit
  std::string proc_root = "/proc";                                 // for mountinfo and the open-file scan
  std::string sys_root = "/sys";                                   // for loop holders
};

// Creates the manager for the best backend the host supports (see chooseDeviceBackend).
// Errors: kUnsupported + no_block_device_support (no nbd module and no usable FUSE/loop),
// kIo when the state dir or link root cannot be created.
Result<std::unique_ptr<LocalDeviceManager>> createLocalDeviceManager(
    const LocalDeviceOptions& options, const HostCapabilities& capabilities,
    std::shared_ptr<devices::CommandRunner> runner);

}  // namespace tandem::attach
