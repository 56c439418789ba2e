#include "tandem/controller/placement.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <set>

namespace tandem::controller {
namespace {

bool allowedPool(const PlacementRequest& request, const std::string& pool) {
  return request.allowed_pools.empty() ||
         std::find(request.allowed_pools.begin(), request.allowed_pools.end(), pool) != request.allowed_pools.end();
}

// Why a large-enough pool on an online node cannot take the replica (kNone: it can).
enum class Refusal { kNone, kNoSpace, kOverprovisioned };

Refusal room(const PlacementRequest& request, const PoolCandidate& c) {
  if (!request.thin) return c.free_bytes >= request.size_bytes ? Refusal::kNone : Refusal::kNoSpace;
  const long double ratio = std::max(1.0, request.overprovision);
  if (static_cast<long double>(request.size_bytes) > static_cast<long double>(c.free_bytes) * ratio) {
    return Refusal::kNoSpace;
  }
  const long double promised = static_cast<long double>(c.provisioned_bytes) + request.size_bytes;
  if (promised > static_cast<long double>(c.total_bytes) * ratio) return Refusal::kOverprovisioned;
  return Refusal::kNone;
}

bool hasSpreadLabels(const PlacementRequest& request, const PoolCandidate& c) {
  for (const auto& key : request.spread_keys) {
    if (c.node_labels.find(key) == c.node_labels.end()) return false;
  }
  return true;
}

// Depth-first search over the ranked candidates for the first (best-ranked) set of `want` nodes
// whose labels differ on every spread key. Bounded: a pathological input fails rather than hangs.
class SpreadSearch {
 public:
  SpreadSearch(const std::vector<const PoolCandidate*>& ranked, const std::vector<std::string>& keys,
               const std::vector<std::map<std::string, std::string>>& kept)
      : ranked_(ranked), keys_(keys), kept_(kept) {}

  bool run(uint32_t want) {
    want_ = want;
    return step(0);
  }
  const std::vector<const PoolCandidate*>& chosen() const { return chosen_; }

 private:
  bool compatible(const PoolCandidate& c) const {
    for (const auto& labels : kept_) {
      for (const auto& key : keys_) {
        auto it = labels.find(key);
        if (it != labels.end() && it->second == c.node_labels.at(key)) return false;
      }
    }
    for (const auto* other : chosen_) {
      for (const auto& key : keys_) {
        if (other->node_labels.at(key) == c.node_labels.at(key)) return false;
      }
    }
    return true;
  }
  bool step(size_t from) {
    if (chosen_.size() == want_) return true;
    for (size_t i = from; i < ranked_.size(); ++i) {
      if (++steps_ > kMaxSteps) return false;
      if (!compatible(*ranked_[i])) continue;
      chosen_.push_back(ranked_[i]);
      if (step(i + 1)) return true;
      chosen_.pop_back();
    }
    return false;
  }

