// Prometheus text exposition (format 0.0.4) of the cluster's state, for GET /metrics.
#pragma once

#include <string>
#include <vector>

#include "tandem/controller/cluster_views.h"

namespace tandem::controller {

struct MetricsInput {
  std::vector<NodeView> nodes;
  std::vector<PoolView> pools;
  std::vector<VolumeView> volumes;
  uint64_t generation = 0;
  uint64_t replicas_replaced = 0;  // self-healing moves since the controller started
};

// Every known state is listed (with 0), so dashboards and alerts see stable series.
std::string renderMetrics(const MetricsInput& input);

}  // namespace tandem::controller
