// NodeChangeLog: which volumes of a node's desired state changed after a generation.
#include "tandem/controller/node_change_log.h"

#include <gtest/gtest.h>

namespace tandem::controller {
namespace {

TouchedNodes volumes(std::initializer_list<std::pair<std::string, std::string>> pairs) {
  TouchedNodes t;
  for (const auto& p : pairs) t.volumes.insert(p);
  return t;
}

// A node that has the state of G gets exactly the volumes changed after G, sorted, each once.
TEST(NodeChangeLog, ANodeGetsTheVolumesChangedAfterItsGeneration) {
  NodeChangeLog log;
  log.resetAll(10);
  log.record(11, volumes({{"n1", "b"}, {"n2", "b"}}));
  log.record(12, volumes({{"n1", "a"}}));
  log.record(13, volumes({{"n1", "b"}}));
  EXPECT_EQ(log.generation("n1"), 13u);
  EXPECT_EQ(log.generation("n2"), 11u);
  EXPECT_EQ(log.generation("n3"), 10u) << "a node no change named: the floor";

  NodeChanges since10 = log.changesSince("n1", 10);
  EXPECT_FALSE(since10.full);
  EXPECT_EQ(since10.volumes, (std::vector<std::string>{"a", "b"}));
  NodeChanges since12 = log.changesSince("n1", 12);
  EXPECT_EQ(since12.volumes, std::vector<std::string>{"b"}) << "a changed at 12: the node has it";
  EXPECT_TRUE(log.changesSince("n1", 13).volumes.empty());
  EXPECT_TRUE(log.changesSince("n3", 10).volumes.empty());
  EXPECT_FALSE(log.changesSince("n3", 10).full);
}

// Asking after G forgets what the node has (at or below G): a later question from before G
// cannot be answered from the log, so it is `full`. So is one from before the floor.
TEST(NodeChangeLog, WhatANodeHasIsForgottenAndOlderQuestionsAreFull) {
  NodeChangeLog log;
  log.resetAll(10);
  log.record(11, volumes({{"n1", "a"}}));
  log.record(12, volumes({{"n1", "b"}}));
  EXPECT_EQ(log.changesSince("n1", 11).volumes, std::vector<std::string>{"b"});
  EXPECT_EQ(log.entries("n1"), 1u) << "a (11) dropped: the node has it";
  EXPECT_TRUE(log.changesSince("n1", 10).full) << "older than what the log still knows for n1";
  EXPECT_TRUE(log.changesSince("n2", 9).full) << "older than the floor";
  EXPECT_FALSE(log.changesSince("n1", 11).full) << "the same question again (a lost answer)";
}

// A whole-state change of a node (its own record), or a change that names no node (every
// node's), makes the next answer full; volume entries recorded after it are deltas again.
TEST(NodeChangeLog, WholeStateChangesAreFull) {
  NodeChangeLog log;
  log.resetAll(10);
  TouchedNodes whole;
  whole.whole.insert("n1");
  whole.volumes.insert({"n1", "a"});
  whole.volumes.insert({"n2", "a"});
  log.record(11, whole);
  EXPECT_TRUE(log.changesSince("n1", 10).full);
  EXPECT_EQ(log.changesSince("n2", 10).volumes, std::vector<std::string>{"a"});
  log.record(12, volumes({{"n1", "c"}}));
  EXPECT_EQ(log.changesSince("n1", 11).volumes, std::vector<std::string>{"c"});

  log.record(13, TouchedNodes{});
  EXPECT_EQ(log.generation("n1"), 13u);
  EXPECT_EQ(log.generation("n9"), 13u);
  EXPECT_TRUE(log.changesSince("n1", 12).full);
  EXPECT_FALSE(log.changesSince("n1", 13).full);
}

// A node that stops asking does not grow the log without bound: past the limit its entries are
// replaced by "whole state changed".
TEST(NodeChangeLog, ANodeThatStopsAskingIsBounded) {
  NodeChangeLog log(/*max_entries_per_node=*/3);
  log.resetAll(1);
  for (uint64_t g = 2; g <= 5; ++g) log.record(g, volumes({{"n1", "v" + std::to_string(g)}}));
  EXPECT_LE(log.entries("n1"), 3u);
  EXPECT_TRUE(log.changesSince("n1", 1).full);
  EXPECT_EQ(log.generation("n1"), 5u);
}

}  // namespace
}  // namespace tandem::controller
