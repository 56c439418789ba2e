// SQLite implementation of Store. One connection, serialised by a mutex; every method runs in
// one transaction (BEGIN IMMEDIATE ... COMMIT, ROLLBACK on any error).
#include <sqlite3.h>

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <map>
#include <mutex>
#include <set>
#include <sstream>
#include <unordered_map>

#include "sqlite_db.h"
#include "tandem/common/uuid.h"
#include "tandem/controller/store.h"

namespace tandem::controller {
namespace {

using sqlite::Statement;

// Schema migrations: entry i moves the schema from version i to i+1. Never edit a shipped entry.
const char* const kMigrations[] = {
    R"sql(
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    CREATE TABLE nodes (
      name TEXT PRIMARY KEY, uuid TEXT NOT NULL UNIQUE, address TEXT NOT NULL,
      nbd_port INTEGER NOT NULL, replication_port INTEGER NOT NULL,
      token_hash TEXT NOT NULL, registered_at INTEGER NOT NULL);
    CREATE TABLE pools (
      node_name TEXT NOT NULL REFERENCES nodes(name) ON DELETE CASCADE, name TEXT NOT NULL,
      provider TEXT NOT NULL, thin INTEGER NOT NULL, snapshots INTEGER NOT NULL,
      PRIMARY KEY (node_name, name));
    CREATE TABLE resource_groups (
      name TEXT PRIMARY KEY, uuid TEXT NOT NULL UNIQUE, replicas INTEGER NOT NULL,
      engine TEXT NOT NULL, thin INTEGER NOT NULL, pools TEXT NOT NULL,
      replicas_on_different TEXT NOT NULL);
    CREATE TABLE volumes (
      name TEXT PRIMARY KEY, uuid TEXT NOT NULL UNIQUE, size_bytes INTEGER NOT NULL,
      group_name TEXT NOT NULL REFERENCES resource_groups(name), primary_node TEXT NOT NULL,
      epoch INTEGER NOT NULL, created_at INTEGER NOT NULL);
    CREATE TABLE replicas (
      volume_uuid TEXT NOT NULL REFERENCES volumes(uuid) ON DELETE CASCADE,
      node_name TEXT NOT NULL, pool_name TEXT NOT NULL, diskful INTEGER NOT NULL,
      PRIMARY KEY (volume_uuid, node_name));
    )sql",
    // 1 → 2: node labels ("key=value,..."), and the thin over-provisioning ratio of groups.
    R"sql(
    ALTER TABLE nodes ADD COLUMN labels TEXT NOT NULL DEFAULT '';
    ALTER TABLE resource_groups ADD COLUMN overprovision REAL NOT NULL DEFAULT 20.0;
    UPDATE resource_groups SET overprovision = 1.0 WHERE thin = 0;
    )sql",
    // 2 → 3: write quorum per resource group (off for existing groups, as before).
    R"sql(
    ALTER TABLE resource_groups ADD COLUMN quorum INTEGER NOT NULL DEFAULT 0;
    )sql",
    // 3 → 4: split-brain resolution: the generation of a replica's copy an operator chose to
    // discard ('' for none; see ReplicaRecord::discard_generation).
    R"sql(
    ALTER TABLE replicas ADD COLUMN discard_generation TEXT NOT NULL DEFAULT '';
    )sql",
    // Migration 6 (the lifecycle branch's number: 4 is split-brain resolution, 5 attachments; the
    // integrator renumbers at merge): snapshots (state 0 creating, 1 available, 2 error).
    R"sql(
    CREATE TABLE snapshots (
      uuid TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE,
      volume_uuid TEXT NOT NULL REFERENCES volumes(uuid) ON DELETE CASCADE,
      size_bytes INTEGER NOT NULL, created_at INTEGER NOT NULL,
      state INTEGER NOT NULL DEFAULT 0, message TEXT NOT NULL DEFAULT '');
    CREATE INDEX snapshots_by_volume ON snapshots (volume_uuid);
    ALTER TABLE volumes ADD COLUMN source_snapshot TEXT NOT NULL DEFAULT '';
    ALTER TABLE volumes ADD COLUMN revert_snapshot TEXT NOT NULL DEFAULT '';
    ALTER TABLE volumes ADD COLUMN revert_id TEXT NOT NULL DEFAULT '';
    )sql",
    // 5 → 6 (planned as 5; main shipped the lifecycle migration as 4 → 5 first, so this one
    // follows it): attachments (a volume used on a host), multi-attach per resource group, and
    // the node a planned handover moves the primary to.
    R"sql(
    ALTER TABLE resource_groups ADD COLUMN allow_multiattach INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE volumes ADD COLUMN handover_to TEXT NOT NULL DEFAULT '';
    CREATE TABLE attachments (
      volume_uuid TEXT NOT NULL REFERENCES volumes(uuid), host TEXT NOT NULL, mode TEXT NOT NULL,
      connector TEXT NOT NULL, detaching INTEGER NOT NULL, created_at INTEGER NOT NULL,
      PRIMARY KEY (volume_uuid, host));
    )sql",
    // 6 → 7: adopted volumes (the backing volume's name before adoption, and whether its node
    // has taken it yet) and the backing volumes of forgotten volumes that nodes are to release.
    R"sql(
    ALTER TABLE volumes ADD COLUMN adopted_from TEXT NOT NULL DEFAULT '';
    ALTER TABLE volumes ADD COLUMN adopting INTEGER NOT NULL DEFAULT 0;
    CREATE TABLE releases (
      volume_uuid TEXT PRIMARY KEY, volume_name TEXT NOT NULL,
      node_name TEXT NOT NULL REFERENCES nodes(name) ON DELETE CASCADE,
      pool_name TEXT NOT NULL, backing_name TEXT NOT NULL, generation INTEGER NOT NULL,
      UNIQUE (node_name, pool_name, backing_name));
    )sql",
    // 7 → 8: DRBD allocations. A minor per volume (unique in the cluster), a node-id
    // (unique in the volume) and a port (unique on the node) per replica; freed with their rows.
    R"sql(
    CREATE TABLE drbd_minors (
      volume_uuid TEXT PRIMARY KEY REFERENCES volumes(uuid) ON DELETE CASCADE,
      minor INTEGER NOT NULL UNIQUE);
    CREATE TABLE drbd_replicas (
      volume_uuid TEXT NOT NULL, node_name TEXT NOT NULL,
      node_id INTEGER NOT NULL, port INTEGER NOT NULL,
      PRIMARY KEY (volume_uuid, node_name), UNIQUE (volume_uuid, node_id), UNIQUE (node_name, port),
      FOREIGN KEY (volume_uuid, node_name) REFERENCES replicas(volume_uuid, node_name) ON DELETE CASCADE);
    )sql",
    // 8 → 9: the weights placement gives each score term, per resource group (the defaults: 1, 1
    // and 0).
    R"sql(
    ALTER TABLE resource_groups ADD COLUMN weight_free_space REAL NOT NULL DEFAULT 1.0;
    ALTER TABLE resource_groups ADD COLUMN weight_provisioned REAL NOT NULL DEFAULT 1.0;
    ALTER TABLE resource_groups ADD COLUMN weight_replica_count REAL NOT NULL DEFAULT 0.0;
    )sql",
    // 9 → 10: the drbd engine wired in: each DRBD volume's shared secret (its peers authenticate
    // with cram-hmac-alg), kept with its minor.
    R"sql(
    ALTER TABLE drbd_minors ADD COLUMN shared_secret TEXT NOT NULL DEFAULT '';
    )sql",
    // 10 → 11: replicas that leave once a resource-group change has moved the primary off them
    // (ReplicaRecord::leaving).
    R"sql(
    ALTER TABLE replicas ADD COLUMN leaving INTEGER NOT NULL DEFAULT 0;
    )sql",
    // 11 → 12: indexes for calls that touch one node's objects only: a node's replicas (its
    // desired state, self-healing of a lost node) and the attachments on a host.
    R"sql(
    CREATE INDEX IF NOT EXISTS replicas_by_node ON replicas (node_name, volume_uuid);
    CREATE INDEX IF NOT EXISTS attachments_by_host ON attachments (host);
    )sql",
    // 12 → 13: the phase of a drbd volume's cluster-wide snapshot (SnapshotPhase: 0 suspend,
    // 1 take, 2 resume).
    R"sql(
    ALTER TABLE snapshots ADD COLUMN drbd_phase INTEGER NOT NULL DEFAULT 0;
    )sql",
    // 13 → 14: the volumes made from a snapshot, found when that snapshot goes (their primary's
    // desired state names it; desired-state deltas).
    R"sql(
    CREATE INDEX IF NOT EXISTS volumes_by_source ON volumes (source_snapshot) WHERE source_snapshot != '';
    )sql",
    // 14 → 15: nodes being evacuated (NodeRecord::evacuating).
    R"sql(
    ALTER TABLE nodes ADD COLUMN evacuating INTEGER NOT NULL DEFAULT 0;
    )sql",
};
constexpr int kSchemaVersion = static_cast<int>(sizeof(kMigrations) / sizeof(kMigrations[0]));

