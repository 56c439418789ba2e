// Placement on generated clusters: replicas spread evenly (by count on equal pools, by promised
// ratio on unequal ones), never past a pool's overprovision limit, with the spread-by labels
// honoured, deterministically, and with ties broken by a hash rather than by node name.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "tandem/controller/placement.h"
#include "tandem/controller/placement_inputs.h"

namespace tandem::controller {
namespace {

const uint64_t GiB = 1ull << 30;

std::string nodeName(int i) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "n%03d", i);
  return buf;
}

PoolCandidate thinPool(int i, uint64_t total) {
  PoolCandidate c;
  c.node = nodeName(i);
  c.pool = "p";
  c.node_online = true;
  c.total_bytes = total;
  c.free_bytes = total;  // thin: nothing written yet
  return c;
}

// Places `volumes` volumes of `replicas` replicas each, accounting each one as the controller
// does between two reports (addPlaced: pending bytes and replica counts); returns replicas per
// node. Stops at the first failure when `stop_on_failure`, else fails the test.
struct Outcome {
  std::map<std::string, int> per_node;
  int placed_volumes = 0;
  std::vector<std::vector<Placement>> placements;
};

Outcome placeMany(std::vector<PoolCandidate>& c, PlacementRequest request, int volumes, bool stop_on_failure = false) {
  Outcome run;
  for (const auto& p : c) run.per_node[p.node] += 0;
  for (int v = 0; v < volumes; ++v) {
    request.volume = "vol-" + std::to_string(v);
    auto placed = placeReplicas(request, c);
    if (!placed.isOk()) {
      if (!stop_on_failure) ADD_FAILURE() << "volume " << v << ": " << placed.status().toString();
      break;
    }
    EXPECT_EQ(placed->size(), request.replicas);
    for (const auto& p : *placed) {
      ++run.per_node[p.node];
      addPlaced(c, p, request.size_bytes, request.thin);
    }
    run.placements.push_back(*placed);
    ++run.placed_volumes;
  }
  return run;
}

std::pair<int, int> minMax(const std::map<std::string, int>& per_node) {
  int lo = INT32_MAX, hi = 0;
  for (const auto& [node, n] : per_node) {
    lo = std::min(lo, n);
    hi = std::max(hi, n);
  }
  return {lo, hi};
}

PlacementRequest thinRequest(uint64_t size, uint32_t replicas, double overprovision = 20.0) {
  PlacementRequest r;
  r.size_bytes = size;
  r.replicas = replicas;
  r.thin = true;
  r.overprovision = overprovision;
  return r;
}

// The measurement: 4 equal thin nodes, 12 one-replica and 6 two-replica volumes landed
// 8/7/6/3 when ranked by free space then name. Now: 6 each.
TEST(PlacementBalance, FourEqualThinNodes) {
  std::vector<PoolCandidate> c;
  for (int i = 0; i < 4; ++i) c.push_back(thinPool(i, 100 * GiB));
  Outcome ones = placeMany(c, thinRequest(1 * GiB, 1), 12);
  Outcome twos = placeMany(c, thinRequest(1 * GiB, 2), 6);
  std::map<std::string, int> total;
  for (const auto& [n, k] : ones.per_node) total[n] += k;
  for (const auto& [n, k] : twos.per_node) total[n] += k;
  auto [lo, hi] = minMax(total);
  EXPECT_EQ(lo, 6);
  EXPECT_EQ(hi, 6);
}

// Ten nodes, 30 three-replica volumes created between two reports (only pending accounting
// moves): all 90 replicas used to go to the first three nodes by name; now 9 each.
TEST(PlacementBalance, ManyCreatesBetweenTwoReportsSpread) {
  std::vector<PoolCandidate> c;
  for (int i = 0; i < 10; ++i) c.push_back(thinPool(i, 100 * GiB));
  Outcome run = placeMany(c, thinRequest(10 * GiB, 3), 30);
  auto [lo, hi] = minMax(run.per_node);
  EXPECT_EQ(lo, 9);
  EXPECT_EQ(hi, 9);
}

// Equal nodes with no replicas yet: which node comes first depends on the volume (a hash), not
// on the node's name.
TEST(PlacementBalance, TiesGoByHashNotByName) {
  std::vector<PoolCandidate> c;
  for (int i = 0; i < 8; ++i) c.push_back(thinPool(i, 100 * GiB));
  std::map<std::string, int> first;
  PlacementRequest r = thinRequest(1 * GiB, 1);
  for (int v = 0; v < 200; ++v) {
    r.volume = "vol-" + std::to_string(v);
    auto p = placeReplicas(r, c);
    ASSERT_TRUE(p.isOk());
    ++first[p->front().node];
  }
  EXPECT_EQ(first.size(), 8u) << "every equal node is first for some volume";
  for (const auto& [node, n] : first) EXPECT_GE(n, 5) << node;
}

