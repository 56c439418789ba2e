// The controller's REST API as data: one Route per operation {method, path template, scope,
// handler}, the same operations as docs/openapi.yaml (a unit test checks they agree both ways,
// scopes against the operations' `security`). Next to the table: the one matcher and the one
// scope check. Pure functions over immutable values; thread-safe.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "tandem/common/status.h"
#include "tandem/controller/api_options.h"
#include "tandem/controller/cluster_service.h"
#include "tandem/controller/principal.h"
#include "tandem/controller/volume_port.h"
#include "tandem/http/message.h"

namespace tandem::controller {

// Who may call a route: anyone without a token (open), or the listed roles. Role::kNode admits
// a node token only on the routes of its own node (the route's {node} parameter).
class Scope {
 public:
  static constexpr Scope open() { return Scope(0, true); }
  static constexpr Scope of(std::initializer_list<Role> roles) {
    uint8_t bits = 0;
    for (Role r : roles) bits |= bit(r);
    return Scope(bits, false);
  }
  constexpr bool isOpen() const { return open_; }
  constexpr bool includes(Role role) const { return (roles_ & bit(role)) != 0; }

 private:
  constexpr Scope(uint8_t roles, bool open) : roles_(roles), open_(open) {}
  static constexpr uint8_t bit(Role r) { return static_cast<uint8_t>(1u << static_cast<unsigned>(r)); }
  uint8_t roles_;
  bool open_;
};

// Path parameters by name: {"volume": "v1"} for /v1/volumes/{volume} and /v1/volumes/v1.
using PathParams = std::map<std::string, std::string>;

// What a handler gets: the request, its path parameters, the caller and the services.
struct RouteCall {
  const http::Request& request;
  const PathParams& params;
  const Principal* principal;  // null on open routes
  ClusterService& cluster;
  const ApiOptions& options;
  VolumePortOpener& ports;  // block access to volumes (the data routes)
};

// Answers through `respond` exactly once: before returning, or later (a long-poll).
using RouteHandler = void (*)(const RouteCall& call, http::Responder respond);
// A streamed route (its body unbuffered and unlimited, http::Handler::handleStream): runs on a
// thread of its own, may block, answers through `exchange` exactly once.
using StreamRouteHandler = void (*)(const RouteCall& call, http::StreamExchange& exchange);

// A route's handler: buffered (the usual) or streamed.
struct RouteHandlers {
  constexpr RouteHandlers(RouteHandler h) : buffered(h) {}        // NOLINT: implicit by design
  constexpr RouteHandlers(StreamRouteHandler h) : streamed(h) {}  // NOLINT: implicit by design
  RouteHandler buffered = nullptr;
  StreamRouteHandler streamed = nullptr;
};

struct Route {
  std::string_view method;         // "GET", "PUT", "POST", "DELETE"
  std::string_view path_template;  // "/v1/volumes/{volume}/promote": literal and {parameter} segments
  std::string_view operation_id;   // the operation's operationId in docs/openapi.yaml
  Scope scope;
  RouteHandlers handler;
};

// Every operation of the API. Routes of one path are adjacent, in the order the Allow header of
// a 405 lists their methods.
const std::vector<Route>& apiRoutes();

// The outcome of matching a request against a table.
struct RouteMatch {
  std::vector<std::string> segments;  // the path split at '/', empty segments ignored
  std::vector<const Route*> on_path;  // the routes whose template matches the path, any method
  const Route* route = nullptr;       // the one of them for the request's method; null: none
  PathParams params;                  // the parameters of the matching template
};

// Matches `method` and the (already percent-decoded) `path` against `routes`: a template matches
// a path with as many segments whose literals are equal; parameters take any segment. No route
// on the path: 404; routes on the path but none for the method: 405.
RouteMatch matchRoute(const std::vector<Route>& routes, std::string_view method, std::string_view path);

// "GET, POST": the methods of `match.on_path`, for the Allow header of a 405.
std::string allowedMethods(const RouteMatch& match);

// The node a request claims to come from: the {node} of /v1/internal/nodes/{node}/<operation>,
// for any operation (routed or not); "" for every other path. The Authenticator accepts only that
// node's token there.
std::string claimedNode(const std::vector<std::string>& segments);

// The scope check: whether `principal` may make the request `match` describes. For a routed
// request, the route's scope (a node only on its own routes). For a request no route answers
// (404, 405), whether the principal may learn that, per mayReach(). Failure: kPermissionDenied
// (reason permission_denied) saying what the principal's role may do.
Status authorize(const Principal& principal, std::string_view method, std::string_view path,
                 const RouteMatch& match);

// Where a principal may learn that a route does not exist (404) or takes other methods (405),
// rather than 403: the areas of the table its role uses. admin: everywhere; service: under
// /v1/volumes (but not .../{volume}/promote), and GET under /v1/storage-pools and
// /v1/resource-groups; join: only POST /v1/nodes (a route, so never a 404 or 405); node: its own
// /v1/internal/nodes/{node}/... paths.
// On every routed request it agrees with the route's scope (a unit test checks this).
bool mayReach(const Principal& principal, std::string_view method, const std::vector<std::string>& segments);

}  // namespace tandem::controller
