// GET /v1/version, GET /v1/health, GET /metrics.
#include "handlers.h"
#include "metrics.h"
#include "responses.h"

namespace tandem::controller::handlers {

void getVersion(const RouteCall& call, http::Responder respond) {
  json::JsonWriter w;
  w.beginObject().field("version", call.options.version).field("api_version", "v1").endObject();
  respond(jsonResponse(200, w.str()));
}

void getHealth(const RouteCall& call, http::Responder respond) {
  // Ready when the store answers; 503 otherwise (load balancers and operators poll this).
  auto generation = call.cluster.storeGeneration();
  if (!generation.isOk()) {
    return respond(errorResponse(
        Status(ErrorCode::kUnavailable, "state store is not available: " + generation.status().message())
            .withReason("store_unavailable")));
  }
  respond(jsonResponse(200, R"({"status":"ok"})"));
}

void getMetrics(const RouteCall& call, http::Responder respond) {
  ClusterService& cluster = call.cluster;
  auto nodes = cluster.listNodes();
  auto pools = cluster.listPools();
  auto volumes = cluster.listVolumes();
  auto generation = cluster.storeGeneration();
  for (const Status* s : {&nodes.status(), &pools.status(), &volumes.status(), &generation.status()}) {
    if (!s->isOk()) return respond(errorResponse(*s));
  }
  MetricsInput input;
  input.nodes = std::move(nodes).value();
  input.pools = std::move(pools).value();
  input.volumes = std::move(volumes).value();
  input.generation = *generation;
  input.replicas_replaced = cluster.replicasReplaced();
  http::Response r;
  r.content_type = "text/plain; version=0.0.4";
  r.body = renderMetrics(input);
  respond(std::move(r));
}

}  // namespace tandem::controller::handlers
