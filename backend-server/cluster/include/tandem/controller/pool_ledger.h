// PoolLedger: the running totals placement needs, kept incrementally so that placing a volume
// costs O(the candidate pools), not O(every replica in the cluster): per node the diskful
// replicas declared on it, and per (node, pool) the bytes of diskful replicas declared there that
// the node has not reported yet (all of them, and the thick ones) — what pendingBytes() and
// addReplicaCounts() (placement_inputs.h) compute from scratch, and must always equal.
//
// The owner tells it every change: rebuild() from the declared and observed state (at start),
// setVolume()/removeVolume() after each change to a volume's replicas, size or group, and
// reported() when a node starts or stops reporting one of its replicas. A plain value: no lock
// (ClusterService holds its mutex around every use).
#pragma once

#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include "tandem/controller/observed_state.h"
#include "tandem/controller/placement_inputs.h"
#include "tandem/controller/records.h"

namespace tandem::controller {

class PoolLedger {
 public:
  // Replaces everything with the totals of `volumes`/`replicas` (groups give thin or thick)
  // under `observed` (which replicas are reported).
  void rebuild(const std::vector<VolumeRecord>& volumes, const std::vector<ReplicaRecord>& replicas,
               const std::vector<GroupRecord>& groups, const ObservedState& observed);
  // Volume `uuid` now has `replicas`, `size_bytes` and thin-ness `thin` (replaces what was
  // recorded for it).
  void setVolume(const std::string& uuid, uint64_t size_bytes, bool thin, const std::vector<ReplicaRecord>& replicas,
                 const ObservedState& observed);
  void removeVolume(const std::string& uuid, const ObservedState& observed);
  // Node `node` now reports (`now_reported`) or no longer reports its replica of `volume_uuid`.
  // Call it for actual transitions only (the ledger does not know the previous state).
  void reported(const std::string& node, const std::string& volume_uuid, bool now_reported);

  const PendingByPool& pending() const { return pending_; }
  uint32_t replicasOn(const std::string& node) const;

 private:
  struct Placed {
    std::string node;
    std::string pool;
  };
  struct Entry {
    uint64_t size = 0;
    bool thin = true;
    std::vector<Placed> replicas;  // diskful only
  };
  void add(const std::string& uuid, const Entry& e, const ObservedState& observed, int sign);
  void adjust(const std::string& node, const std::string& pool, uint64_t size, bool thin, int sign);

  std::unordered_map<std::string, Entry> volumes_;
  std::unordered_map<std::string, uint32_t> per_node_;
  PendingByPool pending_;
};

}  // namespace tandem::controller
