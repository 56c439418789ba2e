// /v1/resource-groups and /v1/resource-groups/{group}.
#include "handlers.h"
#include "json_views.h"
#include "responses.h"

namespace tandem::controller::handlers {

void listResourceGroups(const RouteCall& call, http::Responder respond) {
  respond(listResponse(call.cluster.listGroups(), "resource_groups", writeGroup));
}

void createResourceGroup(const RouteCall& call, http::Responder respond) {
  auto spec = parseGroupSpec(call.request.body);
  if (!spec.isOk()) return respond(errorResponse(spec.status()));
  respond(createdResponse(call.cluster.createGroup(std::move(spec).value()), writeGroup));
}

void getResourceGroup(const RouteCall& call, http::Responder respond) {
  respond(objectResponse(call.cluster.getGroup(call.params.at("group")), writeGroup));
}

void deleteResourceGroup(const RouteCall& call, http::Responder respond) {
  respond(noContentOr(call.cluster.deleteGroup(call.params.at("group"))));
}

}  // namespace tandem::controller::handlers
