#include "tandem/node/report_sequencer.h"

#include <gtest/gtest.h>

#include <cstdio>

#include "tandem/nodeapi/report_delta.h"

namespace tandem::node {
namespace {

nodeapi::StatusReport reportOf(int replicas, int changed = -1) {
  nodeapi::StatusReport s;
  for (int i = 0; i < replicas; ++i) {
    char uuid[40];
    std::snprintf(uuid, sizeof uuid, "00000000-0000-4000-8000-%012d", i);
    nodeapi::ReplicaReport r;
    r.volume_uuid = uuid;
    r.disk = i == changed ? nodeapi::DiskState::kOutdated : nodeapi::DiskState::kUpToDate;
    s.replicas.push_back(r);
  }
  return s;
}

TEST(ReportSequencer, FullThenDeltasThenPeriodicFull) {
  ReportSequencer seq(3);
  auto r1 = seq.next(reportOf(100));
  EXPECT_EQ(r1.report_seq, 1u);
  EXPECT_EQ(r1.base_seq, 0u);
  EXPECT_EQ(r1.replicas.size(), 100u);
  seq.acknowledged({1, false});
  auto r2 = seq.next(reportOf(100, 5));
  EXPECT_EQ(r2.base_seq, 1u);
  ASSERT_EQ(r2.replicas.size(), 1u);
  seq.acknowledged({2, false});
  auto r3 = seq.next(reportOf(100, 5));
  EXPECT_EQ(r3.base_seq, 2u) << "against the last acknowledged report";
  EXPECT_TRUE(r3.replicas.empty());
  seq.acknowledged({3, false});
  auto r4 = seq.next(reportOf(100, 5));
  EXPECT_EQ(r4.base_seq, 0u) << "every third report is full";
  EXPECT_EQ(r4.replicas.size(), 100u);
}

TEST(ReportSequencer, SendFullFailureAndMissingAckGiveAFullReport) {
  ReportSequencer seq(100);
  seq.next(reportOf(10));
  seq.acknowledged({1, false});
  auto delta = seq.next(reportOf(10, 1));
  EXPECT_EQ(delta.base_seq, 1u);
  seq.acknowledged({0, true});  // the controller restarted
  EXPECT_EQ(seq.next(reportOf(10, 1)).base_seq, 0u);
  seq.acknowledged({3, false});
  EXPECT_EQ(seq.next(reportOf(10, 2)).base_seq, 3u);
  seq.failed();  // refused or no answer
  EXPECT_EQ(seq.next(reportOf(10, 2)).base_seq, 0u);
  seq.acknowledged({0, false});  // an older controller: no acknowledgement
  EXPECT_EQ(seq.next(reportOf(10, 2)).base_seq, 0u);
}

// A delta is always against the acknowledged base: applying it there gives the current report.
TEST(ReportSequencer, DeltaAppliesToTheAcknowledgedBase) {
  ReportSequencer seq(100);
  auto base = seq.next(reportOf(20));
  seq.acknowledged({base.report_seq, false});
  seq.next(reportOf(25));  // sent, never acknowledged (lost)
  auto current = reportOf(30, 3);
  auto delta = seq.next(current);
  ASSERT_EQ(delta.base_seq, base.report_seq);
  auto whole = nodeapi::applyReportDelta(base, delta);
  EXPECT_EQ(whole.replicas, current.replicas);
}

}  // namespace
}  // namespace tandem::node
