#include "tandem/controller/adoption.h"

#include <gtest/gtest.h>

#include "cluster_fixtures.h"

namespace tandem::controller {
namespace {

using namespace fixtures;

constexpr const char* kUuid = "0b0e2b5e-4c0a-4f43-9a86-3f1b7a0f5e11";

// Node n1 (online) reports pool "p" with the unmanaged volumes "legacy" (1 MiB) and "odd" (1000
// bytes); n2 is registered but silent.
class AdoptionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (const char* n : {"n1", "n2"}) {
      NodeRecord node;
      node.name = n;
      in_.nodes.push_back(node);
      in_.pools.push_back(PoolRecord{n, "p", "file", true, true});
    }
    in_.group.name = "g";
    in_.group.replicas = 3;
    NodeStatusReport r;
    PoolReport pool{"p", "file", true, true, 100 << 20, 50 << 20, 0};
    pool.unmanaged = {{"legacy", 1 << 20, "/pool/legacy.img"}, {"odd", 1000, "/pool/odd.img"}};
    r.pools = {pool};
    observed_.reported("n1", std::move(r), kStart, 0);
    request_ = AdoptRequest{"vol", "n1", "p", "legacy", "g", false};
  }
  Status refusal(const AdoptRequest& request) { return planAdoption(request, in_, observed_, kUuid, 7).status(); }

  AdoptionInput in_;
  AdoptRequest request_;
  ObservedState observed_{kStart};
};

// A reported backing volume becomes a 1-replica volume of its size, adopting, primary on its node.
TEST_F(AdoptionTest, ReportedBackingBecomesAOneReplicaVolume) {
  auto planned = planAdoption(request_, in_, observed_, kUuid, 7);
  ASSERT_TRUE(planned.isOk()) << planned.status().toString();
  const auto& [v, r] = *planned;
  EXPECT_EQ(v.uuid, kUuid);
  EXPECT_EQ(v.size_bytes, 1u << 20);
  EXPECT_EQ(v.primary_node, "n1");
  EXPECT_EQ(v.group, "g");
  EXPECT_EQ(v.adopted_from, "legacy");
  EXPECT_TRUE(v.adopting);
  EXPECT_EQ(r.node_name, "n1");
  EXPECT_EQ(r.pool_name, "p");
  EXPECT_TRUE(sameAdoption(v, {r}, request_));
  AdoptRequest other = request_;
  other.backing_name = "odd";
  EXPECT_FALSE(sameAdoption(v, {r}, other));
}

// Each refusal has its status and reason.
TEST_F(AdoptionTest, RefusalsNameTheProblem) {
  auto expect = [&](AdoptRequest req, ErrorCode code, const std::string& reason) {
    Status s = refusal(req);
    EXPECT_EQ(s.code(), code) << reason << ": " << s.toString();
    EXPECT_EQ(s.reason(), reason) << s.toString();
  };
  AdoptRequest r = request_;
  r.backing_name = "../etc";
  expect(r, ErrorCode::kInvalidArgument, "invalid_field");
  r.backing_name = kUuid;
  expect(r, ErrorCode::kConflict, "backing_managed");
  r = request_;
  r.node = "n9";
  expect(r, ErrorCode::kNotFound, "node_not_found");
  r = request_;
  r.pool = "nope";
  expect(r, ErrorCode::kNotFound, "pool_not_found");
  r = request_;
  r.node = "n2";
  expect(r, ErrorCode::kConflict, "node_offline");
  r = request_;
  r.backing_name = "missing";
  expect(r, ErrorCode::kNotFound, "backing_not_found");
  r.backing_name = "odd";
  expect(r, ErrorCode::kUnprocessable, "invalid_backing_size");
  in_.group.pools = {"other"};
  expect(request_, ErrorCode::kUnprocessable, "pool_not_allowed");
  in_.group.pools = {};
  VolumeRecord being = volume("first", "n1");
  being.adopted_from = "legacy";
  being.adopting = true;
  in_.volumes = {being};
  in_.replicas = replicasOf(being, {"n1"});
  expect(request_, ErrorCode::kConflict, "backing_managed");
  in_.volumes.clear();
  in_.releases = {ReleaseRecord{"u", "gone", "n1", "p", "legacy", 3}};
  expect(request_, ErrorCode::kConflict, "backing_managed");
}

// A forgotten volume's backing keeps the adopted name, else takes the volume's; its path is the
// reported one with the uuid replaced.
TEST_F(AdoptionTest, ReleaseNameAndPath) {
  VolumeRecord v = volume("vol", "n1");
  v.uuid = kUuid;
  EXPECT_EQ(releaseName(v), "vol");
  v.adopted_from = "legacy";
  EXPECT_EQ(releaseName(v), "legacy");
  VolumeRecord uuidish = volume(kUuid, "n1");
  EXPECT_EQ(releaseName(uuidish), std::string("forgotten-") + kUuid);

  EXPECT_EQ(releasedPath(v, "legacy", observed_), "") << "no report of the replica yet";
  NodeStatusReport r;
  ReplicaReport rep = replicaReport(v, nodeapi::DiskState::kUpToDate);
  rep.primary = true;
  rep.backing_path = std::string("/pool/") + kUuid + ".img";
  r.replicas = {rep};
  observed_.reported("n1", std::move(r), kStart, 0);
  EXPECT_EQ(releasedPath(v, "legacy", observed_), "/pool/legacy.img");
}

}  // namespace
}  // namespace tandem::controller
