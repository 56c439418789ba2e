// /v1/volumes/{volume}/snapshots and /v1/volumes/{volume}/snapshots/{snapshot}.
#include "handlers.h"
#include "json_views.h"
#include "responses.h"

namespace tandem::controller::handlers {

void listSnapshots(const RouteCall& call, http::Responder respond) {
  respond(listResponse(call.cluster.listSnapshots(call.params.at("volume")), "snapshots", writeSnapshot));
}

void createSnapshot(const RouteCall& call, http::Responder respond) {
  auto name = parseCreateSnapshot(call.request.body);
  if (!name.isOk()) return respond(errorResponse(name.status()));
  respond(createdResponse(call.cluster.createSnapshot(call.params.at("volume"), *name), writeSnapshot));
}

void getSnapshot(const RouteCall& call, http::Responder respond) {
  respond(objectResponse(call.cluster.getSnapshot(call.params.at("volume"), call.params.at("snapshot")),
                         writeSnapshot));
}

void deleteSnapshot(const RouteCall& call, http::Responder respond) {
  respond(noContentOr(call.cluster.deleteSnapshot(call.params.at("volume"), call.params.at("snapshot"))));
}

}  // namespace tandem::controller::handlers
