// ClusterService: the controller's logic over the store — registration, liveness, placement,
// idempotent creates, the desired state of each node (with long-poll), and the derived state
// of volumes from what nodes report. HTTP-free: the API layer maps requests onto it.
//
// Thread-safety: all methods are thread-safe. Callbacks given to watchDesiredState() are
// called without internal locks held, from the calling thread or from tick()/a mutation.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "tandem/common/clock.h"
#include "tandem/common/status.h"
#include "tandem/controller/cluster_views.h"
#include "tandem/controller/placement.h"
#include "tandem/controller/store.h"

namespace tandem::controller {

struct ClusterOptions {
  std::chrono::milliseconds heartbeat_timeout{6000};  // a node silent this long is offline
  // Self-healing: a secondary replica whose node has been offline this long (and that the
  // primary no longer counts as up to date) is re-created on another node. 0: never.
  std::chrono::milliseconds replace_after{0};
};

struct CreateVolumeRequest {
  std::string name;
  uint64_t size_bytes = 0;
  std::string group;
};

class ClusterService {
 public:
  ClusterService(Store& store, Clock& clock, ClusterOptions options);
  ~ClusterService();

  // Registers a node, or re-registers it (same name and uuid) with new addresses and a new
  // token. kAlreadyExists (reason node_exists) when the name belongs to another uuid.
  Result<RegisterNodeResult> registerNode(const RegisterNodeRequest& request);
  // True when `token` is the current token of node `name`.
  bool authenticateNode(const std::string& name, std::string_view token);
  // True when `token` is the current token of some node.
  bool isNodeToken(std::string_view token);
  // Records a heartbeat with the node's observed state. kNotFound for an unknown node.
  Status reportStatus(const std::string& name, NodeStatusReport report);

  // Forgets a node that is gone for good: kConflict (node_online) while it reports, (node_in_use)
  // while it holds replicas; kNotFound.
  Status deleteNode(const std::string& name);
  Result<std::vector<NodeView>> listNodes();
  Result<NodeView> getNode(const std::string& name);
  Result<std::vector<PoolView>> listPools();

  // Creates a group; an identical existing group is returned with created=false; a different
  // one with the same name is kAlreadyExists (reason resource_group_exists).
  Result<std::pair<GroupRecord, bool>> createGroup(GroupRecord spec);
  Result<GroupRecord> getGroup(const std::string& name);
  Result<std::vector<GroupRecord>> listGroups();
  Status deleteGroup(const std::string& name);

  // Places and creates a volume (idempotent by name like createGroup; reason volume_exists).
  Result<std::pair<VolumeView, bool>> createVolume(const CreateVolumeRequest& request);
  Result<VolumeView> getVolume(const std::string& name);
  Result<std::vector<VolumeView>> listVolumes();
  Status deleteVolume(const std::string& name);
  // Makes the replica on `node` the volume's primary, with a new writer epoch, when the primary's
  // node is gone (see docs/architecture.md, "Promotion"). Without `force` it also requires that
  // the old primary's last report counted that replica up to date and that every reporting
  // replica has its generation. Idempotent for the current primary.
  Result<VolumeView> promoteVolume(const std::string& name, const std::string& node, bool force);

  Result<DesiredState> desiredState(const std::string& node);
  // Replicas moved by self-healing since this service started.
  uint64_t replicasReplaced() const { return replicas_replaced_.load(); }
  // The store's state generation (also a readiness probe of the store).
  Result<uint64_t> storeGeneration() { return store_.generation(); }
  // Calls `done` once: at once if the state generation is already past `after`, else when it
  // passes `after` or when `wait` has elapsed (with the current state).
  void watchDesiredState(const std::string& node, uint64_t after, std::chrono::milliseconds wait,
                         std::function<void(Result<DesiredState>)> done);

  // Periodic work: marks silent nodes offline, re-creates replicas lost with a node (see
  // ClusterOptions::replace_after) and answers expired long-polls.
  void tick();

 private:
  struct Observed {
    bool online = false;
    std::chrono::steady_clock::time_point last_seen{};
    int64_t last_seen_wall = 0;
    NodeStatusReport report;
  };
  struct Watcher {
    std::string node;
    uint64_t after = 0;
    std::chrono::steady_clock::time_point deadline;
    std::function<void(Result<DesiredState>)> done;
  };

  // Every replica report of every node, by (node, volume uuid): built once per pass so that
  // deriving N volume views costs O(N), not O(N × reports). Needs mu_; valid until observed_ changes.
  using ReportIndex = std::unordered_map<std::string, const ReplicaReport*>;
  ReportIndex reportIndexLocked() const;
  static const ReplicaReport* findReport(const ReportIndex& index, const std::string& node, const std::string& uuid);
  VolumeView deriveView(const VolumeRecord& volume, const std::vector<const ReplicaRecord*>& replicas,
                        const std::map<std::string, NodeRecord>& nodes, const ReportIndex& reports) const;
  Result<std::vector<VolumeView>> viewsLocked(const std::string* only_name);
  // Per (node, pool), the bytes of replicas placed there that their node has not reported yet:
  // all of them (to add to provisioned) and the thick ones (to deduct from free). Needs mu_.
  struct PendingBytes {
    uint64_t provisioned = 0;
    uint64_t thick = 0;
  };
  Result<std::map<std::pair<std::string, std::string>, PendingBytes>> pendingBytes();
  void notifyWatchers();
  // Every pool of every node as a placement candidate, with its node's labels and the bytes of
  // replicas placed there and not yet reported. Needs mu_.
  Result<std::vector<PoolCandidate>> candidatesLocked();
  // Self-healing pass; true when some replica was moved. Needs mu_.
  bool replaceLostReplicasLocked();
  // How long `node` has been offline (from the controller's start if never seen). Needs mu_.
  std::chrono::steady_clock::duration offlineFor(const std::string& node) const;

  Store& store_;
  Clock& clock_;
  ClusterOptions options_;
  std::mutex mu_;          // observed_ and the create/delete critical sections
  std::map<std::string, Observed> observed_;
  std::chrono::steady_clock::time_point started_;
  std::set<std::string> heal_warned_;  // "volume/node: reason" already logged
  std::atomic<uint64_t> replicas_replaced_{0};
  std::mutex watch_mu_;
  std::vector<Watcher> watchers_;
};

}  // namespace tandem::controller
