#include "tandem/nodeapi/report_delta.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <random>

#include "tandem/nodeapi/codec.h"

namespace tandem::nodeapi {
namespace {

std::string uuidOf(int i) {
  char buf[40];
  std::snprintf(buf, sizeof buf, "00000000-0000-4000-8000-%012d", i);
  return buf;
}

ReplicaReport replica(int i, DiskState disk = DiskState::kUpToDate) {
  ReplicaReport r;
  r.volume_uuid = uuidOf(i);
  r.disk = disk;
  r.generation = "g" + std::to_string(i);
  r.primary = i % 3 == 0;
  if (r.primary) r.peers = {PeerReport{"n2", PeerState::kUpToDate, 0, 0}};
  return r;
}

StatusReport fullReport(int replicas) {
  StatusReport s;
  s.applied_generation = 9;
  s.pools = {PoolReport{"p", "file", true, false, 1 << 30, 1 << 29, 0}};
  for (int i = 0; i < replicas; ++i) s.replicas.push_back(replica(i));
  return s;
}

std::vector<ReplicaReport> sorted(std::vector<ReplicaReport> v) {
  std::sort(v.begin(), v.end(), [](const auto& a, const auto& b) { return a.volume_uuid < b.volume_uuid; });
  return v;
}

TEST(ReportDelta, HoldsOnlyWhatChanged) {
  StatusReport base = fullReport(1000);
  StatusReport current = base;
  current.applied_generation = 10;
  current.replicas[5].disk = DiskState::kOutdated;        // changed
  current.replicas.erase(current.replicas.begin() + 7);  // removed: uuid 7
  current.replicas.push_back(replica(5000));             // new
  StatusReport delta = reportDelta(base, current);
  ASSERT_EQ(delta.replicas.size(), 2u);
  EXPECT_EQ(delta.replicas[0].volume_uuid, uuidOf(5));
  EXPECT_EQ(delta.replicas[1].volume_uuid, uuidOf(5000));
  EXPECT_EQ(delta.removed_replicas, std::vector<std::string>{uuidOf(7)});
  EXPECT_EQ(delta.applied_generation, 10u);
  EXPECT_EQ(delta.pools, current.pools);
  // On the wire a delta of 1000 replicas with two changes is a small fraction of the full report.
  delta.report_seq = 2;
  delta.base_seq = 1;
  EXPECT_LT(encodeStatusReport(delta).size() * 50, encodeStatusReport(current).size());
}

TEST(ReportDelta, NothingChangedIsAnEmptyDelta) {
  StatusReport base = fullReport(50);
  StatusReport delta = reportDelta(base, base);
  EXPECT_TRUE(delta.replicas.empty());
  EXPECT_TRUE(delta.removed_replicas.empty());
}

// Random sequences of changes: applying each delta to the previous full report gives the current one.
TEST(ReportDelta, ApplyingTheDeltaGivesTheCurrentReport) {
  std::mt19937 rng(7);
  StatusReport base = fullReport(200);
  int next = 200;
  for (int round = 0; round < 50; ++round) {
    StatusReport current = base;
    for (int k = 0; k < 10; ++k) {
      const int op = static_cast<int>(rng() % 3);
      if (op == 0 && !current.replicas.empty()) {
        current.replicas.erase(current.replicas.begin() + rng() % current.replicas.size());
      } else if (op == 1) {
        current.replicas.push_back(replica(next++, DiskState::kInconsistent));
      } else if (!current.replicas.empty()) {
        auto& r = current.replicas[rng() % current.replicas.size()];
        r.snapshots.push_back("s" + std::to_string(round));
      }
    }
    current.applied_generation = base.applied_generation + 1;
    StatusReport delta = reportDelta(base, current);
    delta.report_seq = round + 2;
    delta.base_seq = round + 1;
    auto wire = decodeStatusReport(encodeStatusReport(delta));
    ASSERT_TRUE(wire.isOk()) << wire.status().toString();
    StatusReport applied = applyReportDelta(base, *wire);
    EXPECT_EQ(sorted(applied.replicas), sorted(current.replicas)) << "round " << round;
    EXPECT_EQ(applied.applied_generation, current.applied_generation);
    EXPECT_EQ(applied.base_seq, 0u);
    EXPECT_TRUE(applied.removed_replicas.empty());
    base = applied;
  }
}

TEST(ReportDelta, CodecCarriesDeltaLivenessAndAck) {
  StatusReport delta = fullReport(2);
  delta.report_seq = 12;
  delta.base_seq = 11;
  delta.removed_replicas = {uuidOf(99)};
  auto d = decodeStatusReport(encodeStatusReport(delta));
  ASSERT_TRUE(d.isOk()) << d.status().toString();
  EXPECT_EQ(*d, delta);

  StatusReport live;
  live.report_seq = 13;
  live.liveness_only = true;
  live.report_error = "HTTP 413: too large";
  auto l = decodeStatusReport(encodeStatusReport(live));
  ASSERT_TRUE(l.isOk()) << l.status().toString();
  EXPECT_EQ(*l, live);

  StatusAck ack{12, true};
  auto a = decodeStatusAck(encodeStatusAck(ack));
  ASSERT_TRUE(a.isOk());
  EXPECT_EQ(*a, ack);

  EXPECT_EQ(decodeStatusReport(R"({"base_seq":3})").status().reason(), "invalid_field");
  EXPECT_EQ(decodeStatusReport(R"({"report_seq":3,"removed_replicas":["u"]})").status().reason(), "invalid_field");
}

}  // namespace
}  // namespace tandem::nodeapi
