#include "tandem/controller/placement.h"

#include <gtest/gtest.h>

namespace tandem::controller {
namespace {

const uint64_t GiB = 1ull << 30;

PoolCandidate pool(std::string node, std::string name, bool online, uint64_t total, uint64_t free,
                   uint64_t provisioned = 0) {
  PoolCandidate c;
  c.node = std::move(node);
  c.pool = std::move(name);
  c.node_online = online;
  c.total_bytes = total;
  c.free_bytes = free;
  c.provisioned_bytes = provisioned;
  return c;
}

PlacementRequest req(uint64_t size, uint32_t replicas, std::vector<std::string> pools = {}) {
  PlacementRequest r;
  r.size_bytes = size;
  r.replicas = replicas;
  r.allowed_pools = std::move(pools);
  return r;
}

std::vector<PoolCandidate> threeNodes() {
  return {pool("n1", "p", true, 100 * GiB, 50 * GiB),
          pool("n2", "p", true, 100 * GiB, 80 * GiB),
          pool("n3", "p", true, 100 * GiB, 60 * GiB)};
}

// Replicas land on distinct nodes, most free space first, deterministically.
TEST(Placement, PicksDistinctNodesByFreeSpace) {
  auto p = placeReplicas(req(10 * GiB, 2), threeNodes());
  ASSERT_TRUE(p.isOk()) << p.status().toString();
  ASSERT_EQ(p->size(), 2u);
  EXPECT_EQ((*p)[0].node, "n2");
  EXPECT_EQ((*p)[1].node, "n3");
}

// Offline nodes and pools without room are never chosen; too few left is not_enough_nodes.
TEST(Placement, SkipsOfflineAndFullNodes) {
  auto c = threeNodes();
  c[1].node_online = false;
  c[2].free_bytes = 1 * GiB;
  auto p = placeReplicas(req(10 * GiB, 2), c);
  ASSERT_FALSE(p.isOk());
  EXPECT_EQ(p.status().code(), ErrorCode::kUnprocessable);
  EXPECT_EQ(p.status().reason(), "not_enough_nodes");
  EXPECT_NE(p.status().message().find("found 1"), std::string::npos);
}

// A volume larger than every pool gets its own reason.
TEST(Placement, VolumeLargerThanAnyPool) {
  auto p = placeReplicas(req(200 * GiB, 1), threeNodes());
  ASSERT_FALSE(p.isOk());
  EXPECT_EQ(p.status().reason(), "volume_too_large");
}

// With no online pool of known size, a big volume is a lack of nodes, not "too large".
TEST(Placement, UnknownCapacityIsNotTooLarge) {
  auto c = threeNodes();
  for (auto& p : c) p.node_online = false;
  EXPECT_EQ(placeReplicas(req(200 * GiB, 1), c).status().reason(), "not_enough_nodes");
  c[0] = pool("n1", "p", true, 0, 0);  // online, not reported yet
  EXPECT_EQ(placeReplicas(req(1 * GiB, 1), c).status().reason(), "not_enough_nodes");
}

// Two pools on one node never hold two replicas of the same volume; allowed_pools filters.
TEST(Placement, OneReplicaPerNodeAndPoolFilter) {
  std::vector<PoolCandidate> c = {pool("n1", "a", true, 100 * GiB, 90 * GiB), pool("n1", "b", true, 100 * GiB, 95 * GiB),
                                  pool("n2", "a", true, 100 * GiB, 10 * GiB)};
  auto p = placeReplicas(req(1 * GiB, 2), c);
  ASSERT_TRUE(p.isOk());
  EXPECT_EQ((*p)[0].node, "n1");
  EXPECT_EQ((*p)[0].pool, "b");
  EXPECT_EQ((*p)[1].node, "n2");
  auto only_a = placeReplicas(req(1 * GiB, 1, {"a"}), c);
  ASSERT_TRUE(only_a.isOk());
  EXPECT_EQ((*only_a)[0].pool, "a");
}

PoolCandidate labelled(std::string node, uint64_t free, std::map<std::string, std::string> labels) {
  PoolCandidate c = pool(std::move(node), "p", true, 100 * GiB, free);
  c.node_labels = std::move(labels);
  return c;
}

// replicas_on_different: no two replicas share a value of a spread key, even when the nodes with
// the most free space are all in one zone.
TEST(Placement, SpreadsAcrossLabelValues) {
  std::vector<PoolCandidate> c = {labelled("a1", 90 * GiB, {{"zone", "a"}}), labelled("a2", 80 * GiB, {{"zone", "a"}}),
                                  labelled("b1", 20 * GiB, {{"zone", "b"}}), labelled("c1", 10 * GiB, {{"zone", "c"}})};
  PlacementRequest spread = req(1 * GiB, 3);
  spread.spread_keys = {"zone"};
  auto p = placeReplicas(spread, c);
  ASSERT_TRUE(p.isOk()) << p.status().toString();
  ASSERT_EQ(p->size(), 3u);
  EXPECT_EQ((*p)[0].node, "a1");
  EXPECT_EQ((*p)[1].node, "b1");
  EXPECT_EQ((*p)[2].node, "c1");
  // Without the spread key the two zone-a nodes come first.
  auto plain = placeReplicas(req(1 * GiB, 3), c);
  ASSERT_TRUE(plain.isOk());
  EXPECT_EQ((*plain)[1].node, "a2");
}

// Two keys: the search backtracks past a greedy choice that would leave no valid third node.
TEST(Placement, SpreadOverTwoKeysBacktracks) {
  std::vector<PoolCandidate> c = {labelled("n1", 90 * GiB, {{"zone", "a"}, {"rack", "r1"}}),
                                  labelled("n2", 80 * GiB, {{"zone", "b"}, {"rack", "r2"}}),
                                  labelled("n3", 70 * GiB, {{"zone", "c"}, {"rack", "r1"}}),
                                  labelled("n4", 60 * GiB, {{"zone", "c"}, {"rack", "r3"}})};
  PlacementRequest spread = req(1 * GiB, 3);
  spread.spread_keys = {"zone", "rack"};
  auto p = placeReplicas(spread, c);
  ASSERT_TRUE(p.isOk()) << p.status().toString();
  EXPECT_EQ((*p)[0].node, "n1");
  EXPECT_EQ((*p)[1].node, "n2");
  EXPECT_EQ((*p)[2].node, "n4");
}

// Too few distinct values, or nodes without the label: not_enough_nodes, and the message names
// the values found and the nodes left out.
TEST(Placement, SpreadFailureExplainsItself) {
  std::vector<PoolCandidate> c = {labelled("a1", 90 * GiB, {{"zone", "a"}}), labelled("a2", 80 * GiB, {{"zone", "a"}}),
                                  labelled("b1", 20 * GiB, {{"zone", "b"}}), labelled("x", 95 * GiB, {})};
  PlacementRequest spread = req(1 * GiB, 3);
  spread.spread_keys = {"zone"};
  auto p = placeReplicas(spread, c);
  ASSERT_FALSE(p.isOk());
  EXPECT_EQ(p.status().code(), ErrorCode::kUnprocessable);
  EXPECT_EQ(p.status().reason(), "not_enough_nodes");
  EXPECT_NE(p.status().message().find("zone: 'a', 'b'"), std::string::npos) << p.status().message();
  EXPECT_NE(p.status().message().find("lacking label(s) 'zone': 'x'"), std::string::npos) << p.status().message();
}

// Replacing a lost replica: nodes of the volume are excluded, and the new replica avoids the
// label values of the replicas that stay.
TEST(Placement, ReplacementAvoidsKeptReplicas) {
  std::vector<PoolCandidate> c = {labelled("a1", 90 * GiB, {{"zone", "a"}}), labelled("a2", 80 * GiB, {{"zone", "a"}}),
                                  labelled("b1", 20 * GiB, {{"zone", "b"}}), labelled("c1", 10 * GiB, {{"zone", "c"}})};
  PlacementRequest one = req(1 * GiB, 1);
  one.exclude_nodes = {"a1", "b1", "c1"};
  auto p = placeReplicas(one, c);
  ASSERT_TRUE(p.isOk()) << p.status().toString();
  EXPECT_EQ((*p)[0].node, "a2");
  // Spread by zone with replicas kept in zones a (a1) and b: only zone c is left, and c1 is dead.
  one.spread_keys = {"zone"};
  one.exclude_nodes = {"a1", "b1", "c1"};
  one.kept_labels = {{{"zone", "a"}}, {{"zone", "b"}}};
  EXPECT_EQ(placeReplicas(one, c).status().reason(), "not_enough_nodes");
  one.kept_labels = {{{"zone", "b"}}, {{"zone", "c"}}};
  p = placeReplicas(one, c);
  ASSERT_TRUE(p.isOk()) << p.status().toString();
  EXPECT_EQ((*p)[0].node, "a2");
}

// Thin groups may promise a pool `overprovision` times its size, no more; thick ones need the
// space free.
TEST(Placement, ThinOverprovisionLimit) {
  std::vector<PoolCandidate> c = {pool("n1", "p", true, 100 * GiB, 40 * GiB, 150 * GiB)};
  PlacementRequest thin = req(60 * GiB, 1);
  thin.thin = true;
  thin.overprovision = 2.0;
  EXPECT_FALSE(placeReplicas(thin, c).isOk());      // 150 + 60 = 210 > 100 × 2
  thin.size_bytes = 50 * GiB;                        // 150 + 50 = 200: exactly the limit
  EXPECT_TRUE(placeReplicas(thin, c).isOk());
  thin.size_bytes = 51 * GiB;
  auto over = placeReplicas(thin, c);
  ASSERT_FALSE(over.isOk());
  EXPECT_EQ(over.status().reason(), "not_enough_nodes");
  EXPECT_NE(over.status().message().find("overprovision limit of 2x"), std::string::npos) << over.status().message();
  thin.overprovision = 2.2;
  thin.size_bytes = 80 * GiB;                        // 80 <= 40 × 2.2, but 150 + 80 > 100 × 2.2
  EXPECT_NE(placeReplicas(thin, c).status().message().find("limit of 2.2x"), std::string::npos);
  thin.overprovision = 1.0;                          // ratio 1: no promise beyond the pool
  thin.size_bytes = 1 * GiB;
  EXPECT_FALSE(placeReplicas(thin, c).isOk());
  PlacementRequest thick = req(41 * GiB, 1);           // thick ignores provisioned, needs free space
  EXPECT_FALSE(placeReplicas(thick, c).isOk());
  thick.size_bytes = 40 * GiB;
  EXPECT_TRUE(placeReplicas(thick, c).isOk());
}

}  // namespace
}  // namespace tandem::controller

