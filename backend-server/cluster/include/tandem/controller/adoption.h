// Adopt and forget (Cinder's manage_existing / unmanage): the checks and the records, as pure
// functions over the declared and observed state. ClusterService applies them under its lock.
//
// How the controller knows a backing volume: every heartbeat a node lists, per pool, the volumes
// whose names are not volume uuids (nodeapi::PoolReport::unmanaged, with size and path). Adoption
// is checked against the node's last report — synchronously, so a dry run can say the size — and
// the node, when it reads its desired state, renames the backing volume to the volume's uuid and
// adds it to its engine with its data (DesiredReplica::adopt_from). A backing volume that
// vanishes between the report and the node's rename leaves the replica in error (the volume
// `degraded`, reason the node's message), to be deleted or forgotten.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "tandem/common/status.h"
#include "tandem/controller/observed_state.h"
#include "tandem/controller/records.h"

namespace tandem::controller {

struct AdoptRequest {
  std::string name;          // the new volume's name
  std::string node;
  std::string pool;
  std::string backing_name;  // the pool's volume name (a file pool's <dir>/<name>.img)
  std::string group;         // the resource group the volume joins
  bool dry_run = false;      // check and answer the would-be volume, change nothing
};

// What adoptVolume needs to decide, read from the store (and `observed` for the node's report).
struct AdoptionInput {
  std::vector<NodeRecord> nodes;
  std::vector<PoolRecord> pools;
  GroupRecord group;                     // the request's group (already looked up)
  std::vector<VolumeRecord> volumes;     // to find backing volumes being adopted
  std::vector<ReplicaRecord> replicas;
  std::vector<ReleaseRecord> releases;   // backing volumes being released
};

// The volume (one replica, `adopting`, size the backing's reported size) and its replica, or the
// refusal, checked in this order:
//   422 invalid_field       backing_name is not a valid provider volume name
//   409 backing_managed     backing_name is a uuid (Tandem's own naming), or a volume is being
//                           adopted from it, or a forgotten volume is being released under it
//   404 node_not_found, pool_not_found (the node has no such pool)
//   422 pool_not_allowed    the group's `pools` leave that pool out
//   409 node_offline        the node does not report (nothing could check the backing)
//   404 backing_not_found   the node's last report lists no such volume in that pool
//   422 invalid_backing_size  its size is 0 or not a multiple of 512
// `uuid` and `created_at` fill the record.
Result<std::pair<VolumeRecord, ReplicaRecord>> planAdoption(const AdoptRequest& request, const AdoptionInput& in,
                                                            const ObservedState& observed, const std::string& uuid,
                                                            int64_t created_at);

// True when an existing volume is the one `request` would adopt (same node, pool, backing and
// group): adoption is idempotent by name.
bool sameAdoption(const VolumeRecord& volume, const std::vector<ReplicaRecord>& replicas, const AdoptRequest& request);

// The name a forgotten volume's backing volume gets: the name it was adopted from, else the
// volume's name ("forgotten-<name>" if that looks like a uuid, which nodes take for their own).
std::string releaseName(const VolumeRecord& volume);

// Where the released backing volume's data will be: the primary's reported backing path with
// the uuid replaced by `backing_name` ("" when its node has not reported one).
std::string releasedPath(const VolumeRecord& volume, const std::string& backing_name, const ObservedState& observed);

// A provider volume name: [A-Za-z0-9][A-Za-z0-9_.-]{0,127}, never "." or "..".
bool isValidBackingName(const std::string& name);

}  // namespace tandem::controller
