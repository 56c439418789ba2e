#include "tandem/nodeapi/desired_delta.h"

#include <gtest/gtest.h>

#include <cstdio>

#include "tandem/nodeapi/codec.h"

namespace tandem::nodeapi {
namespace {

std::string uuidOf(int i) {
  char buf[40];
  std::snprintf(buf, sizeof buf, "00000000-0000-4000-8000-%012d", i);
  return buf;
}

DesiredReplica replica(int i, uint64_t size = 1 << 20) {
  DesiredReplica r;
  r.volume_name = "v" + std::to_string(i);
  r.volume_uuid = uuidOf(i);
  r.size_bytes = size;
  r.pool = "p";
  r.peers = {DesiredPeer{"n2", "10.0.0.2", 7000}};
  return r;
}

DesiredAttachment attachment(int i) {
  DesiredAttachment a;
  a.volume_name = "v" + std::to_string(i);
  a.volume_uuid = uuidOf(i);
  a.size_bytes = 1 << 20;
  a.nbd_host = "10.0.0.2";
  a.nbd_port = 10809;
  a.nbd_export = a.volume_name;
  return a;
}

DesiredState base() {
  DesiredState s;
  s.generation = 10;
  s.cluster_id = "c";
  s.node = "n1";
  for (int i = 0; i < 4; ++i) s.replicas.push_back(replica(i));
  s.attachments = {attachment(1), attachment(7)};
  s.force_detach = {"old"};
  return s;
}

// A delta replaces the covered volumes' entries (in place), drops covered volumes it has no
// entry for, appends new ones, keeps every other entry, and takes its own release/force lists.
TEST(DesiredDelta, ReplacesCoveredEntriesAndKeepsTheRest) {
  DesiredState delta;
  delta.generation = 12;
  delta.cluster_id = "c";
  delta.node = "n1";
  delta.delta = true;
  delta.covers = {uuidOf(1), uuidOf(2), uuidOf(5), uuidOf(7)};
  delta.replicas = {replica(1, 2 << 20), replica(5)};  // 1 grown, 2 gone, 5 new
  delta.attachments = {attachment(1)};                // 7's attachment gone
  delta.release = {DesiredRelease{"v9", uuidOf(9), "p", "v9"}};

  auto merged = applyDesiredDelta(base(), delta);
  ASSERT_TRUE(merged.isOk()) << merged.status().toString();
  EXPECT_FALSE(merged->delta);
  EXPECT_TRUE(merged->covers.empty());
  EXPECT_EQ(merged->generation, 12u);
  ASSERT_EQ(merged->replicas.size(), 4u);
  EXPECT_EQ(merged->replicas[0], replica(0));
  EXPECT_EQ(merged->replicas[1], replica(1, 2 << 20)) << "replaced in place";
  EXPECT_EQ(merged->replicas[2], replica(3));
  EXPECT_EQ(merged->replicas[3], replica(5)) << "new ones last";
  EXPECT_EQ(merged->attachments, std::vector<DesiredAttachment>{attachment(1)});
  EXPECT_TRUE(merged->force_detach.empty()) << "the delta's lists are whole";
  EXPECT_EQ(merged->release.size(), 1u);
}

// A state that is not a delta replaces the base; a delta that does not fit is refused.
TEST(DesiredDelta, FullStatesReplaceAndMisfitsAreRefused) {
  DesiredState full = base();
  full.generation = 20;
  full.replicas.pop_back();
  EXPECT_EQ(*applyDesiredDelta(base(), full), full);

  DesiredState delta;
  delta.generation = 12;
  delta.cluster_id = "c";
  delta.node = "n1";
  delta.delta = true;
  delta.covers = {uuidOf(1)};
  delta.replicas = {replica(2)};
  EXPECT_EQ(applyDesiredDelta(base(), delta).status().code(), ErrorCode::kProtocol) << "an entry it does not cover";
  delta.replicas.clear();
  delta.node = "n2";
  EXPECT_EQ(applyDesiredDelta(base(), delta).status().code(), ErrorCode::kProtocol) << "another node's";
  delta.node = "n1";
  delta.generation = 9;
  EXPECT_EQ(applyDesiredDelta(base(), delta).status().code(), ErrorCode::kProtocol) << "older than the base";
}

// The delta's fields go over the wire and back; `covers` without `delta` is refused.
TEST(DesiredDelta, CodecCarriesTheDelta) {
  DesiredState delta;
  delta.generation = 12;
  delta.cluster_id = "c";
  delta.node = "n1";
  delta.delta = true;
  delta.covers = {uuidOf(1), uuidOf(2)};
  delta.replicas = {replica(1)};
  auto decoded = decodeDesiredState(encodeDesiredState(delta));
  ASSERT_TRUE(decoded.isOk()) << decoded.status().toString();
  EXPECT_EQ(*decoded, delta);
  auto plain = decodeDesiredState(encodeDesiredState(base()));
  ASSERT_TRUE(plain.isOk());
  EXPECT_FALSE(plain->delta);
  EXPECT_EQ(encodeDesiredState(base()).find("covers"), std::string::npos) << "older readers see nothing new";

  EXPECT_FALSE(decodeDesiredState(R"({"generation":1,"cluster_id":"c","node":"n","covers":[")" + uuidOf(1) + R"("]})")
                   .isOk());
  EXPECT_FALSE(decodeDesiredState(R"({"generation":1,"cluster_id":"c","node":"n","delta":true,"covers":["x"]})").isOk());
}

}  // namespace
}  // namespace tandem::nodeapi