std::string joinNames(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& n : names) out += (out.empty() ? "" : ",") + n;
  return out;
}

// Labels are stored as "key=value,key=value"; keys and values follow the object-name rule, so
// neither contains '=' or ','.
std::string joinLabels(const std::map<std::string, std::string>& labels) {
  std::string out;
  for (const auto& [k, v] : labels) out += (out.empty() ? "" : ",") + k + "=" + v;
  return out;
}

std::vector<std::string> splitNames(const std::string& text) {
  std::vector<std::string> out;
  std::stringstream ss(text);
  std::string item;
  while (std::getline(ss, item, ',')) {
    if (!item.empty()) out.push_back(item);
  }
  return out;
}

std::map<std::string, std::string> splitLabels(const std::string& text) {
  std::map<std::string, std::string> out;
  for (const auto& item : splitNames(text)) {
    auto eq = item.find('=');
    if (eq != std::string::npos) out[item.substr(0, eq)] = item.substr(eq + 1);
  }
  return out;
}

class SqliteStore final : public Store {
 public:
  explicit SqliteStore(sqlite3* db) : db_(db) {}
  ~SqliteStore() override { sqlite3_close_v2(db_); }

  Status initialize() {
    RETURN_IF_ERROR(sqlite::exec(db_, "PRAGMA journal_mode=WAL"));
    RETURN_IF_ERROR(sqlite::exec(db_, "PRAGMA synchronous=FULL"));
    RETURN_IF_ERROR(sqlite::exec(db_, "PRAGMA foreign_keys=ON"));
    sqlite3_busy_timeout(db_, 5000);
    RETURN_IF_ERROR(sqlite::exec(db_, "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)"));
    return transaction([&]() -> Status {
      int version = 0;
      {
        Statement q(db_, "SELECT version FROM schema_version");
        ASSIGN_OR_RETURN(bool row, q.step());
        if (row) {
          version = static_cast<int>(q.columnInt(0));
        } else {
          RETURN_IF_ERROR(Statement(db_, "INSERT INTO schema_version (version) VALUES (0)").run());
        }
      }
      if (version > kSchemaVersion) {
        return Status(ErrorCode::kUnsupported, "database schema version " + std::to_string(version) +
                                                   " is newer than this controller's " +
                                                   std::to_string(kSchemaVersion));
      }
      for (int v = version; v < kSchemaVersion; ++v) RETURN_IF_ERROR(sqlite::exec(db_, kMigrations[v]));
      RETURN_IF_ERROR(Statement(db_, "UPDATE schema_version SET version = ?").bind(1, int64_t{kSchemaVersion}).run());
      RETURN_IF_ERROR(Statement(db_, "INSERT OR IGNORE INTO meta (key, value) VALUES ('cluster_id', ?)")
                          .bind(1, newUuid())
                          .run());
      RETURN_IF_ERROR(Statement(db_, "INSERT OR IGNORE INTO meta (key, value) VALUES ('generation', '1')").run());
      Statement q(db_, "SELECT value FROM meta WHERE key = 'cluster_id'");
      ASSIGN_OR_RETURN(bool row, q.step());
      if (!row) return Status(ErrorCode::kInternal, "cluster_id missing");
      cluster_id_ = q.columnText(0);
      // Node generations are kept in memory: after a start every node counts as changed at the
      // stored generation (a node that missed something is answered at once, none waits forever).
      // Unreadable, it is read again when asked (nodeGeneration then fails as generation() does).
      auto generation = readGeneration();
      floor_known_ = generation.isOk();
      if (floor_known_) changes_.resetAll(*generation);
      return Status::ok();
    });
  }

  std::string clusterId() const override { return cluster_id_; }

  Result<uint64_t> generation() override {
    std::lock_guard lock(mu_);
    return readGeneration();
  }

  Result<uint64_t> nodeGeneration(const std::string& node) override {
    std::lock_guard lock(mu_);
    RETURN_IF_ERROR(knowFloor());
    return changes_.generation(node);
  }

  Result<NodeChanges> nodeChangesSince(const std::string& node, uint64_t after) override {
    std::lock_guard lock(mu_);
    RETURN_IF_ERROR(knowFloor());
    return changes_.changesSince(node, after);
  }

  Status upsertNode(const NodeRecord& n, const std::vector<PoolRecord>& pools) override {
    return transaction([&]() -> Status {
      // Its addresses are in its peers' states (and in those of the hosts attached to its
      // volumes): those are touched when they change; a re-registration at the same addresses
      // (a node worker restart) touches the node only.
      bool same_addresses = false;
      {
        Statement before(db_, "SELECT address, nbd_port, replication_port FROM nodes WHERE name = ?");
        before.bind(1, n.name);
        ASSIGN_OR_RETURN(bool known, before.step());
        same_addresses = known && before.columnText(0) == n.address && before.columnInt(1) == int64_t{n.nbd_port} &&
                         before.columnInt(2) == int64_t{n.replication_port};
      }
      if (same_addresses) {
        touched_.whole.insert(n.name);
      } else {
        RETURN_IF_ERROR(touchNodeAndPeers(n.name));
      }
      RETURN_IF_ERROR(Statement(db_,
                                "INSERT INTO nodes (name, uuid, address, nbd_port, replication_port, token_hash, "
                                "registered_at, labels) VALUES (?,?,?,?,?,?,?,?) ON CONFLICT(name) DO UPDATE SET "
                                "uuid=excluded.uuid, address=excluded.address, nbd_port=excluded.nbd_port, "
                                "replication_port=excluded.replication_port, token_hash=excluded.token_hash, "
                                "registered_at=excluded.registered_at, labels=excluded.labels")
                          .bind(1, n.name).bind(2, n.uuid).bind(3, n.address)
                          .bind(4, int64_t{n.nbd_port}).bind(5, int64_t{n.replication_port})
                          .bind(6, n.token_hash).bind(7, n.registered_at).bind(8, joinLabels(n.labels))
                          .run());
      RETURN_IF_ERROR(Statement(db_, "DELETE FROM pools WHERE node_name = ?").bind(1, n.name).run());
      for (const auto& p : pools) {
        RETURN_IF_ERROR(Statement(db_, "INSERT INTO pools (node_name, name, provider, thin, snapshots) "
                                       "VALUES (?,?,?,?,?)")
                            .bind(1, n.name).bind(2, p.name).bind(3, p.provider)
                            .bind(4, int64_t{p.thin}).bind(5, int64_t{p.snapshots})
                            .run());
      }
      return bumpGeneration();
    });
  }

  Result<NodeRecord> getNode(const std::string& name) override {
    std::lock_guard lock(mu_);
    Statement q(db_, std::string(kNodeSelect) + " WHERE name = ?");
    q.bind(1, name);
    ASSIGN_OR_RETURN(bool row, q.step());
    if (!row) return Status(ErrorCode::kNotFound, "node '" + name + "' does not exist").withReason("node_not_found");
    return readNode(q);
  }

  Status deleteNode(const std::string& name) override {
    return transaction([&]() -> Status {
      Statement used(db_, "SELECT count(*) FROM replicas WHERE node_name = ?");
      used.bind(1, name);
      ASSIGN_OR_RETURN(bool row, used.step());
      if (row && used.columnInt(0) > 0) {
        return Status(ErrorCode::kConflict, "node '" + name + "' still holds " + std::to_string(used.columnInt(0)) +
                                                " replica(s); they must move first (self-healing moves the "
                                                "replicas of a node that stays offline)")
            .withReason("node_in_use");
      }
      ASSIGN_OR_RETURN(int64_t attached, countWhere("attachments", "host", name));
      if (attached > 0) {
        return Status(ErrorCode::kConflict, "node '" + name + "' still has " + std::to_string(attached) +
                                                " attachment(s); detach them first (with force=true while "
                                                "it is offline)")
            .withReason("node_in_use");
      }
      RETURN_IF_ERROR(Statement(db_, "DELETE FROM nodes WHERE name = ?").bind(1, name).run());
      if (sqlite3_changes(db_) == 0) {
        return Status(ErrorCode::kNotFound, "node '" + name + "' does not exist").withReason("node_not_found");
      }
      // It held no replica and no attachment (checked above): no other node's state names it.
      touched_.whole.insert(name);
      return bumpGeneration();
    });
  }