// Hundreds of equal thin nodes, thousands of 3-replica volumes: counts differ by at most one.
TEST(PlacementBalance, HundredsOfEqualNodes) {
  std::vector<PoolCandidate> c;
  for (int i = 0; i < 300; ++i) c.push_back(thinPool(i, 1024 * GiB));
  Outcome run = placeMany(c, thinRequest(8 * GiB, 3), 1000);
  auto [lo, hi] = minMax(run.per_node);
  EXPECT_EQ(run.placed_volumes, 1000);
  EXPECT_LE(hi - lo, 1) << lo << ".." << hi;
}

// Unequal thin pools (1 to 8 TiB) with some replicas already: they fill in proportion to their
// size (promised ratios stay close), none is promised past total × overprovision, and once full
// placement says so instead of overcommitting.
TEST(PlacementBalance, UnequalThinPoolsFillByPromisedRatio) {
  std::mt19937 rng(42);
  std::vector<PoolCandidate> c;
  for (int i = 0; i < 200; ++i) {
    PoolCandidate p = thinPool(i, (1 + rng() % 8) * 1024 * GiB);
    p.provisioned_bytes = (rng() % 4) * 64 * GiB;  // existing volumes
    p.free_bytes = p.total_bytes - (rng() % 4) * 4 * GiB;  // a little data written
    p.node_replicas = static_cast<uint32_t>(p.provisioned_bytes / (64 * GiB));
    c.push_back(p);
  }
  const double overprovision = 3.0;
  auto ratio = [&](const PoolCandidate& p) {
    return static_cast<double>(p.provisioned_bytes) / (static_cast<double>(p.total_bytes) * overprovision);
  };
  // Half full: the promised ratios are within a few volumes of each other.
  Outcome half = placeMany(c, thinRequest(64 * GiB, 3, overprovision), 3000);
  EXPECT_EQ(half.placed_volumes, 3000);
  double lo = 1, hi = 0;
  for (const auto& p : c) {
    lo = std::min(lo, ratio(p));
    hi = std::max(hi, ratio(p));
  }
  EXPECT_LE(hi - lo, 0.05) << lo << ".." << hi;
  // Until no node can take more (in larger volumes, to get there sooner): never past the limit.
  placeMany(c, thinRequest(256 * GiB, 3, overprovision), 100000, /*stop_on_failure=*/true);
  for (const auto& p : c) {
    EXPECT_LE(p.provisioned_bytes, static_cast<uint64_t>(static_cast<double>(p.total_bytes) * overprovision))
        << p.node;
    EXPECT_GT(ratio(p), 0.9) << p.node << " left mostly empty";
  }
}

// Thick pools with different free space: placement fills the emptiest first (water-filling: the
// pools that took replicas end with about the same free fraction, the others had less to begin
// with) and never takes more than is free.
TEST(PlacementBalance, ThickPoolsByFreeSpace) {
  std::mt19937 rng(7);
  std::vector<PoolCandidate> c;
  for (int i = 0; i < 150; ++i) {
    PoolCandidate p = thinPool(i, 1024 * GiB);
    p.free_bytes = (100 + rng() % 900) * GiB;
    p.provisioned_bytes = p.total_bytes - p.free_bytes;
    c.push_back(p);
  }
  PlacementRequest thick;
  thick.size_bytes = 10 * GiB;
  thick.replicas = 2;
  Outcome run = placeMany(c, thick, 2000);
  double lowest_taker = 1, highest = 0;
  for (const auto& p : c) {
    const double f = static_cast<double>(p.free_bytes) / static_cast<double>(p.total_bytes);
    highest = std::max(highest, f);
    if (run.per_node[p.node] > 0) lowest_taker = std::min(lowest_taker, f);
  }
  EXPECT_LE(highest - lowest_taker, 0.03) << lowest_taker << ".." << highest;
  placeMany(c, thick, 100000, /*stop_on_failure=*/true);
  int with_room = 0;
  for (const auto& p : c) with_room += p.free_bytes >= thick.size_bytes ? 1 : 0;
  EXPECT_LE(with_room, 1) << "placement gave up while two nodes could take the volume";
}

