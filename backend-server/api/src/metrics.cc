#include "metrics.h"

#include <map>
#include <sstream>

namespace tandem::controller {
namespace {

// Label values escape backslash, double quote and newline.
std::string label(const std::string& value) {
  std::string out;
  for (char c : value) {
    if (c == '\\' || c == '"') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out;
}

std::string stateName(const char* state) { return state; }
template <typename State>
std::string stateName(State state) {
  return std::string(name(state));
}

void header(std::ostringstream& out, const char* name, const char* help) {
  out << "# HELP " << name << " " << help << "\n# TYPE " << name << " gauge\n";
}

// `known`: the states shown even at zero.
template <typename State>
void byState(std::ostringstream& out, const char* name, const char* help, std::map<std::string, uint64_t> counts,
             std::initializer_list<State> known) {
  for (State k : known) counts.emplace(stateName(k), 0);
  header(out, name, help);
  for (const auto& [state, n] : counts) out << name << "{state=\"" << label(state) << "\"} " << n << "\n";
}

}  // namespace

std::string renderMetrics(const MetricsInput& input) {
  std::ostringstream out;
  std::map<std::string, uint64_t> nodes, volumes, replicas;
  for (const auto& n : input.nodes) ++nodes[n.online ? "online" : "offline"];
  for (const auto& v : input.volumes) {
    ++volumes[std::string(name(v.state))];
    for (const auto& r : v.replicas) ++replicas[std::string(name(r.state))];
  }
  byState(out, "tandem_nodes", "Registered nodes by liveness.", nodes, {"online", "offline"});
  byState(out, "tandem_volumes", "Volumes by state.", volumes,
          {VolumeState::kCreating, VolumeState::kAvailable, VolumeState::kResyncing, VolumeState::kDegraded,
           VolumeState::kSplitBrain});
  byState(out, "tandem_replicas", "Replicas by state.", replicas,
          {ReplicaState::kCreating, ReplicaState::kUpToDate, ReplicaState::kSyncing, ReplicaState::kOutdated,
           ReplicaState::kOffline, ReplicaState::kError, ReplicaState::kSplitBrain});
  struct PoolMetric {
    const char* name;
    const char* help;
    uint64_t PoolReport::*field;
  };
  for (const PoolMetric& m : {PoolMetric{"tandem_pool_total_bytes", "Size of each storage pool.", &PoolReport::total_bytes},
                              PoolMetric{"tandem_pool_free_bytes", "Free space of each storage pool.", &PoolReport::free_bytes},
                              PoolMetric{"tandem_pool_provisioned_bytes", "Sum of the virtual sizes of a pool's volumes.",
                                         &PoolReport::provisioned_bytes}}) {
    header(out, m.name, m.help);
    for (const auto& p : input.pools) {
      if (!p.reported) continue;
      out << m.name << "{node=\"" << label(p.node) << "\",pool=\"" << label(p.pool.name) << "\",provider=\""
          << label(p.pool.provider) << "\"} " << p.pool.*m.field << "\n";
    }
  }
  header(out, "tandem_state_generation", "Generation of the declared state (increases with every change).");
  out << "tandem_state_generation " << input.generation << "\n";
  out << "# HELP tandem_replicas_replaced_total Replicas re-created on another node after their node was lost "
         "(since the controller started).\n# TYPE tandem_replicas_replaced_total counter\n";
  out << "tandem_replicas_replaced_total " << input.replicas_replaced << "\n";
  return out.str();
}

}  // namespace tandem::controller
