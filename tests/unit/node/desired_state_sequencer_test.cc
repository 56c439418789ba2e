#include "tandem/node/desired_state_sequencer.h"

#include <gtest/gtest.h>

#include <cstdio>

namespace tandem::node {
namespace {

std::string uuidOf(int i) {
  char buf[40];
  std::snprintf(buf, sizeof buf, "00000000-0000-4000-8000-%012d", i);
  return buf;
}

nodeapi::DesiredState state(uint64_t generation, int replicas) {
  nodeapi::DesiredState s;
  s.generation = generation;
  s.cluster_id = "c";
  s.node = "n1";
  for (int i = 0; i < replicas; ++i) {
    nodeapi::DesiredReplica r;
    r.volume_uuid = uuidOf(i);
    r.volume_name = "v" + std::to_string(i);
    s.replicas.push_back(r);
  }
  return s;
}

// One new volume, as a delta after `after`.
nodeapi::DesiredState newVolume(uint64_t generation, int i) {
  nodeapi::DesiredState d = state(generation, 0);
  d.delta = true;
  d.covers = {uuidOf(i)};
  nodeapi::DesiredReplica r;
  r.volume_uuid = uuidOf(i);
  r.volume_name = "v" + std::to_string(i);
  d.replicas = {r};
  return d;
}

// The first poll asks for the full state; then deltas after the state applied; every
// `full_every`-th poll asks for the full state again.
TEST(DesiredStateSequencer, FullThenDeltasThenPeriodicFull) {
  DesiredStateSequencer seq(3);
  EXPECT_EQ(seq.next().after, 0u);
  EXPECT_FALSE(seq.next().delta);
  auto first = seq.received(state(5, 2));
  ASSERT_TRUE(first.isOk());
  seq.applied(*first);
  EXPECT_EQ(seq.next().after, 5u);
  EXPECT_TRUE(seq.next().delta);

  auto second = seq.received(newVolume(7, 2));
  ASSERT_TRUE(second.isOk()) << second.status().toString();
  EXPECT_FALSE(second->delta);
  EXPECT_EQ(second->replicas.size(), 3u) << "the delta applied to the state of 5";
  seq.applied(*second);
  EXPECT_EQ(seq.next().after, 7u);
  EXPECT_TRUE(seq.next().delta);

  auto third = seq.received(newVolume(8, 3));
  ASSERT_TRUE(third.isOk());
  EXPECT_EQ(third->replicas.size(), 4u);
  seq.applied(*third);
  EXPECT_EQ(seq.next().after, 8u);
  EXPECT_FALSE(seq.next().delta) << "every third poll asks for the whole state";
  auto fourth = seq.received(state(9, 4));
  ASSERT_TRUE(fourth.isOk());
  seq.applied(*fourth);
  EXPECT_TRUE(seq.next().delta);

  // A full answer to a delta poll (the controller could not say what changed) restarts the count.
  seq.applied(*seq.received(newVolume(10, 4)));
  seq.applied(*seq.received(state(11, 5)));
  EXPECT_TRUE(seq.next().delta);
  seq.applied(*seq.received(newVolume(12, 5)));
  EXPECT_TRUE(seq.next().delta) << "one delta since the last full state";
  seq.applied(*seq.received(newVolume(13, 6)));
  EXPECT_FALSE(seq.next().delta) << "two: the third poll asks for the whole state";
}

// A delta that does not apply, or a state the node failed to apply, makes the next poll ask
// for the full state at once.
TEST(DesiredStateSequencer, MisfitsAndFailuresAskForTheFullState) {
  DesiredStateSequencer seq(100);
  EXPECT_EQ(seq.received(newVolume(3, 0)).status().code(), ErrorCode::kProtocol) << "a delta with no base";
  seq.applied(*seq.received(state(5, 1)));
  nodeapi::DesiredState other = newVolume(6, 1);
  other.node = "n2";
  EXPECT_EQ(seq.received(other).status().code(), ErrorCode::kProtocol);
  EXPECT_EQ(seq.next().after, 0u);
  EXPECT_FALSE(seq.next().delta);

  seq.applied(*seq.received(state(7, 1)));
  EXPECT_TRUE(seq.next().delta);
  seq.failed();
  EXPECT_EQ(seq.next().after, 0u);
  EXPECT_FALSE(seq.next().delta);
}

}  // namespace
}  // namespace tandem::node