  Result<std::vector<NodeRecord>> listNodes() override {
    return queryAll(std::string(kNodeSelect) + " ORDER BY name", readNode);
  }

  Status setNodeEvacuating(const std::string& name, bool evacuating) override {
    return transaction([&]() -> Status {
      RETURN_IF_ERROR(Statement(db_, "UPDATE nodes SET evacuating = ? WHERE name = ?")
                          .bind(1, int64_t{evacuating}).bind(2, name)
                          .run());
      if (sqlite3_changes(db_) == 0) {
        return Status(ErrorCode::kNotFound, "node '" + name + "' does not exist").withReason("node_not_found");
      }
      return Status::ok();
    });
  }

  Result<std::vector<PoolRecord>> listPools() override {
    return queryAll("SELECT node_name, name, provider, thin, snapshots FROM pools ORDER BY node_name, name",
                    [](const Statement& q) {
                      return PoolRecord{q.columnText(0), q.columnText(1), q.columnText(2), q.columnInt(3) != 0,
                                        q.columnInt(4) != 0};
                    });
  }

  Status createGroup(const GroupRecord& g) override {
    return transaction([&]() -> Status {
      Status s = Statement(db_, "INSERT INTO resource_groups (name, uuid, replicas, engine, thin, pools, "
                                "replicas_on_different, overprovision, quorum, allow_multiattach, "
                                "weight_free_space, weight_provisioned, weight_replica_count) "
                                "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)")
                     .bind(1, g.name).bind(2, g.uuid).bind(3, int64_t{g.replicas}).bind(4, g.engine)
                     .bind(5, int64_t{g.thin}).bind(6, joinNames(g.pools)).bind(7, joinNames(g.replicas_on_different))
                     .bind(8, g.overprovision).bind(9, int64_t{g.quorum}).bind(10, int64_t{g.allow_multiattach})
                     .bind(11, g.weights.free_space).bind(12, g.weights.provisioned)
                     .bind(13, g.weights.replica_count)
                     .run();
      if (s.code() == ErrorCode::kAlreadyExists) {
        return Status(ErrorCode::kAlreadyExists, "resource group '" + g.name + "' already exists")
            .withReason("resource_group_exists");
      }
      return s;
    });
  }

  Result<GroupRecord> getGroup(const std::string& name) override {
    std::lock_guard lock(mu_);
    Statement q(db_, std::string(kGroupSelect) + " WHERE name = ?");
    q.bind(1, name);
    ASSIGN_OR_RETURN(bool row, q.step());
    if (!row) {
      return Status(ErrorCode::kNotFound, "resource group '" + name + "' does not exist")
          .withReason("resource_group_not_found");
    }
    return readGroup(q);
  }

  Result<std::vector<GroupRecord>> listGroups() override {
    return queryAll(std::string(kGroupSelect) + " ORDER BY name", readGroup);
  }

  Status deleteGroup(const std::string& name) override {
    return transaction([&]() -> Status {
      Statement used(db_, "SELECT count(*) FROM volumes WHERE group_name = ?");
      used.bind(1, name);
      ASSIGN_OR_RETURN(bool row, used.step());
      if (row && used.columnInt(0) > 0) {
        return Status(ErrorCode::kConflict, "resource group '" + name + "' is used by " +
                                                std::to_string(used.columnInt(0)) + " volume(s)")
            .withReason("resource_group_in_use");
      }
      RETURN_IF_ERROR(Statement(db_, "DELETE FROM resource_groups WHERE name = ?").bind(1, name).run());
      if (sqlite3_changes(db_) == 0) {
        return Status(ErrorCode::kNotFound, "resource group '" + name + "' does not exist")
            .withReason("resource_group_not_found");
      }
      return Status::ok();
    });
  }

  Status createVolume(const VolumeRecord& v, const std::vector<ReplicaRecord>& replicas) override {
    return transaction([&]() -> Status {
      Status s = Statement(db_, "INSERT INTO volumes (name, uuid, size_bytes, group_name, primary_node, epoch, "
                                "created_at, source_snapshot, adopted_from, adopting) VALUES (?,?,?,?,?,?,?,?,?,?)")
                     .bind(1, v.name).bind(2, v.uuid).bind(3, static_cast<int64_t>(v.size_bytes))
                     .bind(4, v.group).bind(5, v.primary_node).bind(6, static_cast<int64_t>(v.epoch))
                     .bind(7, v.created_at).bind(8, v.source_snapshot).bind(9, v.adopted_from)
                     .bind(10, int64_t{v.adopting})
                     .run();
      if (s.code() == ErrorCode::kAlreadyExists) {
        return Status(ErrorCode::kAlreadyExists, "volume '" + v.name + "' already exists")
            .withReason("volume_exists");
      }
      RETURN_IF_ERROR(s);
      for (const auto& r : replicas) {
        RETURN_IF_ERROR(Statement(db_, "INSERT INTO replicas (volume_uuid, node_name, pool_name, diskful) "
                                       "VALUES (?,?,?,?)")
                            .bind(1, r.volume_uuid).bind(2, r.node_name).bind(3, r.pool_name)
                            .bind(4, int64_t{r.diskful})
                            .run());
      }
      RETURN_IF_ERROR(touchVolume(v.uuid));
      return bumpGeneration();
    });
  }

  Result<VolumeRecord> getVolume(const std::string& name) override {
    std::lock_guard lock(mu_);
    Statement q(db_, std::string(kVolumeSelect) + " WHERE name = ?");
    q.bind(1, name);
    ASSIGN_OR_RETURN(bool row, q.step());
    if (!row) return Status(ErrorCode::kNotFound, "volume '" + name + "' does not exist").withReason("volume_not_found");
    return readVolume(q);
  }

  Result<std::vector<VolumeRecord>> listVolumes() override {
    return queryAll(std::string(kVolumeSelect) + " ORDER BY name", readVolume);
  }

  Result<std::vector<VolumeRecord>> listVolumesPage(const std::string& after, size_t limit) override {
    return queryAll(std::string(kVolumeSelect) + " WHERE name > ? ORDER BY name LIMIT ?", readVolume,
                    [&](Statement& q) { q.bind(1, after).bind(2, static_cast<int64_t>(limit)); });
  }

  Result<NodeSlice> volumePageSlice(const std::string& after, size_t limit) override {
    std::lock_guard lock(mu_);
    const std::string page = "(SELECT uuid FROM volumes WHERE name > ?1 ORDER BY name LIMIT ?2)";
    auto bind = [&](Statement& q) { q.bind(1, after).bind(2, static_cast<int64_t>(limit)); };
    NodeSlice out;
    ASSIGN_OR_RETURN(out.volumes,
                     queryAllLocked(std::string(kVolumeSelect) + " WHERE name > ?1 ORDER BY name LIMIT ?2", readVolume, bind));
    ASSIGN_OR_RETURN(out.replicas, queryAllLocked(std::string(kReplicaSelect) + " WHERE volume_uuid IN " + page +
                                                      " ORDER BY volume_uuid, node_name",
                                                  readReplica, bind));
    ASSIGN_OR_RETURN(out.attachments, queryAllLocked(std::string(kAttachmentSelect) + " WHERE volume_uuid IN " + page +
                                                         " ORDER BY volume_uuid, host",
                                                     readAttachment, bind));
    return out;
  }

  Result<VolumeRecord> getVolumeByUuid(const std::string& uuid) override {
    ASSIGN_OR_RETURN(auto rows, queryAll(std::string(kVolumeSelect) + " WHERE uuid = ?", readVolume,
                                         [&](Statement& q) { q.bind(1, uuid); }));
    if (rows.empty()) {
      return Status(ErrorCode::kNotFound, "volume " + uuid + " does not exist").withReason("volume_not_found");
    }
    return rows.front();
  }

