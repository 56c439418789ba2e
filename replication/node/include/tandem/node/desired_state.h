// The node's view of its desired state, as sent by the controller's long-poll
// (GET /v1/internal/nodes/{node}/desired), and its parser.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "tandem/common/status.h"

namespace tandem::node {

struct DesiredPeer {
  std::string node;
  std::string host;
  uint16_t port = 0;
  bool operator==(const DesiredPeer&) const = default;
};

struct DesiredReplica {
  std::string volume_name;
  std::string volume_uuid;
  uint64_t size_bytes = 0;
  uint64_t epoch = 0;
  std::string pool;
  bool thin = true;                 // false: preallocate the backing volume
  bool quorum = false;              // writes need a majority of up-to-date replicas
  bool primary = false;
  std::vector<DesiredPeer> peers;
  bool operator==(const DesiredReplica&) const = default;
};

struct DesiredState {
  uint64_t generation = 0;
  std::string cluster_id;
  std::string node;
  std::vector<DesiredReplica> replicas;
};

// Validates and parses the controller's JSON; kInvalidArgument naming the bad field.
Result<DesiredState> parseDesiredState(std::string_view json);

}  // namespace tandem::node
