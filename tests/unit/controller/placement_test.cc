#include "tandem/controller/placement.h"

#include <gtest/gtest.h>

namespace tandem::controller {
namespace {

const uint64_t GiB = 1ull << 30;

std::vector<PoolCandidate> threeNodes() {
  return {{"n1", "p", true, 100 * GiB, 50 * GiB},
          {"n2", "p", true, 100 * GiB, 80 * GiB},
          {"n3", "p", true, 100 * GiB, 60 * GiB}};
}

// Replicas land on distinct nodes, most free space first, deterministically.
TEST(Placement, PicksDistinctNodesByFreeSpace) {
  auto p = placeReplicas({10 * GiB, 2, {}}, threeNodes());
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
  auto p = placeReplicas({10 * GiB, 2, {}}, c);
  ASSERT_FALSE(p.isOk());
  EXPECT_EQ(p.status().code(), ErrorCode::kUnprocessable);
  EXPECT_EQ(p.status().reason(), "not_enough_nodes");
  EXPECT_NE(p.status().message().find("found 1"), std::string::npos);
}

// A volume larger than every pool gets its own reason.
TEST(Placement, VolumeLargerThanAnyPool) {
  auto p = placeReplicas({200 * GiB, 1, {}}, threeNodes());
  ASSERT_FALSE(p.isOk());
  EXPECT_EQ(p.status().reason(), "volume_too_large");
}

// Two pools on one node never hold two replicas of the same volume; allowed_pools filters.
TEST(Placement, OneReplicaPerNodeAndPoolFilter) {
  std::vector<PoolCandidate> c = {{"n1", "a", true, 100 * GiB, 90 * GiB}, {"n1", "b", true, 100 * GiB, 95 * GiB},
                                  {"n2", "a", true, 100 * GiB, 10 * GiB}};
  auto p = placeReplicas({1 * GiB, 2, {}}, c);
  ASSERT_TRUE(p.isOk());
  EXPECT_EQ((*p)[0].node, "n1");
  EXPECT_EQ((*p)[0].pool, "b");
  EXPECT_EQ((*p)[1].node, "n2");
  auto only_a = placeReplicas({1 * GiB, 1, {"a"}}, c);
  ASSERT_TRUE(only_a.isOk());
  EXPECT_EQ((*only_a)[0].pool, "a");
}

}  // namespace
}  // namespace tandem::controller