  Result<NodeSlice> nodeSlice(const std::string& node) override {
    // mu_ held throughout (the store's one connection): the four lists describe the same state.
    std::lock_guard lock(mu_);
    auto slice = [&]() -> Result<NodeSlice> {
      // The node's volumes: those it holds a replica of, and those attached on it.
      const std::string mine =
          "(SELECT volume_uuid FROM replicas WHERE node_name = ?1 UNION SELECT volume_uuid FROM attachments "
          "WHERE host = ?1)";
      NodeSlice out;
      ASSIGN_OR_RETURN(out.volumes, queryAllLocked(std::string(kVolumeSelect) + " WHERE uuid IN " + mine,
                                                   readVolume, [&](Statement& q) { q.bind(1, node); }));
      ASSIGN_OR_RETURN(out.replicas,
                       queryAllLocked(std::string(kReplicaSelect) + " WHERE volume_uuid IN " + mine +
                                          " ORDER BY volume_uuid, node_name",
                                      readReplica, [&](Statement& q) { q.bind(1, node); }));
      ASSIGN_OR_RETURN(out.snapshots,
                       queryAllLocked(std::string(kSnapshotSelect) + " WHERE volume_uuid IN " + mine +
                                          " ORDER BY volume_uuid, created_at, name",
                                      readSnapshot, [&](Statement& q) { q.bind(1, node); }));
      ASSIGN_OR_RETURN(out.attachments,
                       queryAllLocked(std::string(kAttachmentSelect) + " WHERE host = ? ORDER BY volume_uuid",
                                      readAttachment, [&](Statement& q) { q.bind(1, node); }));
      return out;
    }();
    return slice;
  }

  Result<NodeSlice> nodeSliceOf(const std::string& node, const std::vector<std::string>& volumes) override {
    std::lock_guard lock(mu_);
    // The volumes asked for and those attached on the node (an attachment's entry and a forced
    // detach name their volume).
    const std::string these =
        "(SELECT value FROM json_each(?2) UNION SELECT volume_uuid FROM attachments WHERE host = ?1)";
    const std::string list = jsonArray(volumes);
    auto bind = [&](Statement& q) { q.bind(1, node).bind(2, list); };
    NodeSlice out;
    ASSIGN_OR_RETURN(out.volumes, queryAllLocked(std::string(kVolumeSelect) + " WHERE uuid IN " + these,
                                                 readVolume, bind));
    ASSIGN_OR_RETURN(out.replicas, queryAllLocked(std::string(kReplicaSelect) + " WHERE volume_uuid IN " + these +
                                                      " ORDER BY volume_uuid, node_name",
                                                  readReplica, bind));
    // Their snapshots, and the snapshots they are made from when the node holds that volume too
    // (a clone's primary clones a local snapshot of its source: nodeSlice has it then).
    ASSIGN_OR_RETURN(out.snapshots,
                     queryAllLocked(std::string(kSnapshotSelect) + " WHERE volume_uuid IN " + these +
                                        " OR (uuid IN (SELECT source_snapshot FROM volumes WHERE uuid IN " + these +
                                        ") AND volume_uuid IN (SELECT volume_uuid FROM replicas WHERE node_name = ?1 "
                                        "UNION SELECT volume_uuid FROM attachments WHERE host = ?1)) "
                                        "ORDER BY volume_uuid, created_at, name",
                                    readSnapshot, bind));
    ASSIGN_OR_RETURN(out.attachments,
                     queryAllLocked(std::string(kAttachmentSelect) + " WHERE host = ? ORDER BY volume_uuid",
                                    readAttachment, [&](Statement& q) { q.bind(1, node); }));
    return out;
  }

  // A JSON array of strings (json_each's input).
  static std::string jsonArray(const std::vector<std::string>& values) {
    std::string out = "[";
    for (const auto& value : values) {
      out += out.size() > 1 ? ",\"" : "\"";
      for (unsigned char c : value) {
        if (c == '"' || c == '\\') {
          out += '\\';
          out += static_cast<char>(c);
        } else if (c < 0x20) {
          char esc[8];
          std::snprintf(esc, sizeof esc, "\\u%04x", c);
          out += esc;
        } else {
          out += static_cast<char>(c);
        }
      }
      out += '"';
    }
    return out + "]";
  }

  Result<std::vector<ReplicaRecord>> listReplicasOnNode(const std::string& node) override {
    return queryAll(std::string(kReplicaSelect) + " WHERE node_name = ? ORDER BY volume_uuid", readReplica,
                    [&](Statement& q) { q.bind(1, node); });
  }

  Status deleteVolume(const std::string& name) override {
    return transaction([&]() -> Status {
      RETURN_IF_ERROR(deleteDetachedVolume(name));
      return bumpGeneration();
    });
  }

  Result<std::vector<ReplicaRecord>> listReplicas() override {
    return queryAll(std::string(kReplicaSelect) + " ORDER BY volume_uuid, node_name", readReplica);
  }

  Result<std::vector<ReplicaRecord>> listReplicasOf(const std::string& volume_uuid) override {
    return queryAll(std::string(kReplicaSelect) + " WHERE volume_uuid = ? ORDER BY node_name", readReplica,
                    [&](Statement& q) { q.bind(1, volume_uuid); });
  }

  Status setPrimary(const std::string& volume_uuid, const std::string& node, uint64_t epoch) override {
    return transaction([&]() -> Status {
      RETURN_IF_ERROR(Statement(db_, "UPDATE volumes SET primary_node = ?, epoch = ?, handover_to = '' WHERE uuid = ?")
                          .bind(1, node).bind(2, static_cast<int64_t>(epoch)).bind(3, volume_uuid)
                          .run());
      if (sqlite3_changes(db_) == 0) {
        return Status(ErrorCode::kNotFound, "volume " + volume_uuid + " does not exist").withReason("volume_not_found");
      }
      RETURN_IF_ERROR(touchVolume(volume_uuid));
      return bumpGeneration();
    });
  }

  Status setHandover(const std::string& volume_uuid, const std::string& node) override {
    return transaction([&]() -> Status {
      RETURN_IF_ERROR(Statement(db_, "UPDATE volumes SET handover_to = ? WHERE uuid = ?")
                          .bind(1, node).bind(2, volume_uuid)
                          .run());
      if (sqlite3_changes(db_) == 0) {
        return Status(ErrorCode::kNotFound, "volume " + volume_uuid + " does not exist").withReason("volume_not_found");
      }
      RETURN_IF_ERROR(touchVolume(volume_uuid));
      return bumpGeneration();
    });
  }

  Status resolveSplitBrain(const std::string& volume_uuid, const std::string& keep, uint64_t epoch,
                           const std::map<std::string, std::string>& discard) override {
    return transaction([&]() -> Status {
      RETURN_IF_ERROR(Statement(db_, "UPDATE volumes SET primary_node = ?, epoch = ?, handover_to = '' WHERE uuid = ?")
                          .bind(1, keep).bind(2, static_cast<int64_t>(epoch)).bind(3, volume_uuid)
                          .run());
      if (sqlite3_changes(db_) == 0) {
        return Status(ErrorCode::kNotFound, "volume " + volume_uuid + " does not exist").withReason("volume_not_found");
      }
      for (const auto& [node, generation] : discard) {
        RETURN_IF_ERROR(Statement(db_, "UPDATE replicas SET discard_generation = ? WHERE volume_uuid = ? AND node_name = ?")
                            .bind(1, generation).bind(2, volume_uuid).bind(3, node)
                            .run());
        if (sqlite3_changes(db_) == 0) {
          return Status(ErrorCode::kNotFound, "volume " + volume_uuid + " has no replica on node '" + node + "'")
              .withReason("replica_not_found");
        }
      }
      RETURN_IF_ERROR(touchVolume(volume_uuid));
      return bumpGeneration();
    });
  }

  Status setVolumeSize(const std::string& volume_uuid, uint64_t size_bytes) override {
    return transaction([&]() -> Status {
      RETURN_IF_ERROR(Statement(db_, "UPDATE volumes SET size_bytes = ? WHERE uuid = ?")
                          .bind(1, static_cast<int64_t>(size_bytes)).bind(2, volume_uuid)
                          .run());
      if (sqlite3_changes(db_) == 0) {
        return Status(ErrorCode::kNotFound, "volume " + volume_uuid + " does not exist").withReason("volume_not_found");
      }
      RETURN_IF_ERROR(touchVolume(volume_uuid));
      return bumpGeneration();
    });
  }