  static constexpr uint64_t kMaxSteps = 200000;
  const std::vector<const PoolCandidate*>& ranked_;
  const std::vector<std::string>& keys_;
  const std::vector<std::map<std::string, std::string>>& kept_;
  std::vector<const PoolCandidate*> chosen_;
  uint32_t want_ = 0;
  uint64_t steps_ = 0;
};

// FNV-1a 64 of (key, node): the same on every platform and run, unlike std::hash.
uint64_t stableHash(const std::string& key, const std::string& node) {
  uint64_t h = 14695981039346656037ull;
  auto mix = [&](const std::string& s) {
    for (unsigned char ch : s) {
      h ^= ch;
      h *= 1099511628211ull;
    }
    h ^= 0xff;  // separator: ("ab", "c") and ("a", "bc") differ
    h *= 1099511628211ull;
  };
  mix(key);
  mix(node);
  return h;
}

// The score terms that depend on the pool alone (replica_count needs every eligible node).
PlacementScore capacityTerms(const PlacementRequest& request, const PoolCandidate& c) {
  PlacementScore s;
  const long double total = static_cast<long double>(c.total_bytes);
  const long double size = static_cast<long double>(request.size_bytes);
  long double free = static_cast<long double>(c.free_bytes);
  if (!request.thin) free = free > size ? free - size : 0;
  s.free_space = static_cast<double>(free / total);
  const long double ratio = request.thin ? std::max(1.0, request.overprovision) : 1.0;
  const long double promised = (static_cast<long double>(c.provisioned_bytes) + size) / (total * ratio);
  s.provisioned = static_cast<double>(std::clamp(1.0L - promised, 0.0L, 1.0L));
  s.node_replicas = c.node_replicas;
  return s;
}

// Scores are compared in steps of 1/1000: capacity differences below that (a few bytes written
// between two reports, one small volume on a large pool) are noise, and the replica count
// decides between such nodes.
constexpr double kScoreSteps = 1000.0;
int64_t scoreStep(double score) { return std::llround(score * kScoreSteps); }

double weighted(const PlacementRequest& request, const PlacementScore& s) {
  const PlacementWeights& w = request.weights;
  return w.free_space * s.free_space + w.provisioned * s.provisioned + w.replica_count * s.replica_count;
}

std::string quoteList(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& i : items) out += (out.empty() ? "'" : ", '") + i + "'";
  return out;
}

}  // namespace

