#include "tandem/controller/observed_state.h"

#include <gtest/gtest.h>

#include "cluster_fixtures.h"

namespace tandem::controller {
namespace {

using namespace std::chrono_literals;
using namespace fixtures;
using nodeapi::DiskState;

// A report brings a node online (once), and silence past the timeout takes it offline.
TEST(ObservedState, HeartbeatsDriveLiveness) {
  ObservedState observed(kStart);
  EXPECT_FALSE(observed.online("n1"));
  EXPECT_EQ(observed.find("n1"), nullptr);
  EXPECT_TRUE(observed.reported("n1", {}, kStart, 100)) << "first report: came online";
  EXPECT_FALSE(observed.reported("n1", {}, kStart + 1s, 101)) << "already online";
  EXPECT_TRUE(observed.online("n1"));
  EXPECT_EQ(observed.find("n1")->last_seen_wall, 101);
  EXPECT_TRUE(observed.markSilentOffline(kStart + 7s, 6s).empty()) << "6 s of silence is not more than 6 s";
  EXPECT_EQ(observed.markSilentOffline(kStart + 7001ms, 6s), std::vector<std::string>{"n1"});
  EXPECT_FALSE(observed.online("n1"));
  EXPECT_TRUE(observed.markSilentOffline(kStart + 60s, 6s).empty()) << "reported offline only once";
  EXPECT_TRUE(observed.reported("n1", {}, kStart + 61s, 200)) << "back online";
}

// Offline time counts from the last heartbeat, or from the controller's start for a node never seen.
TEST(ObservedState, OfflineForCountsFromLastSeenOrStart) {
  ObservedState observed(kStart);
  EXPECT_EQ(observed.offlineFor("ghost", kStart + 30s), 30s);
  observed.reported("n1", {}, kStart + 10s, 0);
  EXPECT_EQ(observed.offlineFor("n1", kStart + 20s), 0s) << "online: not offline at all";
  observed.markSilentOffline(kStart + 20s, 6s);
  EXPECT_EQ(observed.offlineFor("n1", kStart + 25s), 15s);
}

// Replica reports are found by (node, volume); a new report replaces the node's old ones whole.
TEST(ObservedState, IndexesReplicaReportsByNodeAndVolume) {
  ObservedState observed(kStart);
  VolumeRecord a = volume("a", "n1"), b = volume("b", "n1");
  report(observed, "n1", {replicaReport(a, DiskState::kUpToDate), replicaReport(b, DiskState::kOutdated)});
  report(observed, "n2", {replicaReport(a, DiskState::kInconsistent)});
  ASSERT_NE(observed.replicaReport("n1", b.uuid), nullptr);
  EXPECT_EQ(observed.replicaReport("n1", b.uuid)->disk, DiskState::kOutdated);
  EXPECT_EQ(observed.replicaReport("n2", a.uuid)->disk, DiskState::kInconsistent);
  EXPECT_EQ(observed.replicaReport("n2", b.uuid), nullptr);
  report(observed, "n1", {replicaReport(a, DiskState::kOutdated)});
  EXPECT_EQ(observed.replicaReport("n1", b.uuid), nullptr) << "b is gone from n1's last report";
  EXPECT_EQ(observed.replicaReport("n1", a.uuid)->disk, DiskState::kOutdated);
  observed.forget("n1");
  EXPECT_EQ(observed.replicaReport("n1", a.uuid), nullptr);
  EXPECT_EQ(observed.find("n1"), nullptr);
  EXPECT_NE(observed.replicaReport("n2", a.uuid), nullptr) << "other nodes are untouched";
}

// A registration brings the node online with its pools and drops its replica reports: a
// restarted node has exported nothing yet (an old report made a volume `available` too early).
TEST(ObservedState, RegistrationSetsPoolsAndDropsReplicaReports) {
  ObservedState observed(kStart);
  VolumeRecord a = volume("a", "n1");
  report(observed, "n1", {replicaReport(a, DiskState::kUpToDate)});
  observed.markSilentOffline(kStart + 10s, 6s);
  observed.registered("n1", {PoolReport{"fast", "zfs", false, true, 1, 1, 0}}, kStart + 11s, 5);
  EXPECT_TRUE(observed.online("n1"));
  ASSERT_EQ(observed.find("n1")->report.pools.size(), 1u);
  EXPECT_EQ(observed.find("n1")->report.pools[0].name, "fast");
  EXPECT_EQ(observed.replicaReport("n1", a.uuid), nullptr);
  EXPECT_TRUE(observed.find("n1")->report.replicas.empty());
}

// A replica placed again on a node that just lost it (remove, then add, within a heartbeat):
// reports made before the generation that placed it describe the old replica and its snapshot
// copies, so the node's own report of it is dropped and the primary's peer entry about it too,
// until reports at or past that generation arrive.
TEST(ObservedState, ReportsFromBeforeAReplicaWasPlacedAreDropped) {
  using nodeapi::PeerState;
  ObservedState observed(kStart);
  VolumeRecord v = volume("v", "n1");
  auto stale_primary = [&](uint64_t applied) {
    NodeStatusReport r;
    r.applied_generation = applied;
    r.replicas = {replicaReport(v, DiskState::kUpToDate, {peer("n2", PeerState::kUpToDate)})};
    observed.reported("n1", r, kStart, 0);
  };
  auto secondary = [&](uint64_t applied) {
    NodeStatusReport r;
    r.applied_generation = applied;
    r.replicas = {replicaReport(v, DiskState::kUpToDate)};
    r.replicas[0].snapshots = {"snap"};
    observed.reported("n2", r, kStart, 0);
  };
  stale_primary(7);
  secondary(7);
  observed.replicaPlaced("n2", v.uuid, 9);
  EXPECT_EQ(observed.replicaReport("n2", v.uuid), nullptr) << "n2's report is about the removed replica";
  ASSERT_NE(observed.replicaReport("n1", v.uuid), nullptr);
  EXPECT_TRUE(observed.replicaReport("n1", v.uuid)->peers.empty()) << "the primary's entry about it too";
  secondary(8);  // still in flight from before
  stale_primary(8);
  EXPECT_EQ(observed.replicaReport("n2", v.uuid), nullptr);
  EXPECT_TRUE(observed.replicaReport("n1", v.uuid)->peers.empty());
  secondary(9);
  ASSERT_NE(observed.replicaReport("n2", v.uuid), nullptr) << "made at the generation that placed it";
  stale_primary(9);
  EXPECT_EQ(observed.replicaReport("n1", v.uuid)->peers.size(), 1u);
  // Both passed the fence: it is lifted, an old generation no longer matters.
  secondary(9);
  stale_primary(3);
  EXPECT_EQ(observed.replicaReport("n1", v.uuid)->peers.size(), 1u);
}

}  // namespace
}  // namespace tandem::controller