  Status clearVolumeSource(const std::string& volume_uuid) override {
    return updateVolumeRow(volume_uuid, "source_snapshot = ''");
  }

  Status setVolumeRevert(const std::string& volume_uuid, const std::string& snapshot_uuid,
                         const std::string& revert_id) override {
    return transaction([&]() -> Status {
      RETURN_IF_ERROR(Statement(db_, "UPDATE volumes SET revert_snapshot = ?, revert_id = ? WHERE uuid = ?")
                          .bind(1, snapshot_uuid).bind(2, revert_id).bind(3, volume_uuid)
                          .run());
      if (sqlite3_changes(db_) == 0) {
        return Status(ErrorCode::kNotFound, "volume " + volume_uuid + " does not exist").withReason("volume_not_found");
      }
      RETURN_IF_ERROR(touchVolume(volume_uuid));
      return bumpGeneration();
    });
  }

  Status createSnapshot(const SnapshotRecord& sn) override {
    return transaction([&]() -> Status {
      Status s = Statement(db_, "INSERT INTO snapshots (uuid, name, volume_uuid, size_bytes, created_at, state, "
                                "message) VALUES (?,?,?,?,?,?,?)")
                     .bind(1, sn.uuid).bind(2, sn.name).bind(3, sn.volume_uuid)
                     .bind(4, static_cast<int64_t>(sn.size_bytes)).bind(5, sn.created_at)
                     .bind(6, static_cast<int64_t>(sn.state)).bind(7, sn.message)
                     .run();
      if (s.code() == ErrorCode::kAlreadyExists) {
        return Status(ErrorCode::kAlreadyExists, "snapshot '" + sn.name + "' already exists").withReason("snapshot_exists");
      }
      RETURN_IF_ERROR(s);
      RETURN_IF_ERROR(touchVolume(sn.volume_uuid));
      return bumpGeneration();
    });
  }

  Result<SnapshotRecord> getSnapshot(const std::string& name) override {
    ASSIGN_OR_RETURN(auto rows, queryAll(std::string(kSnapshotSelect) + " WHERE name = ?", readSnapshot,
                                         [&](Statement& q) { q.bind(1, name); }));
    if (rows.empty()) {
      return Status(ErrorCode::kNotFound, "snapshot '" + name + "' does not exist").withReason("snapshot_not_found");
    }
    return rows.front();
  }

  Result<std::vector<SnapshotRecord>> listSnapshots() override {
    return queryAll(std::string(kSnapshotSelect) + " ORDER BY volume_uuid, created_at, name", readSnapshot);
  }

  Result<std::vector<SnapshotRecord>> listSnapshotsOf(const std::string& volume_uuid) override {
    return queryAll(std::string(kSnapshotSelect) + " WHERE volume_uuid = ? ORDER BY created_at, name", readSnapshot,
                    [&](Statement& q) { q.bind(1, volume_uuid); });
  }

  Status setSnapshotState(const std::string& uuid, SnapshotState state, const std::string& message) override {
    return transaction([&]() -> Status {
      RETURN_IF_ERROR(touchVolumeOf("SELECT volume_uuid FROM snapshots WHERE uuid = ?1", uuid));
      RETURN_IF_ERROR(Statement(db_, "UPDATE snapshots SET state = ?, message = ? WHERE uuid = ?")
                          .bind(1, static_cast<int64_t>(state)).bind(2, message).bind(3, uuid)
                          .run());
      if (sqlite3_changes(db_) == 0) {
        return Status(ErrorCode::kNotFound, "snapshot " + uuid + " does not exist").withReason("snapshot_not_found");
      }
      return bumpGeneration();
    });
  }

  Status setSnapshotPhase(const std::string& uuid, SnapshotPhase phase) override {
    return transaction([&]() -> Status {
      RETURN_IF_ERROR(touchVolumeOf("SELECT volume_uuid FROM snapshots WHERE uuid = ?1", uuid));
      RETURN_IF_ERROR(Statement(db_, "UPDATE snapshots SET drbd_phase = ? WHERE uuid = ?")
                          .bind(1, static_cast<int64_t>(phase)).bind(2, uuid)
                          .run());
      if (sqlite3_changes(db_) == 0) {
        return Status(ErrorCode::kNotFound, "snapshot " + uuid + " does not exist").withReason("snapshot_not_found");
      }
      return bumpGeneration();
    });
  }

  Status deleteSnapshot(const std::string& name) override {
    return transaction([&]() -> Status {
      // The snapshot's volume, and the volumes still being made from it.
      RETURN_IF_ERROR(touchVolumeOf("SELECT volume_uuid FROM snapshots WHERE name = ?1 UNION SELECT uuid FROM volumes "
                                    "WHERE source_snapshot IN (SELECT uuid FROM snapshots WHERE name = ?1) "
                                    "AND source_snapshot != ''",
                                    name));
      RETURN_IF_ERROR(Statement(db_, "DELETE FROM snapshots WHERE name = ?").bind(1, name).run());
      if (sqlite3_changes(db_) == 0) {
        return Status(ErrorCode::kNotFound, "snapshot '" + name + "' does not exist").withReason("snapshot_not_found");
      }
      return bumpGeneration();
    });
  }

  Status replaceReplica(const std::string& volume_uuid, const std::string& from_node,
                        const ReplicaRecord& replacement) override {
    return transaction([&]() -> Status {
      RETURN_IF_ERROR(touchVolume(volume_uuid));  // before: the node it leaves
      RETURN_IF_ERROR(Statement(db_, "DELETE FROM replicas WHERE volume_uuid = ? AND node_name = ?")
                          .bind(1, volume_uuid).bind(2, from_node)
                          .run());
      if (sqlite3_changes(db_) == 0) {
        return Status(ErrorCode::kNotFound, "volume " + volume_uuid + " has no replica on node '" + from_node + "'")
            .withReason("replica_not_found");
      }
      Status s = Statement(db_, "INSERT INTO replicas (volume_uuid, node_name, pool_name, diskful) VALUES (?,?,?,?)")
                     .bind(1, volume_uuid).bind(2, replacement.node_name).bind(3, replacement.pool_name)
                     .bind(4, int64_t{replacement.diskful})
                     .run();
      if (s.code() == ErrorCode::kAlreadyExists) {
        return Status(ErrorCode::kAlreadyExists,
                      "volume " + volume_uuid + " already has a replica on node '" + replacement.node_name + "'")
            .withReason("replica_exists");
      }
      RETURN_IF_ERROR(s);
      RETURN_IF_ERROR(touchVolume(volume_uuid));  // after: the replacement's node
      return bumpGeneration();
    });
  }

  Status changeVolume(const VolumeChange& c) override {
    return transaction([&]() -> Status {
      const Status missing =
          Status(ErrorCode::kNotFound, "volume " + c.volume_uuid + " does not exist").withReason("volume_not_found");
      RETURN_IF_ERROR(touchVolume(c.volume_uuid));  // before: the nodes of removed replicas
      if (c.size_bytes) {
        RETURN_IF_ERROR(Statement(db_, "UPDATE volumes SET size_bytes = ? WHERE uuid = ?")
                            .bind(1, static_cast<int64_t>(*c.size_bytes)).bind(2, c.volume_uuid)
                            .run());
        if (sqlite3_changes(db_) == 0) return missing;
      }
      if (c.group) {
        Status s = Statement(db_, "UPDATE volumes SET group_name = ? WHERE uuid = ?")
                       .bind(1, *c.group).bind(2, c.volume_uuid)
                       .run();
        if (s.code() == ErrorCode::kConflict || s.code() == ErrorCode::kAlreadyExists) {
          return Status(ErrorCode::kNotFound, "resource group '" + *c.group + "' does not exist")
              .withReason("resource_group_not_found");
        }
        RETURN_IF_ERROR(s);
        if (sqlite3_changes(db_) == 0) return missing;
      }
      for (const auto& node : c.remove_nodes) {
        RETURN_IF_ERROR(Statement(db_, "DELETE FROM replicas WHERE volume_uuid = ? AND node_name = ?")
                            .bind(1, c.volume_uuid).bind(2, node)
                            .run());
        if (sqlite3_changes(db_) == 0) {
          return Status(ErrorCode::kNotFound, "volume " + c.volume_uuid + " has no replica on node '" + node + "'")
              .withReason("replica_not_found");
        }
      }
      for (const auto& node : c.leave_nodes) {
        RETURN_IF_ERROR(Statement(db_, "UPDATE replicas SET leaving = 1 WHERE volume_uuid = ? AND node_name = ?")
                            .bind(1, c.volume_uuid).bind(2, node)
                            .run());
        if (sqlite3_changes(db_) == 0) {
          return Status(ErrorCode::kNotFound, "volume " + c.volume_uuid + " has no replica on node '" + node + "'")
              .withReason("replica_not_found");
        }
      }
      for (const auto& r : c.add) {
        Status s = Statement(db_, "INSERT INTO replicas (volume_uuid, node_name, pool_name, diskful) VALUES (?,?,?,?)")
                       .bind(1, c.volume_uuid).bind(2, r.node_name).bind(3, r.pool_name)
                       .bind(4, int64_t{r.diskful})
                       .run();
        if (s.code() == ErrorCode::kAlreadyExists) {
          return Status(ErrorCode::kAlreadyExists,
                        "volume " + c.volume_uuid + " already has a replica on node '" + r.node_name + "'")
              .withReason("replica_exists");
        }
        if (s.code() == ErrorCode::kConflict) return missing;  // the foreign key: no such volume
        RETURN_IF_ERROR(s);
      }
      RETURN_IF_ERROR(touchVolume(c.volume_uuid));  // after: the nodes of added replicas
      return bumpGeneration();
    });
  }

