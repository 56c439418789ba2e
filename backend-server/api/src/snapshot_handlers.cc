// /v1/volumes/{volume}/snapshots, /v1/volumes/{volume}/snapshots/{snapshot} and its revert.
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

void revertSnapshot(const RouteCall& call, http::Responder respond) {
  // The body is {} (nothing to say yet); anything else is refused like any unknown field.
  if (!call.request.body.empty()) {
    auto parsed = parseEmptyObject(call.request.body);
    if (!parsed.isOk()) return respond(errorResponse(parsed));
  }
  respond(objectResponse(call.cluster.revertSnapshot(call.params.at("volume"), call.params.at("snapshot")),
                         writeVolume));
}

void deleteSnapshot(const RouteCall& call, http::Responder respond) {
  respond(noContentOr(call.cluster.deleteSnapshot(call.params.at("volume"), call.params.at("snapshot"))));
}

}  // namespace tandem::controller::handlers
