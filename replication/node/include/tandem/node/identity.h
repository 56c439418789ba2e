// NodeIdentity: what a node worker keeps across restarts in <state-dir>/identity — its uuid
// (so re-registration keeps the node's identity) and the cluster it joined (so a different or
// reset controller can never make it delete data). Written atomically (temp file + rename).
#pragma once

#include <string>

#include "tandem/common/status.h"

namespace tandem::node {

struct NodeIdentity {
  std::string name;
  std::string uuid;        // empty until the first registration
  std::string cluster_id;  // empty until the first registration
};

// Reads <state_dir>/identity; a missing file gives an empty identity (a new node).
Result<NodeIdentity> loadIdentity(const std::string& state_dir);
Status saveIdentity(const std::string& state_dir, const NodeIdentity& identity);

}  // namespace tandem::node