  Status finishAdoption(const std::string& volume_uuid) override {
    return updateVolumeRow(volume_uuid, "adopting = 0");
  }

  Result<uint64_t> forgetVolume(ReleaseRecord release) override {
    uint64_t generation = 0;
    RETURN_IF_ERROR(transaction([&]() -> Status {
      RETURN_IF_ERROR(deleteDetachedVolume(release.volume_name));
      touched_.volumes.emplace(release.node_name, release.volume_uuid);  // its state lists the release
      RETURN_IF_ERROR(bumpGeneration());
      ASSIGN_OR_RETURN(generation, readGeneration());
      release.generation = generation;
      Status s = Statement(db_, "INSERT INTO releases (volume_uuid, volume_name, node_name, pool_name, backing_name, "
                                "generation) VALUES (?,?,?,?,?,?)")
                     .bind(1, release.volume_uuid).bind(2, release.volume_name).bind(3, release.node_name)
                     .bind(4, release.pool_name).bind(5, release.backing_name)
                     .bind(6, static_cast<int64_t>(generation))
                     .run();
      if (s.code() == ErrorCode::kAlreadyExists) {
        return Status(ErrorCode::kAlreadyExists, "a backing volume '" + release.backing_name + "' of node " +
                                                     release.node_name + " pool " + release.pool_name +
                                                     " is still being released")
            .withReason("release_pending");
      }
      return s;
    }));
    return generation;
  }

  Result<std::vector<ReleaseRecord>> listReleases() override {
    return queryAll(std::string(kReleaseSelect) + " ORDER BY node_name, volume_uuid", readRelease);
  }

  Status removeRelease(const std::string& volume_uuid) override {
    return transaction([&]() -> Status {
      RETURN_IF_ERROR(touchNodesOf("SELECT node_name, volume_uuid FROM releases WHERE volume_uuid = ?1", volume_uuid));
      RETURN_IF_ERROR(Statement(db_, "DELETE FROM releases WHERE volume_uuid = ?").bind(1, volume_uuid).run());
      if (sqlite3_changes(db_) == 0) {
        return Status(ErrorCode::kNotFound, "no release of volume " + volume_uuid).withReason("release_not_found");
      }
      return bumpGeneration();
    });
  }

  Status addAttachment(const AttachmentRecord& a) override {
    return transaction([&]() -> Status {
      ASSIGN_OR_RETURN(int64_t volumes, countWhere("volumes", "uuid", a.volume_uuid));
      if (volumes == 0) {
        return Status(ErrorCode::kNotFound, "volume " + a.volume_uuid + " does not exist").withReason("volume_not_found");
      }
      Status s = Statement(db_, "INSERT INTO attachments (volume_uuid, host, mode, connector, detaching, created_at) "
                                "VALUES (?,?,?,?,?,?)")
                     .bind(1, a.volume_uuid).bind(2, a.host).bind(3, std::string(name(a.mode)))
                     .bind(4, a.connector).bind(5, int64_t{a.detaching ? (a.force_detach ? 2 : 1) : 0})
                     .bind(6, a.created_at)
                     .run();
      if (s.code() == ErrorCode::kAlreadyExists) {
        return Status(ErrorCode::kAlreadyExists, "volume " + a.volume_uuid + " is already attached on " + a.host)
            .withReason("attachment_exists");
      }
      RETURN_IF_ERROR(s);
      RETURN_IF_ERROR(touchVolume(a.volume_uuid));
      return bumpGeneration();
    });
  }

  // The detaching column: 0 attached, 1 detaching, 2 detaching with force.
  Status setDetaching(const std::string& volume_uuid, const std::string& host, bool detaching,
                      bool force) override {
    return transaction([&]() -> Status {
      RETURN_IF_ERROR(Statement(db_, "UPDATE attachments SET detaching = ? WHERE volume_uuid = ? AND host = ?")
                          .bind(1, int64_t{detaching ? (force ? 2 : 1) : 0}).bind(2, volume_uuid).bind(3, host)
                          .run());
      if (sqlite3_changes(db_) == 0) return attachmentNotFound(volume_uuid, host);
      touched_.volumes.emplace(host, volume_uuid);
      RETURN_IF_ERROR(touchVolume(volume_uuid));
      return bumpGeneration();
    });
  }

  Status removeAttachment(const std::string& volume_uuid, const std::string& host) override {
    return transaction([&]() -> Status {
      RETURN_IF_ERROR(Statement(db_, "DELETE FROM attachments WHERE volume_uuid = ? AND host = ?")
                          .bind(1, volume_uuid).bind(2, host)
                          .run());
      if (sqlite3_changes(db_) == 0) return attachmentNotFound(volume_uuid, host);
      touched_.volumes.emplace(host, volume_uuid);
      RETURN_IF_ERROR(touchVolume(volume_uuid));
      return bumpGeneration();
    });
  }

  Result<std::vector<AttachmentRecord>> listAttachments() override {
    return queryAll(std::string(kAttachmentSelect) + " ORDER BY volume_uuid, host", readAttachment);
  }

  Result<std::vector<AttachmentRecord>> listAttachmentsOf(const std::string& volume_uuid) override {
    return queryAll(std::string(kAttachmentSelect) + " WHERE volume_uuid = ? ORDER BY host", readAttachment,
                    [&](Statement& q) { q.bind(1, volume_uuid); });
  }

 private:
  static constexpr const char* kAttachmentSelect =
      "SELECT volume_uuid, host, mode, connector, detaching, created_at FROM attachments";
  static AttachmentRecord readAttachment(const Statement& q) {
    // The mode column only ever holds name(AttachMode) values (written above).
    return AttachmentRecord{q.columnText(0), q.columnText(1),
                            parseAttachMode(q.columnText(2)).value_or(AttachMode::kBlock), q.columnText(3),
                            q.columnInt(4) != 0, q.columnInt(5), q.columnInt(4) == 2};
  }
  static Status attachmentNotFound(const std::string& volume_uuid, const std::string& host) {
    return Status(ErrorCode::kNotFound, "volume " + volume_uuid + " is not attached on " + host)
        .withReason("attachment_not_found");
  }
  // Rows of `table` whose `column` equals `value`. Needs mu_ (inside a transaction).
  Result<int64_t> countWhere(const char* table, const char* column, const std::string& value) {
    Statement q(db_, std::string("SELECT count(*) FROM ") + table + " WHERE " + column + " = ?");
    q.bind(1, value);
    ASSIGN_OR_RETURN(bool row, q.step());
    return row ? q.columnInt(0) : 0;
  }

  static constexpr const char* kNodeSelect =
      "SELECT uuid, name, address, nbd_port, replication_port, token_hash, registered_at, labels, evacuating "
      "FROM nodes";
  static constexpr const char* kGroupSelect =
      "SELECT uuid, name, replicas, engine, thin, pools, replicas_on_different, overprovision, quorum, "
      "allow_multiattach, weight_free_space, weight_provisioned, weight_replica_count FROM resource_groups";
  static constexpr const char* kVolumeSelect =
      "SELECT uuid, name, size_bytes, group_name, primary_node, epoch, created_at, source_snapshot, revert_snapshot, "
      "revert_id, handover_to, adopted_from, adopting FROM volumes";

