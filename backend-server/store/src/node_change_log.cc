#include "tandem/controller/node_change_log.h"

#include <algorithm>

namespace tandem::controller {

void NodeChangeLog::resetAll(uint64_t generation) {
  floor_ = generation;
  nodes_.clear();
}

NodeChangeLog::PerNode& NodeChangeLog::at(const std::string& node) {
  auto [it, inserted] = nodes_.try_emplace(node);
  if (inserted) {
    it->second.generation = floor_;
    it->second.known_from = floor_;
    it->second.whole = floor_;
  }
  return it->second;
}

void NodeChangeLog::record(uint64_t generation, const TouchedNodes& touched) {
  if (touched.empty()) return resetAll(generation);
  for (const auto& node : touched.whole) {
    PerNode& n = at(node);
    n.generation = n.whole = generation;
    n.volumes.clear();  // the whole state goes out anyway
  }
  for (const auto& [node, volume] : touched.volumes) {
    PerNode& n = at(node);
    n.generation = generation;
    if (n.whole == generation) continue;  // the same transaction changed its whole state
    n.volumes[volume] = generation;
    if (n.volumes.size() > max_entries_) {
      // A node that stopped asking: forget the entries, it gets its whole state.
      n.whole = generation;
      n.volumes.clear();
    }
  }
}

uint64_t NodeChangeLog::generation(const std::string& node) const {
  auto it = nodes_.find(node);
  return it == nodes_.end() ? floor_ : std::max(floor_, it->second.generation);
}

NodeChanges NodeChangeLog::changesSince(const std::string& node, uint64_t after) {
  NodeChanges out;
  PerNode& n = at(node);
  if (after < n.known_from || after < n.whole) {
    out.full = true;
    return out;
  }
  for (auto it = n.volumes.begin(); it != n.volumes.end();) {
    if (it->second <= after) {
      it = n.volumes.erase(it);
    } else {
      out.volumes.push_back(it->first);
      ++it;
    }
  }
  n.known_from = std::max(n.known_from, after);
  std::sort(out.volumes.begin(), out.volumes.end());
  return out;
}

size_t NodeChangeLog::entries(const std::string& node) const {
  auto it = nodes_.find(node);
  return it == nodes_.end() ? 0 : it->second.volumes.size();
}

}  // namespace tandem::controller
