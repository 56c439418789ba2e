// The controller's DRBD numbers: node-ids, minors and ports (drbd_allocation.h).
#include "tandem/controller/drbd_allocation.h"

#include <gtest/gtest.h>

namespace tandem::controller {
namespace {

// A fresh volume gets the lowest free minor and, per node, node-ids 0.. and the lowest free port.
TEST(DrbdAllocation, FirstVolumeTakesTheLowestNumbers) {
  auto a = allocateDrbdVolume("v1", {"n1", "n2", "n3"}, {}, DrbdRanges{});
  ASSERT_TRUE(a.isOk()) << a.status().toString();
  EXPECT_EQ(a->minor, 1000u);
  ASSERT_EQ(a->replicas.size(), 3u);
  for (uint32_t i = 0; i < 3; ++i) {
    EXPECT_EQ(a->replicas[i].node_id, i);
    EXPECT_EQ(a->replicas[i].port, 7000u);
    EXPECT_EQ(a->replicas[i].volume_uuid, "v1");
  }
}

// Minors are unique in the cluster, ports unique per node (a node's other resources), and a
// freed number (its volume gone from in_use) is taken again.
TEST(DrbdAllocation, NeverTwoInUseAndFreedNumbersAreReused) {
  std::vector<DrbdVolumeAllocation> in_use;
  in_use.push_back(*allocateDrbdVolume("v1", {"n1", "n2"}, in_use, {}));
  auto v2 = allocateDrbdVolume("v2", {"n2", "n3"}, in_use, {});
  ASSERT_TRUE(v2.isOk());
  EXPECT_EQ(v2->minor, 1001u);
  EXPECT_EQ(v2->replicas[0].port, 7001u);  // n2 already serves v1 on 7000
  EXPECT_EQ(v2->replicas[1].port, 7000u);  // n3 is free
  in_use.push_back(*v2);
  in_use.erase(in_use.begin());  // v1 deleted
  auto v3 = allocateDrbdVolume("v3", {"n1", "n2"}, in_use, {});
  ASSERT_TRUE(v3.isOk());
  EXPECT_EQ(v3->minor, 1000u);
  EXPECT_EQ(v3->replicas[1].port, 7000u);
  EXPECT_EQ(allocateDrbdVolume("v2", {"n1"}, in_use, {}).status().code(), ErrorCode::kAlreadyExists);
}

// A peer added later takes the lowest node-id its volume does not use (others keep theirs).
TEST(DrbdAllocation, AddedPeerTakesAFreeNodeIdAndKeepsOthersStable) {
  std::vector<DrbdVolumeAllocation> in_use{*allocateDrbdVolume("v1", {"n1", "n2", "n3"}, {}, {})};
  in_use[0].replicas.erase(in_use[0].replicas.begin() + 1);  // n2 (node-id 1) removed
  auto r = allocateDrbdReplica("v1", "n4", in_use, {});
  ASSERT_TRUE(r.isOk()) << r.status().toString();
  EXPECT_EQ(r->node_id, 1u);
  EXPECT_EQ(r->port, 7000u);
  EXPECT_EQ(in_use[0].replicas[1].node_id, 2u);  // n3 keeps 2
  EXPECT_EQ(allocateDrbdReplica("v1", "n3", in_use, {}).status().code(), ErrorCode::kAlreadyExists);
  EXPECT_EQ(allocateDrbdReplica("v9", "n3", in_use, {}).status().code(), ErrorCode::kNotFound);
}

// Exhausted ranges are refused with kNoSpace, reason drbd_range_exhausted and the range named.
TEST(DrbdAllocation, ExhaustedRangesAreRefusedPrecisely) {
  DrbdRanges small{1000, 1001, 7000, 7000, 2};
  std::vector<DrbdVolumeAllocation> in_use{*allocateDrbdVolume("v1", {"n1"}, {}, small)};
  auto port = allocateDrbdVolume("v2", {"n1"}, in_use, small);
  EXPECT_EQ(port.status().code(), ErrorCode::kNoSpace);
  EXPECT_EQ(port.status().reason(), "drbd_range_exhausted");
  EXPECT_NE(port.status().message().find("no free DRBD port on node 'n1' in 7000..7000"), std::string::npos)
      << port.status().toString();
  in_use.push_back(*allocateDrbdVolume("v2", {"n2"}, in_use, small));
  auto minor = allocateDrbdVolume("v3", {"n3"}, in_use, small);
  EXPECT_EQ(minor.status().code(), ErrorCode::kNoSpace);
  EXPECT_NE(minor.status().message().find("no free DRBD minor in 1000..1001"), std::string::npos)
      << minor.status().toString();
  auto ids = allocateDrbdVolume("v4", {"a", "b", "c"}, {}, small);
  EXPECT_EQ(ids.status().code(), ErrorCode::kNoSpace);
  EXPECT_NE(ids.status().message().find("node-id"), std::string::npos);
  std::vector<DrbdVolumeAllocation> two{*allocateDrbdVolume("v5", {"a", "b"}, {}, small)};
  auto third = allocateDrbdReplica("v5", "c", two, small);
  EXPECT_EQ(third.status().code(), ErrorCode::kNoSpace);
  EXPECT_NE(third.status().message().find("no free DRBD node-id for volume v5 in 0..1"), std::string::npos);
}

// Ranges are configurable and checked.
TEST(DrbdAllocation, RangesAreConfigurableAndValidated) {
  auto a = allocateDrbdVolume("v1", {"n1"}, {}, DrbdRanges{20000, 20010, 9000, 9100, 32});
  ASSERT_TRUE(a.isOk());
  EXPECT_EQ(a->minor, 20000u);
  EXPECT_EQ(a->replicas[0].port, 9000u);
  EXPECT_EQ(validateDrbdRanges({10, 9, 7000, 7999, 32}).code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(validateDrbdRanges({1, 9, 0, 7999, 32}).code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(validateDrbdRanges({1, 9, 7000, 70000, 32}).code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(validateDrbdRanges({1, 9, 7000, 7999, 33}).code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(allocateDrbdVolume("v", {"n1", "n1"}, {}, {}).status().code(), ErrorCode::kInvalidArgument);
  // The controller's --drbd-minors/--drbd-ports text.
  EXPECT_EQ(*parseDrbdRange("20000-20010", "--drbd-minors"), std::make_pair(20000u, 20010u));
  for (const char* bad : {"", "7000", "-7000", "7000-", "9-1", "1-x", "1-2-3", "99999999999-1", " 1-2"}) {
    auto r = parseDrbdRange(bad, "--drbd-ports");
    ASSERT_FALSE(r.isOk()) << bad;
    EXPECT_NE(r.status().message().find("--drbd-ports must be FIRST-LAST"), std::string::npos);
  }
}

}  // namespace
}  // namespace tandem::controller