  static NodeRecord readNode(const Statement& q) {
    return NodeRecord{q.columnText(0), q.columnText(1), q.columnText(2), static_cast<uint16_t>(q.columnInt(3)),
                      static_cast<uint16_t>(q.columnInt(4)), q.columnText(5), q.columnInt(6),
                      splitLabels(q.columnText(7)), q.columnInt(8) != 0};
  }
  static GroupRecord readGroup(const Statement& q) {
    return GroupRecord{q.columnText(0), q.columnText(1), static_cast<uint32_t>(q.columnInt(2)), q.columnText(3),
                       q.columnInt(4) != 0, splitNames(q.columnText(5)), splitNames(q.columnText(6)),
                       q.columnDouble(7), q.columnInt(8) != 0, q.columnInt(9) != 0,
                       PlacementWeights{q.columnDouble(10), q.columnDouble(11), q.columnDouble(12)}};
  }
  static constexpr const char* kReplicaSelect =
      "SELECT volume_uuid, node_name, pool_name, diskful, discard_generation, leaving FROM replicas";
  static ReplicaRecord readReplica(const Statement& q) {
    return ReplicaRecord{q.columnText(0), q.columnText(1), q.columnText(2), q.columnInt(3) != 0, q.columnText(4),
                         q.columnInt(5) != 0};
  }
  static constexpr const char* kSnapshotSelect =
      "SELECT uuid, name, volume_uuid, size_bytes, created_at, state, message, drbd_phase FROM snapshots";
  static SnapshotRecord readSnapshot(const Statement& q) {
    const int64_t state = q.columnInt(5);
    const int64_t phase = q.columnInt(7);
    return SnapshotRecord{q.columnText(0), q.columnText(1), q.columnText(2), static_cast<uint64_t>(q.columnInt(3)),
                          q.columnInt(4),
                          state == 1 ? SnapshotState::kAvailable
                                     : state == 2 ? SnapshotState::kError : SnapshotState::kCreating,
                          q.columnText(6),
                          phase == 2 ? SnapshotPhase::kResume : phase == 1 ? SnapshotPhase::kTake : SnapshotPhase::kSuspend};
  }
  static VolumeRecord readVolume(const Statement& q) {
    return VolumeRecord{q.columnText(0), q.columnText(1), static_cast<uint64_t>(q.columnInt(2)), q.columnText(3),
                        q.columnText(4), static_cast<uint64_t>(q.columnInt(5)), q.columnInt(6), q.columnText(10),
                        q.columnText(7), q.columnText(8), q.columnText(9), q.columnText(11),
                        q.columnInt(12) != 0};
  }
  static constexpr const char* kReleaseSelect =
      "SELECT volume_uuid, volume_name, node_name, pool_name, backing_name, generation FROM releases";
  static ReleaseRecord readRelease(const Statement& q) {
    return ReleaseRecord{q.columnText(0), q.columnText(1), q.columnText(2), q.columnText(3), q.columnText(4),
                         static_cast<uint64_t>(q.columnInt(5))};
  }

  // Every row of `sql` (its parameters set by `bind`), each made into a record by `read`.
  template <typename ReadRow, typename Bind = void (*)(Statement&)>
  auto queryAll(const std::string& sql, ReadRow read, Bind bind = [](Statement&) {})
      -> Result<std::vector<decltype(read(std::declval<const Statement&>()))>> {
    std::lock_guard lock(mu_);
    return queryAllLocked(sql, read, bind);
  }
  // queryAll with mu_ held.
  template <typename ReadRow, typename Bind = void (*)(Statement&)>
  auto queryAllLocked(const std::string& sql, ReadRow read, Bind bind = [](Statement&) {})
      -> Result<std::vector<decltype(read(std::declval<const Statement&>()))>> {
    Statement q(db_, sql);
    bind(q);
    std::vector<decltype(read(q))> out;
    while (true) {
      ASSIGN_OR_RETURN(bool row, q.step());
      if (!row) break;
      out.push_back(read(q));
    }
    return out;
  }

  Status addDrbdVolumeAllocation(const DrbdVolumeAllocation& a) override {
    return transaction([&]() -> Status {
      RETURN_IF_ERROR(requireVolume(a.volume_uuid));
      RETURN_IF_ERROR(drbdInUse(Statement(db_, "INSERT INTO drbd_minors (volume_uuid, minor, shared_secret) VALUES (?,?,?)")
                                    .bind(1, a.volume_uuid).bind(2, int64_t{a.minor}).bind(3, a.shared_secret)
                                    .run(),
                                "minor " + std::to_string(a.minor)));
      for (const auto& r : a.replicas) {
        if (r.volume_uuid != a.volume_uuid) {
          return Status(ErrorCode::kInvalidArgument, "DRBD replica allocation for volume " + r.volume_uuid +
                                                         " inside the allocation of " + a.volume_uuid);
        }
        RETURN_IF_ERROR(insertDrbdReplica(r));
      }
      RETURN_IF_ERROR(touchVolume(a.volume_uuid));
      return bumpGeneration();
    });
  }

  Status addDrbdReplicaAllocation(const DrbdReplicaAllocation& r) override {
    return transaction([&]() -> Status {
      RETURN_IF_ERROR(requireVolume(r.volume_uuid));
      Statement q(db_, "SELECT 1 FROM drbd_minors WHERE volume_uuid = ?");
      q.bind(1, r.volume_uuid);
      ASSIGN_OR_RETURN(bool row, q.step());
      if (!row) return Status(ErrorCode::kNotFound, "DRBD volume " + r.volume_uuid + " has no allocation");
      RETURN_IF_ERROR(insertDrbdReplica(r));
      RETURN_IF_ERROR(touchVolume(r.volume_uuid));
      return bumpGeneration();
    });
  }

  Result<std::vector<DrbdVolumeAllocation>> listDrbdAllocations() override {
    std::lock_guard lock(mu_);
    Statement q(db_, "SELECT volume_uuid, minor, shared_secret FROM drbd_minors ORDER BY volume_uuid");
    return readDrbdAllocations(q);
  }

  Result<std::vector<DrbdVolumeAllocation>> drbdAllocationsOf(const std::vector<std::string>& volumes) override {
    std::lock_guard lock(mu_);
    Statement q(db_, "SELECT volume_uuid, minor, shared_secret FROM drbd_minors WHERE volume_uuid IN "
                     "(SELECT value FROM json_each(?1)) ORDER BY volume_uuid");
    q.bind(1, jsonArray(volumes));
    return readDrbdAllocations(q);
  }

  // The allocations `q` selects (volume_uuid, minor, shared_secret), with their replicas. Needs mu_.
  Result<std::vector<DrbdVolumeAllocation>> readDrbdAllocations(Statement& q) {
    std::vector<DrbdVolumeAllocation> out;
    while (true) {
      ASSIGN_OR_RETURN(bool row, q.step());
      if (!row) break;
      out.push_back({q.columnText(0), static_cast<uint32_t>(q.columnInt(1)), {}, q.columnText(2)});
    }
    for (auto& v : out) {
      Statement r(db_, "SELECT node_name, node_id, port FROM drbd_replicas WHERE volume_uuid = ? ORDER BY node_id");
      r.bind(1, v.volume_uuid);
      while (true) {
        ASSIGN_OR_RETURN(bool row, r.step());
        if (!row) break;
        v.replicas.push_back({v.volume_uuid, r.columnText(0), static_cast<uint32_t>(r.columnInt(1)),
                              static_cast<uint32_t>(r.columnInt(2))});
      }
    }
    return out;
  }

  Status requireVolume(const std::string& uuid) {
    Statement q(db_, "SELECT 1 FROM volumes WHERE uuid = ?");
    q.bind(1, uuid);
    ASSIGN_OR_RETURN(bool row, q.step());
    if (!row) return Status(ErrorCode::kNotFound, "volume " + uuid + " does not exist").withReason("volume_not_found");
    return Status::ok();
  }

