// VolumeApi: what tandem-pool-fs needs from the controller's REST API (docs/openapi.yaml), as
// typed calls. The real one is HTTPS with a bearer token (makeHttpsVolumeApi); tests may
// substitute their own.
//
// Errors: the HTTP status becomes the code (404 kNotFound, 409 kConflict, 422 kUnprocessable,
// 400 kInvalidArgument, 401/403 kUnauthenticated/kPermissionDenied, other kUnavailable) and the
// controller's error code ("volume_attached", "multiattach_not_allowed", ...) the reason.
// Thread-safety: calls are serialised internally; any thread may call.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "tandem/attach/attachment_files.h"
#include "tandem/common/status.h"

namespace tandem::poolfs {

struct VolumeView {
  std::string name;
  std::string uuid;
  std::string resource_group;
  std::string state;  // creating, available, attached, resyncing, degraded, split_brain
  std::string primary_node;
  std::string nbd_uri;  // nbd://address:port/name (empty while nothing serves it)
  uint64_t size_bytes = 0;
  // What the primary's copy really uses (replicas[].allocated_bytes); absent from an older controller.
  std::optional<uint64_t> allocated_bytes;
  std::vector<std::string> attached_hosts;
};

struct GroupView {
  std::string name;
  uint64_t replicas = 1;
  bool thin = false;
  std::vector<std::string> pools;  // empty: every pool
};

struct StoragePoolView {
  std::string node;
  std::string name;
  std::string state;  // online, offline, unknown
  uint64_t total_bytes = 0;
  uint64_t free_bytes = 0;
};

struct AttachmentView {
  std::string host;
  std::string state;  // attaching, attached, detaching, error
  std::string reason;
  attach::NbdEndpoint endpoint;  // the UNIX socket when given, else TCP; export empty if none
};

class VolumeApi {
 public:
  virtual ~VolumeApi() = default;
  virtual Result<std::vector<VolumeView>> listVolumes() = 0;
  virtual Result<VolumeView> getVolume(const std::string& name) = 0;
  virtual Result<VolumeView> createVolume(const std::string& name, const std::string& group,
                                          uint64_t size_bytes) = 0;
  // PATCH size_bytes (online grow).
  virtual Result<VolumeView> growVolume(const std::string& name, uint64_t size_bytes) = 0;
  virtual Status deleteVolume(const std::string& name) = 0;
  virtual Result<GroupView> getGroup(const std::string& name) = 0;
  virtual Result<std::vector<StoragePoolView>> listStoragePools() = 0;
  // POST .../attachments {host, mode: nbd, move_primary}.
  virtual Result<AttachmentView> attach(const std::string& volume, const std::string& host,
                                        bool move_primary) = 0;
  // The attachment of `host` (kNotFound when there is none).
  virtual Result<AttachmentView> getAttachment(const std::string& volume, const std::string& host) = 0;
  virtual Status detach(const std::string& volume, const std::string& host) = 0;
};

struct ApiOptions {
  std::string url;      // https://controller:8443
  std::string token;    // admin or service token
  std::string ca_file;  // empty: the system store
  std::chrono::milliseconds timeout{30000};
};

// Fails (kInvalidArgument/kNotFound) for a bad URL or an unreadable CA file; connects lazily.
Result<std::unique_ptr<VolumeApi>> makeHttpsVolumeApi(const ApiOptions& options);

// "nbd://host:port/export" → a TCP endpoint; kInvalidArgument otherwise.
Result<attach::NbdEndpoint> parseNbdUri(const std::string& uri);

}  // namespace tandem::poolfs
