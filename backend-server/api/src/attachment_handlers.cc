// /v1/volumes/{volume}/attachments and /v1/volumes/{volume}/attachments/{host}.
#include "handlers.h"
#include "json_views.h"
#include "responses.h"

namespace tandem::controller::handlers {

void listAttachments(const RouteCall& call, http::Responder respond) {
  respond(listResponse(call.cluster.listAttachments(call.params.at("volume")), "attachments", writeAttachment));
}

void attachVolume(const RouteCall& call, http::Responder respond) {
  auto parsed = parseAttach(call.request.body);
  if (!parsed.isOk()) return respond(errorResponse(parsed.status()));
  respond(createdResponse(call.cluster.attachVolume(call.params.at("volume"), *parsed), writeAttachment));
}

// Deferred: a block device's removal is answered once its host reports it (or refuses it).
void detachVolume(const RouteCall& call, http::Responder respond) {
  auto force = queryBool(call.request, "force");
  if (!force.isOk()) return respond(errorResponse(force.status()));
  call.cluster.detachVolume(call.params.at("volume"), call.params.at("host"), *force,
                            [respond = std::move(respond)](Status status) { respond(noContentOr(status)); });
}

}  // namespace tandem::controller::handlers
