#include "tandem/controller/api_router.h"

#include "error_response.h"
#include "responses.h"
#include "tandem/controller/api_routes.h"

namespace tandem::controller {

ApiRouter::ApiRouter(ClusterService& cluster, ApiOptions options, std::shared_ptr<VolumePortOpener> ports)
    : cluster_(cluster),
      options_(std::move(options)),
      ports_(ports ? std::move(ports) : std::shared_ptr<VolumePortOpener>(nbdVolumePortOpener())),
      node_tokens_(cluster),
      authenticator_(AuthenticatorOptions{options_.admin_token, options_.service_token, options_.join_token},
                     node_tokens_) {}

std::optional<http::Response> ApiRouter::admit(const http::Request& req, const RouteMatch& match,
                                               std::optional<Principal>* principal) {
  // Open paths (version, health) answer without a token, a wrong method included.
  bool open = !match.on_path.empty();
  for (const Route* route : match.on_path) open = open && route->scope.isOpen();
  if (open) return std::nullopt;

  // Everything else needs a token: the admin, service or join token, or a node's own token on its
  // internal routes. Then the route's scope decides.
  auto found = authenticator_.authenticate(req.header("authorization"), claimedNode(match.segments));
  if (!found.isOk()) return errorResponse(found.status());
  Status allowed = authorize(*found, req.method, req.path, match);
  if (!allowed.isOk()) return errorResponse(allowed);
  *principal = *found;
  return std::nullopt;
}

void ApiRouter::handle(http::Request req, http::Responder respond) {
  RouteMatch match = matchRoute(apiRoutes(), req.method, req.path);
  std::optional<Principal> principal;
  if (auto refused = admit(req, match, &principal)) return respond(std::move(*refused));
  if (match.route == nullptr) {
    if (!match.on_path.empty()) {
      return respond(methodNotAllowed(req.method, req.path, allowedMethods(match)));
    }
    return respond(errorResponse(Status(ErrorCode::kNotFound, "no route " + req.method + " " + req.path)
                                     .withReason("route_not_found")));
  }
  if (match.route->handler.buffered == nullptr) {
    return respond(errorResponse(Status(ErrorCode::kInternal, "route " + req.path + " only streams")));
  }
  match.route->handler.buffered(
      RouteCall{req, match.params, principal ? &*principal : nullptr, cluster_, options_, *ports_},
      std::move(respond));
}

bool ApiRouter::streams(const http::Request& head) {
  RouteMatch match = matchRoute(apiRoutes(), head.method, head.path);
  return match.route != nullptr && match.route->handler.streamed != nullptr;
}

void ApiRouter::handleStream(http::Request head, http::StreamExchange& exchange) {
  RouteMatch match = matchRoute(apiRoutes(), head.method, head.path);
  std::optional<Principal> principal;
  if (auto refused = admit(head, match, &principal)) {
    (void)exchange.respond(std::move(*refused));
    return;
  }
  if (match.route == nullptr || match.route->handler.streamed == nullptr) {
    (void)exchange.respond(errorResponse(Status(ErrorCode::kInternal, "route " + head.path + " does not stream")));
    return;
  }
  match.route->handler.streamed(
      RouteCall{head, match.params, principal ? &*principal : nullptr, cluster_, options_, *ports_}, exchange);
}

}  // namespace tandem::controller
