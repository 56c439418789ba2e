// DRBD allocation: the numbers a DRBD resource needs, chosen by the controller. Pure: takes the
// allocations in use as values and returns new ones; the store persists them (unique constraints
// make a race between two controllers fail instead of sharing a number).
//
// - node-id: per replica, 0..31, unique within the volume; kept for the replica's whole life (a
//   freed node-id is reused only after the peers forgot it: the engine runs forget-peer when it
//   removes a peer).
// - minor: per volume, unique in the cluster (every host that has the resource uses the same
//   /dev/drbd<minor>), from DrbdRanges::minor_first..minor_last.
// - port: per replica, unique on its node (the resource listens on node:port), from
//   DrbdRanges::port_first..port_last.
// The lowest free number is always taken, so the result is deterministic.
// Errors: kInvalidArgument (bad ranges, a node listed twice, no nodes), kAlreadyExists (the volume
// already has an allocation / a replica on that node), kNoSpace with reason "drbd_range_exhausted"
// and a message naming the range and what holds it.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "tandem/common/status.h"

namespace tandem::controller {

struct DrbdRanges {
  uint32_t minor_first = 1000;
  uint32_t minor_last = 49999;
  uint32_t port_first = 7000;  // TCP ports, per node
  uint32_t port_last = 7999;
  uint32_t max_node_ids = 32;  // node-ids 0..max_node_ids-1 (DRBD 9 allows at most 32)
  bool operator==(const DrbdRanges&) const = default;
};

struct DrbdReplicaAllocation {
  std::string volume_uuid;
  std::string node;
  uint32_t node_id = 0;
  uint32_t port = 0;
  bool operator==(const DrbdReplicaAllocation&) const = default;
};

struct DrbdVolumeAllocation {
  std::string volume_uuid;
  uint32_t minor = 0;
  std::vector<DrbdReplicaAllocation> replicas;  // by node-id
  std::string shared_secret = std::string();     // the peers' cram-hmac-alg secret (set by the caller)
  bool operator==(const DrbdVolumeAllocation&) const = default;
};

// kInvalidArgument when a range is empty or out of bounds (ports 1..65535, node-ids 1..32).
Status validateDrbdRanges(const DrbdRanges& ranges);

// "FIRST-LAST" (decimal, FIRST <= LAST) as given to tandem-controller's --drbd-minors and
// --drbd-ports; kInvalidArgument naming `what` otherwise.
Result<std::pair<uint32_t, uint32_t>> parseDrbdRange(std::string_view text, const std::string& what);

// A minor for the volume and a node-id and port for each of `nodes` (in that order).
Result<DrbdVolumeAllocation> allocateDrbdVolume(const std::string& volume_uuid, const std::vector<std::string>& nodes,
                                                const std::vector<DrbdVolumeAllocation>& in_use,
                                                const DrbdRanges& ranges);

// A node-id and port for one more replica of an allocated volume (a peer being added).
// kNotFound when the volume has no allocation.
Result<DrbdReplicaAllocation> allocateDrbdReplica(const std::string& volume_uuid, const std::string& node,
                                                  const std::vector<DrbdVolumeAllocation>& in_use,
                                                  const DrbdRanges& ranges);

}  // namespace tandem::controller