namespace tandem::controller {
namespace {

// Mixed cluster: n2 (the emptiest) has no DRBD 9 module. A native volume may use it; a drbd
// volume never does, and when too few DRBD nodes remain the refusal names n2 and why.
TEST(Placement, DrbdVolumesOnlyOnNodesWithTheModule) {
  auto nodes = threeNodes();
  nodes[1].drbd_missing = "the DRBD 9 kernel module is not loaded (/proc/drbd is missing)";
  auto native = placeReplicas(req(10 * GiB, 2), nodes);
  ASSERT_TRUE(native.isOk()) << native.status().toString();
  EXPECT_EQ((*native)[0].node, "n2") << "the native engine ignores DRBD capability";

  PlacementRequest drbd = req(10 * GiB, 2);
  drbd.needs_drbd = true;
  auto placed = placeReplicas(drbd, nodes);
  ASSERT_TRUE(placed.isOk()) << placed.status().toString();
  ASSERT_EQ(placed->size(), 2u);
  EXPECT_EQ((*placed)[0].node, "n3");
  EXPECT_EQ((*placed)[1].node, "n1");

  drbd.replicas = 3;
  auto refused = placeReplicas(drbd, nodes);
  ASSERT_FALSE(refused.isOk());
  EXPECT_EQ(refused.status().code(), ErrorCode::kUnprocessable);
  EXPECT_EQ(refused.status().reason(), "drbd_not_available");
  // The tie-breaker of a two-replica drbd volume: a third DRBD node, fewest replicas first.
  nodes[0].node_replicas = 5;
  EXPECT_EQ(placeTieBreaker(nodes, {"n3"}), std::optional<std::string>("n1")) << "n2 has no DRBD";
  EXPECT_EQ(placeTieBreaker(nodes, {"n1", "n3"}), std::nullopt);
  nodes.push_back(pool("n4", "p", true, 100 * GiB, 10 * GiB));
  EXPECT_EQ(placeTieBreaker(nodes, {"n3"}), std::optional<std::string>("n4")) << "fewer replicas than n1";
  EXPECT_NE(refused.status().message().find(
                "node 'n2': the DRBD 9 kernel module is not loaded (/proc/drbd is missing)"),
            std::string::npos)
      << refused.status().message();
}

}  // namespace
}  // namespace tandem::controller
