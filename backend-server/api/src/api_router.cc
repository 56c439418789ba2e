#include "tandem/controller/api_router.h"

#include "error_response.h"
#include "responses.h"
#include "tandem/controller/api_routes.h"

namespace tandem::controller {

ApiRouter::ApiRouter(ClusterService& cluster, ApiOptions options)
    : cluster_(cluster),
      options_(std::move(options)),
      node_tokens_(cluster),
      authenticator_(AuthenticatorOptions{options_.admin_token, options_.service_token, options_.join_token},
                     node_tokens_) {}

void ApiRouter::handle(http::Request req, http::Responder respond) {
  RouteMatch match = matchRoute(apiRoutes(), req.method, req.path);
  auto dispatch = [&](const Principal* principal) {
    if (match.route == nullptr) {
      if (!match.on_path.empty()) {
        return respond(methodNotAllowed(req.method, req.path, allowedMethods(match)));
      }
      return respond(errorResponse(Status(ErrorCode::kNotFound, "no route " + req.method + " " + req.path)
                                       .withReason("route_not_found")));
    }
    match.route->handler(RouteCall{req, match.params, principal, cluster_, options_}, std::move(respond));
  };

  // Open paths (version, health) answer without a token, a wrong method included.
  bool open = !match.on_path.empty();
  for (const Route* route : match.on_path) open = open && route->scope.isOpen();
  if (open) return dispatch(nullptr);

  // Everything else needs a token: the admin, service or join token, or a node's own token on its
  // internal routes. Then the route's scope decides.
  auto principal = authenticator_.authenticate(req.header("authorization"), claimedNode(match.segments));
  if (!principal.isOk()) return respond(errorResponse(principal.status()));
  Status allowed = authorize(*principal, req.method, req.path, match);
  if (!allowed.isOk()) return respond(errorResponse(allowed));
  dispatch(&*principal);
}

}  // namespace tandem::controller