// Mixed thin pools across 6 zones and 36 racks, spread by zone and rack: every volume has its
// replicas in distinct zones and racks, and the counts still stay even.
TEST(PlacementBalance, LabelsAndSpreadKeysHoldAtScale) {
  std::vector<PoolCandidate> c;
  for (int i = 0; i < 360; ++i) {
    PoolCandidate p = thinPool(i, 2048 * GiB);
    p.node_labels = {{"zone", "z" + std::to_string(i % 6)}, {"rack", "r" + std::to_string(i % 36)}};
    c.push_back(p);
  }
  // Nodes without the labels are never used.
  for (int i = 360; i < 380; ++i) c.push_back(thinPool(i, 8192 * GiB));
  PlacementRequest r = thinRequest(16 * GiB, 3);
  r.spread_keys = {"zone", "rack"};
  Outcome run = placeMany(c, r, 1500);
  ASSERT_EQ(run.placed_volumes, 1500);
  std::map<std::string, std::map<std::string, std::string>> labels;
  for (const auto& p : c) labels[p.node] = p.node_labels;
  for (const auto& placed : run.placements) {
    std::set<std::string> zones, racks;
    for (const auto& p : placed) {
      ASSERT_FALSE(labels[p.node].empty()) << p.node << " has no labels";
      zones.insert(labels[p.node]["zone"]);
      racks.insert(labels[p.node]["rack"]);
    }
    EXPECT_EQ(zones.size(), 3u);
    EXPECT_EQ(racks.size(), 3u);
  }
  std::map<std::string, int> labelled;
  for (const auto& [node, n] : run.per_node) {
    if (!labels[node].empty()) labelled[node] = n;
    else EXPECT_EQ(n, 0) << node;
  }
  auto [lo, hi] = minMax(labelled);
  EXPECT_LE(hi - lo, 2) << lo << ".." << hi;
}

// The same input gives the same output, whatever the candidates' order.
TEST(PlacementBalance, Deterministic) {
  std::mt19937 rng(3);
  std::vector<PoolCandidate> c;
  for (int i = 0; i < 100; ++i) {
    PoolCandidate p = thinPool(i, (1 + rng() % 4) * 512 * GiB);
    p.node_labels = {{"zone", "z" + std::to_string(i % 4)}};
    c.push_back(p);
  }
  PlacementRequest r = thinRequest(32 * GiB, 3);
  r.spread_keys = {"zone"};
  auto a = c, b = c;
  std::reverse(b.begin(), b.end());
  std::shuffle(b.begin(), b.end(), rng);
  Outcome one = placeMany(a, r, 500);
  Outcome two = placeMany(b, r, 500);
  ASSERT_EQ(one.placements.size(), two.placements.size());
  for (size_t v = 0; v < one.placements.size(); ++v) {
    ASSERT_EQ(one.placements[v].size(), two.placements[v].size());
    for (size_t k = 0; k < one.placements[v].size(); ++k) {
      EXPECT_EQ(one.placements[v][k].node, two.placements[v][k].node) << "volume " << v;
      EXPECT_EQ(one.placements[v][k].score.score, two.placements[v][k].score.score);
    }
  }
}

// Weights steer the choice: with only replica_count weighted, a nearly full thick pool on an
// empty node wins over a roomy one on a busy node; with only free_space, the roomy one.
TEST(PlacementBalance, WeightsSteer) {
  PoolCandidate roomy = thinPool(0, 100 * GiB), tight = thinPool(1, 100 * GiB);
  roomy.node_replicas = 10;
  tight.free_bytes = 20 * GiB;
  PlacementRequest r;
  r.size_bytes = 1 * GiB;
  r.weights = {0, 0, 1};
  auto p = placeReplicas(r, {roomy, tight});
  ASSERT_TRUE(p.isOk());
  EXPECT_EQ(p->front().node, tight.node);
  EXPECT_EQ(p->front().score.replica_count, 1.0);
  r.weights = {1, 0, 0};
  p = placeReplicas(r, {roomy, tight});
  ASSERT_TRUE(p.isOk());
  EXPECT_EQ(p->front().node, roomy.node);
  EXPECT_DOUBLE_EQ(p->front().score.free_space, 99.0 / 100.0);
  EXPECT_DOUBLE_EQ(p->front().score.score, 99.0 / 100.0);
}

// A thin group whose free space should not count (pools on a filesystem shared with other data)
// sets its weight to 0 and ranks by promised ratio alone; by default free space counts too.
TEST(PlacementBalance, FreeSpaceWeightZeroRanksThinByPromisedRatio) {
  PoolCandidate written = thinPool(0, 100 * GiB), promised = thinPool(1, 100 * GiB);
  written.free_bytes = 30 * GiB;             // much data written, little promised
  promised.provisioned_bytes = 200 * GiB;    // nothing written, a tenth of 100 GiB × 20 promised
  PlacementRequest r = thinRequest(1 * GiB, 1);
  auto by_default = placeReplicas(r, {written, promised});
  ASSERT_TRUE(by_default.isOk());
  EXPECT_EQ(by_default->front().node, promised.node);
  r.weights.free_space = 0;
  auto by_promise = placeReplicas(r, {written, promised});
  ASSERT_TRUE(by_promise.isOk());
  EXPECT_EQ(by_promise->front().node, written.node);
  EXPECT_DOUBLE_EQ(by_promise->front().score.free_space, 0.3);  // reported, not counted
}

}  // namespace
}  // namespace tandem::controller