Result<std::vector<Placement>> placeReplicas(const PlacementRequest& request,
                                             const std::vector<PoolCandidate>& candidates) {
  bool any_large_enough = false;
  bool any_sized = false;  // some allowed pool on an online node has a known size
  std::set<std::string> online, overprovisioned, unlabelled;
  std::map<std::string, std::string> no_drbd;  // online nodes left out for lacking DRBD 9, and why
  std::map<std::string, const PoolCandidate*> best_per_node;
  for (const auto& c : candidates) {
    if (c.node_online) online.insert(c.node);
    if (!allowedPool(request, c.pool)) continue;
    if (std::find(request.exclude_nodes.begin(), request.exclude_nodes.end(), c.node) != request.exclude_nodes.end()) {
      continue;
    }
    if (c.total_bytes >= request.size_bytes) any_large_enough = true;
    if (c.node_online && c.total_bytes > 0) any_sized = true;
    if (!c.node_online) continue;
    if (request.needs_drbd && !c.drbd_missing.empty()) {
      no_drbd[c.node] = c.drbd_missing;
      continue;
    }
    if (c.total_bytes < request.size_bytes) continue;
    Refusal refusal = room(request, c);
    if (refusal == Refusal::kOverprovisioned) overprovisioned.insert(c.node);
    if (refusal != Refusal::kNone) continue;
    if (!hasSpreadLabels(request, c)) {
      unlabelled.insert(c.node);
      continue;
    }
    auto& best = best_per_node[c.node];
    if (best == nullptr) {
      best = &c;
      continue;
    }
    const double mine = weighted(request, capacityTerms(request, c));
    const double theirs = weighted(request, capacityTerms(request, *best));
    if (mine > theirs || (mine == theirs && c.pool < best->pool)) best = &c;
  }
  // "Too large" only when it is known: with no online pool sized, it is a lack of nodes.
  if (!any_large_enough && any_sized) {
    return Status(ErrorCode::kUnprocessable,
                  "volume of " + std::to_string(request.size_bytes) + " bytes is larger than every allowed pool")
        .withReason("volume_too_large");
  }
  uint32_t busiest = 0;
  for (const auto& [node, pool] : best_per_node) busiest = std::max(busiest, pool->node_replicas);
  struct Ranked {
    const PoolCandidate* pool;
    PlacementScore score;
    int64_t step;
    uint64_t hash;
  };
  std::vector<Ranked> scored;
  for (const auto& [node, pool] : best_per_node) {
    PlacementScore s = capacityTerms(request, *pool);
    s.replica_count = busiest == 0 ? 1.0 : 1.0 - static_cast<double>(pool->node_replicas) / busiest;
    s.score = weighted(request, s);
    scored.push_back(Ranked{pool, s, scoreStep(s.score), stableHash(request.volume, node)});
  }
  std::sort(scored.begin(), scored.end(), [](const Ranked& a, const Ranked& b) {
    if (a.step != b.step) return a.step > b.step;
    if (a.score.node_replicas != b.score.node_replicas) return a.score.node_replicas < b.score.node_replicas;
    if (a.hash != b.hash) return a.hash < b.hash;
    return a.pool->node < b.pool->node;  // a hash collision: still deterministic
  });
  std::vector<const PoolCandidate*> ranked;
  std::map<const PoolCandidate*, PlacementScore> scores;
  for (const auto& r : scored) {
    ranked.push_back(r.pool);
    scores[r.pool] = r.score;
  }

  auto notEnough = [&](std::string message) {
    for (const auto& node : overprovisioned) {
      if (!best_per_node.count(node)) {
        char ratio[32];
        std::snprintf(ratio, sizeof ratio, "%g", std::max(1.0, request.overprovision));
        message += "; node '" + node + "' would exceed its pool's overprovision limit of " + ratio + "x";
        break;
      }
    }
    if (!unlabelled.empty()) {
      std::vector<std::string> names(unlabelled.begin(), unlabelled.end());
      message += "; left out for lacking label(s) " + quoteList(request.spread_keys) + ": " + quoteList(names);
    }
    if (!no_drbd.empty()) {
      message += "; left out for the drbd engine:";
      for (const auto& [node, why] : no_drbd) message += " node '" + node + "': " + why + ";";
      message.pop_back();
      return Status(ErrorCode::kUnprocessable, message).withReason("drbd_not_available");
    }
    return Status(ErrorCode::kUnprocessable, message).withReason("not_enough_nodes");
  };

  if (ranked.size() < request.replicas) {
    return notEnough("need " + std::to_string(request.replicas) + " online nodes with room for " +
                     std::to_string(request.size_bytes) + " bytes in an allowed pool, found " +
                     std::to_string(ranked.size()) + " (" + std::to_string(online.size()) + " online)");
  }
  std::vector<const PoolCandidate*> chosen(ranked.begin(), ranked.begin() + request.replicas);
  if (!request.spread_keys.empty()) {
    SpreadSearch search(ranked, request.spread_keys, request.kept_labels);
    if (!search.run(request.replicas)) {
      std::string message = "need " + std::to_string(request.replicas) +
                            " nodes with distinct values of label(s) " + quoteList(request.spread_keys) +
                            "; the " + std::to_string(ranked.size()) + " eligible node(s) have (";
      for (size_t k = 0; k < request.spread_keys.size(); ++k) {
        std::set<std::string> values;
        for (const auto* c : ranked) values.insert(c->node_labels.at(request.spread_keys[k]));
        message += (k ? "; " : "") + request.spread_keys[k] + ": " +
                   quoteList(std::vector<std::string>(values.begin(), values.end()));
      }
      return notEnough(message + ")");
    }
    chosen = search.chosen();
  }
  std::vector<Placement> out;
  for (const auto* c : chosen) out.push_back(Placement{c->node, c->pool, scores.at(c)});
  return out;
}

std::optional<std::string> placeTieBreaker(const std::vector<PoolCandidate>& candidates,
                                           const std::vector<std::string>& exclude) {
  std::optional<std::pair<uint32_t, std::string>> best;
  for (const auto& c : candidates) {
    if (!c.node_online || !c.drbd_missing.empty()) continue;
    if (std::find(exclude.begin(), exclude.end(), c.node) != exclude.end()) continue;
    std::pair<uint32_t, std::string> key{c.node_replicas, c.node};
    if (!best || key < *best) best = key;
  }
  if (!best) return std::nullopt;
  return best->second;
}

}  // namespace tandem::controller
