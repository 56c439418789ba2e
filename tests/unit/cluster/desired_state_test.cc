#include <gtest/gtest.h>

#include <map>

#include "cluster_fixtures.h"
#include "tandem/controller/desired_state_builder.h"
#include "tandem/controller/desired_state_watch.h"

namespace tandem::controller {
namespace {

using namespace std::chrono_literals;
using namespace fixtures;

DeclaredState declared() {
  DeclaredState d;
  d.generation = 9;
  d.cluster_id = "c-1";
  for (const char* n : {"n1", "n2", "n3"}) {
    NodeRecord node;
    node.name = n;
    node.address = std::string("host-") + n;
    node.replication_port = 7000;
    d.nodes.push_back(node);
  }
  GroupRecord g;
  g.name = "g";
  g.thin = false;
  g.quorum = true;
  d.groups = {g};
  VolumeRecord v = volume("v", "n1"), w = volume("w", "n2");
  v.epoch = 3;
  w.group = "gone";
  d.volumes = {v, w};
  d.replicas = replicasOf(v, {"n1", "n2"});
  d.replicas.push_back(ReplicaRecord{w.uuid, "n2", "p", true, "", false});
  d.replicas.push_back(ReplicaRecord{w.uuid, "n3", "p", false, "", false});  // diskless: not a peer
  return d;
}

// A node's desired state holds its replicas, their role, group settings and diskful peers.
TEST(DesiredStateBuilder, HoldsTheNodesReplicasWithRolesAndPeers) {
  auto s = buildDesiredState("n2", declared());
  ASSERT_TRUE(s.isOk()) << s.status().toString();
  EXPECT_EQ(s->generation, 9u);
  EXPECT_EQ(s->cluster_id, "c-1");
  EXPECT_EQ(s->node, "n2");
  ASSERT_EQ(s->replicas.size(), 2u);
  const DesiredReplica& v = s->replicas[0];
  EXPECT_EQ(v.volume_name, "v");
  EXPECT_EQ(v.epoch, 3u);
  EXPECT_FALSE(v.primary);
  EXPECT_FALSE(v.thin);
  EXPECT_TRUE(v.quorum);
  EXPECT_EQ(v.peers, (std::vector<DesiredPeer>{{"n1", "host-n1", 7000}}));
  const DesiredReplica& w = s->replicas[1];
  EXPECT_TRUE(w.primary);
  EXPECT_TRUE(w.thin) << "a volume whose group is gone is thin";
  EXPECT_FALSE(w.quorum);
  EXPECT_TRUE(w.peers.empty()) << "diskless replicas are not replication peers";
  auto n3 = buildDesiredState("n3", declared());
  ASSERT_TRUE(n3.isOk());
  EXPECT_EQ(n3->replicas.size(), 1u);
}

// A replica an operator chose to discard (split-brain resolution) carries that generation to its
// node, and only that replica does.
TEST(DesiredStateBuilder, CarriesTheGenerationToDiscard) {
  DeclaredState d = declared();
  d.replicas[1].discard_generation = "00000000000000ab";  // v on n2
  auto n2 = buildDesiredState("n2", d);
  ASSERT_TRUE(n2.isOk()) << n2.status().toString();
  EXPECT_EQ(n2->replicas[0].discard_generation, "00000000000000ab");
  EXPECT_EQ(n2->replicas[1].discard_generation, "");
  EXPECT_EQ(buildDesiredState("n1", d)->replicas[0].discard_generation, "");
}

// An unknown node has no desired state.
TEST(DesiredStateBuilder, UnknownNode) {
  auto s = buildDesiredState("n9", declared());
  EXPECT_EQ(s.status().code(), ErrorCode::kNotFound);
  EXPECT_EQ(s.status().reason(), "node_not_found");
}

// Watchers are due when the generation passes theirs, at their deadline, or when the store fails.
TEST(DesiredStateWatch, TakesDueWatchersOnly) {
  DesiredStateWatch watch;
  const auto t0 = kStart;
  std::vector<std::string> answered;
  auto watcher = [&](const std::string& node, uint64_t after,
                     std::chrono::steady_clock::time_point deadline) {
    return DesiredStateWatch::Watcher{node, after, deadline,
                                      [&answered, node](Result<DesiredState>) { answered.push_back(node); }};
  };
  // Every node at the same generation.
  auto all = [](Result<uint64_t> generation) {
    return [generation](const std::string&) { return generation; };
  };
  watch.add(watcher("a", 5, t0 + 10s));
  watch.add(watcher("b", 6, t0 + 10s));
  watch.add(watcher("c", 6, t0 + 20s));
  EXPECT_TRUE(watch.takeDue(all(5), t0).empty());
  auto due = watch.takeDue(all(6), t0);
  ASSERT_EQ(due.size(), 1u);
  EXPECT_EQ(due[0].node, "a");
  due = watch.takeDue(all(6), t0 + 10s);
  ASSERT_EQ(due.size(), 1u);
  EXPECT_EQ(due[0].node, "b") << "at its deadline";
  due = watch.takeDue(all(Status(ErrorCode::kIo, "disk")), t0);
  ASSERT_EQ(due.size(), 1u);
  EXPECT_EQ(watch.size(), 0u);
  for (auto& w : due) w.done(DesiredState{});
  EXPECT_EQ(answered, std::vector<std::string>{"c"}) << "the watch never calls anything itself";
  watch.add(watcher("d", 0, t0));
  EXPECT_EQ(watch.takeAll().size(), 1u);
  EXPECT_EQ(watch.size(), 0u);
}

// Each watcher is due by its own node's generation: a change to one node's state wakes that
// node's long-poll only.
TEST(DesiredStateWatch, EachNodeByItsOwnGeneration) {
  DesiredStateWatch watch;
  auto noop = [](Result<DesiredState>) {};
  watch.add({"a", 5, kStart + 10s, noop});
  watch.add({"b", 5, kStart + 10s, noop});
  std::map<std::string, uint64_t> generations{{"a", 5}, {"b", 9}};
  auto of = [&](const std::string& node) { return Result<uint64_t>(generations.at(node)); };
  auto due = watch.takeDue(of, kStart);
  ASSERT_EQ(due.size(), 1u);
  EXPECT_EQ(due[0].node, "b");
  EXPECT_TRUE(watch.takeDue(of, kStart).empty()) << "a's state did not change";
  generations["a"] = 6;
  due = watch.takeDue(of, kStart);
  ASSERT_EQ(due.size(), 1u);
  EXPECT_EQ(due[0].node, "a");
}

}  // namespace
}  // namespace tandem::controller
