#include "tandem/controller/placement_inputs.h"

#include <gtest/gtest.h>

#include "cluster_fixtures.h"

namespace tandem::controller {
namespace {

using namespace fixtures;
using nodeapi::DiskState;

// One builder carries every rule of the group into the request.
TEST(PlacementInputs, RequestCarriesTheGroupsRules) {
  GroupRecord g;
  g.name = "g";
  g.thin = false;
  g.overprovision = 3;
  g.pools = {"fast"};
  g.replicas_on_different = {"zone"};
  PlacementRequest r = placementRequestFor(g, 4096, 2);
  EXPECT_EQ(r.size_bytes, 4096u);
  EXPECT_EQ(r.replicas, 2u);
  EXPECT_EQ(r.allowed_pools, std::vector<std::string>{"fast"});
  EXPECT_FALSE(r.thin);
  EXPECT_EQ(r.overprovision, 3.0);
  EXPECT_EQ(r.spread_keys, std::vector<std::string>{"zone"});
  EXPECT_TRUE(r.exclude_nodes.empty());
}

// Replicas placed but not yet reported count against their pool: all in provisioned, thick in free.
TEST(PlacementInputs, UnreportedReplicasTakeTheirSpace) {
  ObservedState observed(kStart);
  GroupRecord thin, thick;
  thin.name = "thin";
  thick.name = "thick";
  thick.thin = false;
  VolumeRecord a = volume("a", "n1", 10 << 20), b = volume("b", "n1", 20 << 20),
               c = volume("c", "n1", 40 << 20);
  a.group = "thin";
  b.group = "thick";
  c.group = "thick";
  std::vector<ReplicaRecord> replicas = {
      {a.uuid, "n1", "p", true}, {b.uuid, "n1", "p", true}, {c.uuid, "n1", "p", true}};
  report(observed, "n1", {replicaReport(c, DiskState::kUpToDate)},
         50 << 20);  // c is reported: in the figures
  PendingByPool pending = pendingBytes({a, b, c}, replicas, {thin, thick}, observed);
  ASSERT_EQ(pending.size(), 1u);
  EXPECT_EQ((pending[{"n1", "p"}].provisioned), uint64_t{30 << 20});
  EXPECT_EQ((pending[{"n1", "p"}].thick), uint64_t{20 << 20});

  std::vector<PoolRecord> pools = {{"n1", "p", "file", true, false}, {"n2", "p", "file", true, false}};
  NodeRecord n1;
  n1.name = "n1";
  n1.labels = {{"zone", "a"}};
  auto candidates = placementCandidates(pools, {n1}, observed, pending);
  ASSERT_EQ(candidates.size(), 2u);
  EXPECT_TRUE(candidates[0].node_online);
  EXPECT_EQ(candidates[0].free_bytes, uint64_t{30 << 20});
  EXPECT_EQ(candidates[0].provisioned_bytes, uint64_t{30 << 20});
  EXPECT_EQ(candidates[0].node_labels.at("zone"), "a");
  EXPECT_FALSE(candidates[1].node_online) << "never reported";
  EXPECT_EQ(candidates[1].total_bytes, 0u);

  addPlaced(candidates, {"n1", "p"}, 40 << 20, /*thin=*/false);
  EXPECT_EQ(candidates[0].free_bytes, 0u) << "never below zero";
  EXPECT_EQ(candidates[0].provisioned_bytes, uint64_t{70 << 20});
}

}  // namespace
}  // namespace tandem::controller
