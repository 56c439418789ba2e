// NodeChangeLog: which parts of each node's desired state changed at which generation, so a
// node that has the state of generation G can be sent only what changed since (a delta), and a
// long-poll wakes only the nodes a change concerns.
//
// A change names, per node, either the volumes whose part of that node's state it changed
// (record(): a replica, attachment, snapshot or release of the volume, or a peer's address
// within it), or the node's whole state (its own record). A change that names no node counts as
// a whole-state change of every node. Kept in memory only: after a restart the log starts at
// the store's generation (the floor), and every node older than that gets its full state.
//
// Bounded: a node's volume entries at or below the generation it last asked from are dropped
// when it asks (it has them), and a node with more than `max_entries_per_node` pending entries
// (a node that stopped asking) is reset to "whole state changed".
// A plain value: no lock (the store holds its mutex around every use).
#pragma once

#include <cstddef>
#include <cstdint>
#include <set>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

namespace tandem::controller {

// What changed in one node's desired state after some generation.
struct NodeChanges {
  bool full = false;                 // its whole state (or the log cannot say): send it all
  std::vector<std::string> volumes;  // else: the volumes whose part changed (sorted, unique)
};

// What one transaction changed, as its touch helpers found it.
struct TouchedNodes {
  std::set<std::string> whole;                                // nodes whose whole state changed
  std::set<std::pair<std::string, std::string>> volumes;      // (node, volume uuid)
  bool empty() const { return whole.empty() && volumes.empty(); }
  void clear() {
    whole.clear();
    volumes.clear();
  }
};

class NodeChangeLog {
 public:
  explicit NodeChangeLog(size_t max_entries_per_node = 65536) : max_entries_(max_entries_per_node) {}

  // Every node's state counts as changed at `generation`, and what came before is forgotten
  // (opening the store; a change nobody scoped).
  void resetAll(uint64_t generation);
  // The transaction that made `generation` changed `touched` (an empty one: every node).
  void record(uint64_t generation, const TouchedNodes& touched);

  // The generation of the last change to `node`'s desired state (at least the floor).
  uint64_t generation(const std::string& node) const;
  // What changed in `node`'s state after `after`, for a node that has the state of `after`:
  // `full` when its whole state changed after `after`, or `after` is older than what the log
  // still knows for it. Drops the node's entries at or below `after` (the node has them).
  NodeChanges changesSince(const std::string& node, uint64_t after);

  size_t entries(const std::string& node) const;  // pending volume entries (for tests)

 private:
  struct PerNode {
    uint64_t generation = 0;  // of the last change to its state
    uint64_t known_from = 0;  // the log has every change of its state after this
    uint64_t whole = 0;       // of the last whole-state change
    std::unordered_map<std::string, uint64_t> volumes;  // volume uuid -> generation of its last change
  };
  PerNode& at(const std::string& node);

  size_t max_entries_;
  uint64_t floor_ = 0;
  std::unordered_map<std::string, PerNode> nodes_;
};

}  // namespace tandem::controller
