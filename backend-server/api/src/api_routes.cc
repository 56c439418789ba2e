#include "tandem/controller/api_routes.h"

#include "handlers.h"

namespace tandem::controller {
namespace {

constexpr Scope kOpen = Scope::open();
constexpr Scope kAdmin = Scope::of({Role::kAdmin});
constexpr Scope kAdminOrService = Scope::of({Role::kAdmin, Role::kService});
constexpr Scope kAdminOrJoin = Scope::of({Role::kAdmin, Role::kJoin});
constexpr Scope kAdminOrOwnNode = Scope::of({Role::kAdmin, Role::kNode});

std::vector<std::string> splitPath(std::string_view path) {
  std::vector<std::string> parts;
  size_t i = 0;
  while (i < path.size()) {
    while (i < path.size() && path[i] == '/') ++i;
    size_t j = path.find('/', i);
    if (j == std::string_view::npos) j = path.size();
    if (j > i) parts.emplace_back(path.substr(i, j - i));
    i = j;
  }
  return parts;
}

// Whether `segments` fit `template_segments`; fills `params` when they do.
bool matchTemplate(const std::vector<std::string>& template_segments,
                   const std::vector<std::string>& segments, PathParams& params) {
  if (template_segments.size() != segments.size()) return false;
  PathParams found;
  for (size_t i = 0; i < segments.size(); ++i) {
    const std::string& t = template_segments[i];
    if (t.size() >= 2 && t.front() == '{' && t.back() == '}') {
      found[t.substr(1, t.size() - 2)] = segments[i];
    } else if (t != segments[i]) {
      return false;
    }
  }
  params = std::move(found);
  return true;
}

// Whether `segments` lie under /v1/<collection>.
bool under(const std::vector<std::string>& segments, const char* collection) {
  return segments.size() >= 2 && segments[0] == "v1" && segments[1] == collection;
}

// "the service token may ..." — what a role is for, for 403 messages.
std::string roleScope(Role role) {
  switch (role) {
    case Role::kService:
      return "the service token may use volumes and read storage pools and resource groups";
    case Role::kJoin:
      return "the join token may only register nodes (POST /v1/nodes)";
    case Role::kNode:
      return "a node token may only use its node's internal routes";
    case Role::kAdmin:
      return "the admin token may do everything";
  }
  return "";
}

}  // namespace

const std::vector<Route>& apiRoutes() {
  using namespace handlers;
  static const std::vector<Route> kRoutes = {
      {"GET", "/v1/version", "getVersion", kOpen, getVersion},
      {"GET", "/v1/health", "getHealth", kOpen, getHealth},
      {"GET", "/metrics", "getMetrics", kAdmin, getMetrics},
      {"GET", "/v1/nodes", "listNodes", kAdmin, listNodes},
      {"POST", "/v1/nodes", "registerNode", kAdminOrJoin, registerNode},
      {"GET", "/v1/nodes/{node}", "getNode", kAdmin, getNode},
      {"DELETE", "/v1/nodes/{node}", "deleteNode", kAdmin, deleteNode},
      {"POST", "/v1/nodes/{node}/evacuate", "evacuateNode", kAdmin, evacuateNode},
      {"DELETE", "/v1/nodes/{node}/evacuate", "cancelEvacuation", kAdmin, cancelEvacuation},
      {"GET", "/v1/storage-pools", "listStoragePools", kAdminOrService, listStoragePools},
      {"GET", "/v1/resource-groups", "listResourceGroups", kAdminOrService, listResourceGroups},
      {"POST", "/v1/resource-groups", "createResourceGroup", kAdmin, createResourceGroup},
      {"GET", "/v1/resource-groups/{group}", "getResourceGroup", kAdminOrService, getResourceGroup},
      {"DELETE", "/v1/resource-groups/{group}", "deleteResourceGroup", kAdmin, deleteResourceGroup},
      {"GET", "/v1/volumes", "listVolumes", kAdminOrService, listVolumes},
      {"POST", "/v1/volumes", "createVolume", kAdminOrService, createVolume},
      {"GET", "/v1/volumes/{volume}", "getVolume", kAdminOrService, getVolume},
      {"PATCH", "/v1/volumes/{volume}", "updateVolume", kAdminOrService, updateVolume},
      {"DELETE", "/v1/volumes/{volume}", "deleteVolume", kAdminOrService, deleteVolume},
      // Promotion overrides the volume's writer: an operator's decision, admin only.
      {"POST", "/v1/volumes/{volume}/promote", "promoteVolume", kAdmin, promoteVolume},
      {"GET", "/v1/volumes/{volume}/snapshots", "listSnapshots", kAdminOrService, listSnapshots},
      {"POST", "/v1/volumes/{volume}/snapshots", "createSnapshot", kAdminOrService, createSnapshot},
      {"GET", "/v1/volumes/{volume}/snapshots/{snapshot}", "getSnapshot", kAdminOrService, getSnapshot},
      {"DELETE", "/v1/volumes/{volume}/snapshots/{snapshot}", "deleteSnapshot", kAdminOrService, deleteSnapshot},
      {"POST", "/v1/volumes/{volume}/snapshots/{snapshot}/revert", "revertSnapshot", kAdminOrService,
       revertSnapshot},
      // So is choosing which diverged copy's writes a volume keeps.
      {"POST", "/v1/volumes/{volume}/resolve", "resolveSplitBrain", kAdmin, resolveSplitBrain},
      // Adopt and forget are Cinder's manage_existing and unmanage: the service token's.
      {"POST", "/v1/volumes/{volume}/adopt", "adoptVolume", kAdminOrService, adoptVolume},
      {"POST", "/v1/volumes/{volume}/forget", "forgetVolume", kAdminOrService, forgetVolume},
      {"GET", "/v1/volumes/{volume}/attachments", "listAttachments", kAdminOrService, listAttachments},
      {"POST", "/v1/volumes/{volume}/attachments", "attachVolume", kAdminOrService, attachVolume},
      {"DELETE", "/v1/volumes/{volume}/attachments/{host}", "detachVolume", kAdminOrService, detachVolume},
      // The volume's bytes, streamed (Cinder's image copies).
      {"GET", "/v1/volumes/{volume}/data", "exportVolumeData", kAdminOrService, exportVolumeData},
      {"PUT", "/v1/volumes/{volume}/data", "importVolumeData", kAdminOrService, importVolumeData},
      {"GET", "/v1/internal/nodes/{node}/desired", "pollDesiredState", kAdminOrOwnNode, pollDesiredState},
      {"PUT", "/v1/internal/nodes/{node}/status", "reportNodeStatus", kAdminOrOwnNode, reportNodeStatus},
  };
  return kRoutes;
}

RouteMatch matchRoute(const std::vector<Route>& routes, std::string_view method, std::string_view path) {
  RouteMatch match;
  match.segments = splitPath(path);
  for (const Route& route : routes) {
    PathParams params;
    if (!matchTemplate(splitPath(route.path_template), match.segments, params)) continue;
    if (match.on_path.empty()) match.params = std::move(params);
    match.on_path.push_back(&route);
    if (match.route == nullptr && route.method == method) match.route = &route;
  }
  return match;
}

std::string allowedMethods(const RouteMatch& match) {
  std::string allow;
  for (const Route* route : match.on_path) {
    if (!allow.empty()) allow += ", ";
    allow += route->method;
  }
  return allow;
}

std::string claimedNode(const std::vector<std::string>& segments) {
  if (segments.size() == 5 && segments[0] == "v1" && segments[1] == "internal" && segments[2] == "nodes") {
    return segments[3];
  }
  return "";
}

bool mayReach(const Principal& principal, std::string_view method, const std::vector<std::string>& segments) {
  switch (principal.role) {
    case Role::kAdmin:
      return true;
    case Role::kService:
      if (under(segments, "volumes")) {
        return !(segments.size() == 4 && (segments[3] == "promote" || segments[3] == "resolve"));
      }
      return method == "GET" && (under(segments, "storage-pools") || under(segments, "resource-groups"));
    case Role::kJoin:
      return method == "POST" && segments.size() == 2 && under(segments, "nodes");
    case Role::kNode:
      return !principal.node.empty() && claimedNode(segments) == principal.node;
  }
  return false;
}

Status authorize(const Principal& principal, std::string_view method, std::string_view path,
                 const RouteMatch& match) {
  bool allowed = false;
  if (match.route == nullptr) {
    allowed = mayReach(principal, method, match.segments);
  } else if (match.route->scope.isOpen()) {
    allowed = true;
  } else if (match.route->scope.includes(principal.role)) {
    auto node = match.params.find("node");
    allowed = principal.role != Role::kNode ||
              (!principal.node.empty() && node != match.params.end() && node->second == principal.node);
  }
  if (allowed) return Status::ok();
  return Status(ErrorCode::kPermissionDenied,
                roleScope(principal.role) + "; not " + std::string(method) + " " + std::string(path))
      .withReason("permission_denied");
}

}  // namespace tandem::controller
