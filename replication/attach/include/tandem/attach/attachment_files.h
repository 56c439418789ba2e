// The files of one attachment under the manager's state directory, and their codec.
//
// Layout of <state_dir>/<volume>/ (one directory per attached volume):
//   spec    what the attachment should be: volume, size, NBD endpoint, generation. Written
//           (atomically, by rename) by the LocalDeviceManager; read by tandem-disk-fuse at start
//           and again on SIGHUP (retarget). The generation grows with every retarget.
//   status  what tandem-disk-fuse reports: the spec generation it is connected to, or that it
//           is disconnected (and why). Written atomically by tandem-disk-fuse.
//   pid     the tandem-disk-fuse process id, written once it has mounted `mnt`.
//   mnt/    the FUSE mount point; mnt/disk is the file of the volume the loop device is bound to.
//   log     tandem-disk-fuse's stderr once it has detached from its parent.
//
// Both sides (the manager library and tandem-disk-fuse) link this one codec. Pure functions
// plus two small file helpers; thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "tandem/common/status.h"

namespace tandem::attach {

// Where the NBD export of a volume is served: a TCP host/port or a UNIX socket, plus the export
// name. Exactly one of (tcp_host, tcp_port) and unix_path is set.
struct NbdEndpoint {
  std::string tcp_host;  // numeric address or host name; empty for a UNIX socket
  uint16_t tcp_port = 0;
  std::string unix_path;  // empty for TCP
  std::string export_name;

  static NbdEndpoint tcp(std::string host, uint16_t port, std::string export_name) {
    return NbdEndpoint{std::move(host), port, "", std::move(export_name)};
  }
  static NbdEndpoint unixSocket(std::string path, std::string export_name) {
    return NbdEndpoint{"", 0, std::move(path), std::move(export_name)};
  }
  bool isUnix() const { return !unix_path.empty(); }
  // "nbd://127.0.0.1:10809/vol1" or "nbd+unix:///vol1?socket=/run/x.sock", for messages.
  std::string describe() const;
  bool operator==(const NbdEndpoint&) const = default;
};

// Checks the endpoint's shape: exactly one transport, a non-zero port, no newline anywhere.
Status validateEndpoint(const NbdEndpoint& endpoint);

struct AttachmentSpecFile {
  std::string volume;
  uint64_t size_bytes = 0;
  NbdEndpoint endpoint;
  uint64_t generation = 1;
  // The volume's uuid, so that a restarted node worker can name in its reports a device it no
  // longer desires (a refused detach). Optional on decode: spec files written before it was
  // added have none ("").
  std::string volume_uuid{};
  bool operator==(const AttachmentSpecFile&) const = default;
};

enum class LinkState { kConnected, kDisconnected };

struct AttachmentStatusFile {
  uint64_t generation = 0;  // the spec generation this status is about
  LinkState state = LinkState::kDisconnected;
  std::string error;  // why it is disconnected (empty when connected)
  bool operator==(const AttachmentStatusFile&) const = default;
};

// "key=value" lines. decode* fail with kInvalidArgument on a missing or malformed field.
std::string encodeSpec(const AttachmentSpecFile& spec);
Result<AttachmentSpecFile> decodeSpec(std::string_view text);
std::string encodeStatus(const AttachmentStatusFile& status);
Result<AttachmentStatusFile> decodeStatus(std::string_view text);

// Writes `contents` to `path` through a temporary file in the same directory and rename(2), so
// readers see the old or the new file, never a torn one. fsyncs the file before renaming.
Status writeFileAtomically(const std::string& path, std::string_view contents);
// The whole file; kNotFound when it does not exist.
Result<std::string> readWholeFile(const std::string& path);

// The file names inside an attachment directory.
inline constexpr std::string_view kSpecFile = "spec";
inline constexpr std::string_view kStatusFile = "status";
inline constexpr std::string_view kPidFile = "pid";
inline constexpr std::string_view kMountDir = "mnt";
inline constexpr std::string_view kDiskFile = "disk";
inline constexpr std::string_view kLogFile = "log";
// Online grow: the manager writes the new size to kGrowFile and signals SIGUSR1; the server
// connects at that size and, once connected, rewrites the spec (size, generation + 1) itself, or
// writes why it could not to kGrowErrorFile (the export has not grown yet) and keeps serving.
inline constexpr std::string_view kGrowFile = "grow";
inline constexpr std::string_view kGrowErrorFile = "grow-error";

}  // namespace tandem::attach