  Status insertDrbdReplica(const DrbdReplicaAllocation& r) {
    Statement q(db_, "SELECT 1 FROM replicas WHERE volume_uuid = ? AND node_name = ?");
    q.bind(1, r.volume_uuid).bind(2, r.node);
    ASSIGN_OR_RETURN(bool row, q.step());
    if (!row) {
      return Status(ErrorCode::kNotFound, "volume " + r.volume_uuid + " has no replica on node '" + r.node + "'")
          .withReason("replica_not_found");
    }
    return drbdInUse(Statement(db_, "INSERT INTO drbd_replicas (volume_uuid, node_name, node_id, port) VALUES (?,?,?,?)")
                         .bind(1, r.volume_uuid).bind(2, r.node).bind(3, int64_t{r.node_id}).bind(4, int64_t{r.port})
                         .run(),
                     "node-id " + std::to_string(r.node_id) + " or port " + std::to_string(r.port) + " on node '" +
                         r.node + "' (or that replica's allocation)");
  }

  // A unique-constraint failure as "that number is in use".
  static Status drbdInUse(Status s, const std::string& what) {
    if (s.code() != ErrorCode::kAlreadyExists) return s;
    return Status(ErrorCode::kAlreadyExists, "DRBD " + what + " is already in use").withReason("drbd_number_in_use");
  }

  Result<uint64_t> readGeneration() {
    Statement q(db_, "SELECT value FROM meta WHERE key = 'generation'");
    ASSIGN_OR_RETURN(bool row, q.step());
    if (!row) return Status(ErrorCode::kInternal, "generation missing from meta");
    const std::string text = q.columnText(0);
    uint64_t generation = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), generation);
    if (ec != std::errc() || end != text.data() + text.size() || text.empty()) {
      return Status(ErrorCode::kInternal, "the state generation in meta is not a number: '" + text.substr(0, 40) + "'");
    }
    return generation;
  }

  // Within a transaction: deletes volume `name` with its replicas (and snapshot records).
  // kConflict (volume_attached) while some host has it attached; kNotFound.
  Status deleteDetachedVolume(const std::string& name) {
    Statement hosts(db_, "SELECT a.host FROM attachments a JOIN volumes v ON v.uuid = a.volume_uuid "
                         "WHERE v.name = ? ORDER BY a.host");
    hosts.bind(1, name);
    std::string attached;
    while (true) {
      ASSIGN_OR_RETURN(bool row, hosts.step());
      if (!row) break;
      attached += (attached.empty() ? "" : ", ") + hosts.columnText(0);
    }
    if (!attached.empty()) {
      return Status(ErrorCode::kConflict, "volume '" + name + "' is attached on " + attached + "; detach it first")
          .withReason("volume_attached");
    }
    RETURN_IF_ERROR(touchVolumeOf("SELECT uuid FROM volumes WHERE name = ?1", name));
    RETURN_IF_ERROR(Statement(db_, "DELETE FROM volumes WHERE name = ?").bind(1, name).run());
    if (sqlite3_changes(db_) == 0) {
      return Status(ErrorCode::kNotFound, "volume '" + name + "' does not exist").withReason("volume_not_found");
    }
    return Status::ok();
  }

  // One transaction: `UPDATE volumes SET <assignments>` of one volume (kNotFound
  // volume_not_found when there is none) and a generation bump. `assignments` is a constant.
  Status updateVolumeRow(const std::string& volume_uuid, const char* assignments) {
    return transaction([&]() -> Status {
      RETURN_IF_ERROR(Statement(db_, std::string("UPDATE volumes SET ") + assignments + " WHERE uuid = ?")
                          .bind(1, volume_uuid)
                          .run());
      if (sqlite3_changes(db_) == 0) {
        return Status(ErrorCode::kNotFound, "volume " + volume_uuid + " does not exist").withReason("volume_not_found");
      }
      RETURN_IF_ERROR(touchVolume(volume_uuid));
      return bumpGeneration();
    });
  }

  // Increments the state generation in the open transaction; once it commits, the nodes the
  // transaction touched (touched_) get that generation as their node generation. A bump that
  // touched no node counts for every node (the safe default for a change nobody scoped).
  Status bumpGeneration() {
    bumped_ = true;
    return Statement(db_, "UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'generation'").run();
  }

  // The touch helpers name, inside a transaction, the nodes whose desired state it changes.
  // A volume concerns its replicas' nodes (peers, DRBD hosts) and its attachments' hosts; the
  // changes that move replicas or attachments touch the volume before and after. Needs mu_.
  Status touchVolume(const std::string& uuid) { return touchVolumeOf("SELECT ?1", uuid); }
  // touchVolume of the volume(s) whose uuid `uuid_select` (binding ?1 to `value`) selects.
  Status touchVolumeOf(const std::string& uuid_select, const std::string& value) {
    return touchNodesOf("SELECT node_name, volume_uuid FROM replicas WHERE volume_uuid IN (" + uuid_select +
                            ") UNION SELECT host, volume_uuid FROM attachments WHERE volume_uuid IN (" +
                            uuid_select + ")",
                        value);
  }
  // `node` and every node whose state shows its addresses: the other replicas' nodes of each
  // volume it holds a replica of, and the hosts those volumes are attached on (an NBD
  // attachment names the primary's address).
  // Its own whole state changes; in each peer's, the volumes they share.
  Status touchNodeAndPeers(const std::string& node) {
    touched_.whole.insert(node);
    return touchNodesOf(
        "SELECT peer.node_name, peer.volume_uuid FROM replicas mine JOIN replicas peer "
        "ON peer.volume_uuid = mine.volume_uuid WHERE mine.node_name = ?1 "
        "UNION SELECT a.host, a.volume_uuid FROM attachments a JOIN replicas mine "
        "ON a.volume_uuid = mine.volume_uuid WHERE mine.node_name = ?1",
        node);
  }
  // Touches the (node name, volume uuid) rows `select` (binding ?1 to `value`) returns.
  Status touchNodesOf(const std::string& select, const std::string& value) {
    Statement q(db_, select);
    q.bind(1, value);
    while (true) {
      ASSIGN_OR_RETURN(bool row, q.step());
      if (!row) return Status::ok();
      touched_.volumes.emplace(q.columnText(0), q.columnText(1));
    }
  }
  // The change log starts at the generation the store was opened at. Needs mu_.
  Status knowFloor() {
    if (floor_known_) return Status::ok();
    ASSIGN_OR_RETURN(uint64_t generation, readGeneration());
    changes_.resetAll(generation);
    floor_known_ = true;
    return Status::ok();
  }

  template <typename Fn>
  Status transaction(Fn&& fn) {
    std::lock_guard lock(mu_);
    RETURN_IF_ERROR(sqlite::exec(db_, "BEGIN IMMEDIATE"));
    touched_.clear();
    bumped_ = false;
    Status s = fn();
    uint64_t generation = 0;
    if (s.isOk() && bumped_) {
      auto g = readGeneration();
      if (g.isOk()) generation = *g;
      else s = g.status();
    }
    if (!s.isOk()) {
      (void)sqlite::exec(db_, "ROLLBACK");
      return s;
    }
    Status c = sqlite::exec(db_, "COMMIT");
    if (!c.isOk()) {
      (void)sqlite::exec(db_, "ROLLBACK");
      return c;
    }
    if (bumped_) {
      if (touched_.empty()) floor_known_ = true;  // every node's state counts as changed here
      if (floor_known_) changes_.record(generation, touched_);
    }
    return Status::ok();
  }

  sqlite3* db_;
  std::mutex mu_;
  std::string cluster_id_;
  // Guarded by mu_: the nodes the open transaction touched and whether it bumped the generation;
  // each node's generation past floor_generation_ (nodeGeneration()).
  TouchedNodes touched_;
  bool bumped_ = false;
  bool floor_known_ = false;
  NodeChangeLog changes_;
};

}  // namespace

Result<std::unique_ptr<Store>> openSqliteStore(const SqliteStoreOptions& options) {
  sqlite3* db = nullptr;
  int rc = sqlite3_open_v2(options.path.c_str(), &db,
                           SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX, nullptr);
  if (rc != SQLITE_OK) {
    std::string msg = db ? sqlite3_errmsg(db) : "out of memory";
    sqlite3_close_v2(db);
    return Status(ErrorCode::kIo, "open database " + options.path + ": " + msg);
  }
  auto store = std::make_unique<SqliteStore>(db);
  RETURN_IF_ERROR(store->initialize().withContext("initialise database " + options.path));
  return std::unique_ptr<Store>(std::move(store));
}

}  // namespace tandem::controller