namespace tandem::controller {
namespace {

NodeStatusReport numbered(uint64_t seq, std::vector<ReplicaReport> replicas) {
  NodeStatusReport r;
  r.report_seq = seq;
  r.replicas = std::move(replicas);
  return r;
}

// A delta applies to the report it names; any other base leaves the report alone (a full one is needed).
TEST(ObservedStateDeltas, ApplyOnlyToTheirBase) {
  using fixtures::kStart;
  using fixtures::replicaReport;
  using fixtures::volume;
  ObservedState observed(kStart);
  const VolumeRecord a = volume("a", "n1"), b = volume("b", "n1"), c = volume("c", "n1");
  observed.reported("n1", numbered(1, {replicaReport(a, nodeapi::DiskState::kUpToDate),
                                       replicaReport(b, nodeapi::DiskState::kUpToDate)}),
                    kStart, 0);
  NodeStatusReport delta = numbered(2, {replicaReport(a, nodeapi::DiskState::kOutdated),
                                        replicaReport(c, nodeapi::DiskState::kInconsistent)});
  delta.base_seq = 1;
  delta.removed_replicas = {b.uuid};
  delta.applied_generation = 4;
  bool came_online = true;
  ASSERT_TRUE(observed.reportedDelta("n1", delta, kStart, 0, came_online));
  EXPECT_FALSE(came_online);
  ASSERT_NE(observed.replicaReport("n1", a.uuid), nullptr);
  EXPECT_EQ(observed.replicaReport("n1", a.uuid)->disk, nodeapi::DiskState::kOutdated);
  EXPECT_EQ(observed.replicaReport("n1", b.uuid), nullptr);
  ASSERT_NE(observed.replicaReport("n1", c.uuid), nullptr);
  EXPECT_EQ(observed.find("n1")->report.replicas.size(), 2u);
  EXPECT_EQ(observed.find("n1")->report.applied_generation, 4u);
  EXPECT_EQ(observed.find("n1")->report_seq, 2u);

  NodeStatusReport stale = numbered(3, {});
  stale.base_seq = 1;  // not the last applied (2)
  stale.removed_replicas = {a.uuid};
  EXPECT_FALSE(observed.reportedDelta("n1", stale, kStart, 0, came_online));
  EXPECT_NE(observed.replicaReport("n1", a.uuid), nullptr) << "nothing applied";

  observed.registered("n1", {}, kStart, 0);
  NodeStatusReport after_restart = numbered(4, {});
  after_restart.base_seq = 2;
  EXPECT_FALSE(observed.reportedDelta("n1", after_restart, kStart, 0, came_online))
      << "a registration drops the base";
  EXPECT_TRUE(observed.online("n1"));
}

// A liveness heartbeat keeps the node online and its last report; a report clears the error.
TEST(ObservedStateDeltas, LivenessKeepsTheLastReport) {
  using fixtures::kStart;
  ObservedState observed(kStart);
  const VolumeRecord a = fixtures::volume("a", "n1");
  observed.reported("n1", numbered(1, {fixtures::replicaReport(a, nodeapi::DiskState::kUpToDate)}), kStart, 0);
  ASSERT_EQ(observed.markSilentOffline(kStart + std::chrono::seconds(10), std::chrono::seconds(5)).size(), 1u);
  EXPECT_TRUE(observed.alive("n1", "HTTP 413", kStart + std::chrono::seconds(11), 0));
  EXPECT_TRUE(observed.online("n1"));
  EXPECT_EQ(observed.find("n1")->report_error, "HTTP 413");
  EXPECT_NE(observed.replicaReport("n1", a.uuid), nullptr);
  EXPECT_TRUE(observed.markSilentOffline(kStart + std::chrono::seconds(12), std::chrono::seconds(5)).empty());
  observed.reported("n1", numbered(2, {}), kStart + std::chrono::seconds(13), 0);
  EXPECT_EQ(observed.find("n1")->report_error, "");
}

}  // namespace
}  // namespace tandem::controller
