// /v1/nodes and /v1/nodes/{node}.
#include "handlers.h"
#include "json_views.h"
#include "responses.h"

namespace tandem::controller::handlers {

void listNodes(const RouteCall& call, http::Responder respond) {
  respond(listResponse(call.cluster.listNodes(), "nodes", writeNode));
}

void registerNode(const RouteCall& call, http::Responder respond) {
  auto parsed = parseRegisterRequest(call.request.body);
  if (!parsed.isOk()) return respond(errorResponse(parsed.status()));
  auto result = call.cluster.registerNode(*parsed);
  if (!result.isOk()) return respond(errorResponse(result.status()));
  auto view = call.cluster.getNode(parsed->name);
  if (!view.isOk()) return respond(errorResponse(view.status()));
  respond(jsonResponse(result->created ? 201 : 200, registerResultJson(*result, *view)));
}

void getNode(const RouteCall& call, http::Responder respond) {
  respond(objectResponse(call.cluster.getNode(call.params.at("node")), writeNode));
}

void deleteNode(const RouteCall& call, http::Responder respond) {
  respond(noContentOr(call.cluster.deleteNode(call.params.at("node"))));
}

void evacuateNode(const RouteCall& call, http::Responder respond) {
  http::Response response = objectResponse(call.cluster.evacuateNode(call.params.at("node"), true), writeNode);
  if (response.status == 200) response.status = 202;  // the moves go on in the background
  respond(std::move(response));
}

void cancelEvacuation(const RouteCall& call, http::Responder respond) {
  respond(objectResponse(call.cluster.evacuateNode(call.params.at("node"), false), writeNode));
}

}  // namespace tandem::controller::handlers
