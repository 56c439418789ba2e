#include "tandem/controller/api_router.h"

#include <cctype>
#include <charconv>
#include <vector>

#include "access.h"
#include "error_response.h"
#include "json_views.h"
#include "metrics.h"
#include "tandem/controller/tokens.h"
#include "tandem/json/writer.h"

namespace tandem::controller {
namespace {

http::Response jsonResponse(int status, std::string body) {
  http::Response r;
  r.status = status;
  r.body = std::move(body);
  return r;
}

http::Response noContent() {
  http::Response r;
  r.status = 204;
  r.content_type.clear();
  return r;
}

std::vector<std::string> splitPath(const std::string& path) {
  std::vector<std::string> parts;
  size_t i = 0;
  while (i < path.size()) {
    while (i < path.size() && path[i] == '/') ++i;
    size_t j = path.find('/', i);
    if (j == std::string::npos) j = path.size();
    if (j > i) parts.push_back(path.substr(i, j - i));
    i = j;
  }
  return parts;
}

std::string bearerToken(const http::Request& req) {
  std::string h = req.header("authorization");
  // The scheme name is case-insensitive (RFC 9110 section 11.1).
  const std::string prefix = "bearer ";
  if (h.size() <= prefix.size()) return "";
  for (size_t i = 0; i < prefix.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(h[i])) != prefix[i]) return "";
  }
  return h.substr(prefix.size());
}

// 405 with the Allow header RFC 9110 requires.
http::Response methodNotAllowed(const http::Request& req, const char* allow) {
  http::Response r = errorResponse(
      Status(ErrorCode::kInvalidArgument, "method " + req.method + " is not allowed on " + req.path + " (allowed: " +
                                              allow + ")")
          .withReason("method_not_allowed"));
  r.status = 405;
  r.headers["allow"] = allow;
  return r;
}

Result<uint64_t> queryUint(const http::Request& req, const std::string& key, uint64_t fallback) {
  auto it = req.query.find(key);
  if (it == req.query.end() || it->second.empty()) return fallback;
  uint64_t value = 0;
  auto [ptr, ec] = std::from_chars(it->second.data(), it->second.data() + it->second.size(), value);
  if (ec != std::errc() || ptr != it->second.data() + it->second.size()) {
    return Status(ErrorCode::kInvalidArgument, "query parameter '" + key + "' must be a non-negative integer")
        .withReason("invalid_query");
  }
  return value;
}

// {"<key>": [each item as `write` renders it]}, or the error.
template <typename T, typename Write>
http::Response listResponse(const Result<std::vector<T>>& items, std::string_view key, Write write) {
  if (!items.isOk()) return errorResponse(items.status());
  json::JsonWriter w;
  w.beginObject().key(key).beginArray();
  for (const auto& item : *items) write(w, item);
  w.endArray().endObject();
  return jsonResponse(200, w.str());
}

// One object as `write` renders it, or the error.
template <typename T, typename Write>
http::Response objectResponse(const Result<T>& item, Write write) {
  if (!item.isOk()) return errorResponse(item.status());
  json::JsonWriter w;
  write(w, *item);
  return jsonResponse(200, w.str());
}

// The object of an idempotent create: 201 when made now, 200 when it already existed.
template <typename T, typename Write>
http::Response createdResponse(const Result<std::pair<T, bool>>& created, Write write) {
  if (!created.isOk()) return errorResponse(created.status());
  json::JsonWriter w;
  write(w, created->first);
  return jsonResponse(created->second ? 201 : 200, w.str());
}

}  // namespace

void ApiRouter::handle(http::Request req, http::Responder respond) {
  auto fail = [&](const Status& s) { respond(errorResponse(s)); };
  auto parts = splitPath(req.path);
  // True when the path has `n` segments matching a, b, c, d (nullptr: any segment).
  auto route = [&](size_t n, const char* a, const char* b = nullptr, const char* c = nullptr,
                   const char* d = nullptr) {
    if (parts.size() != n) return false;
    const char* want[] = {a, b, c, d};
    for (size_t i = 0; i < n && i < 4; ++i) {
      if (want[i] != nullptr && parts[i] != want[i]) return false;
    }
    return true;
  };

  // Open routes.
  if (route(2, "v1", "version")) {
    if (req.method != "GET") return respond(methodNotAllowed(req, "GET"));
    json::JsonWriter w;
    w.beginObject().field("version", options_.version).field("api_version", "v1").endObject();
    return respond(jsonResponse(200, w.str()));
  }
  if (route(2, "v1", "health")) {
    if (req.method != "GET") return respond(methodNotAllowed(req, "GET"));
    // Ready when the store answers; 503 otherwise (load balancers and operators poll this).
    auto generation = cluster_.storeGeneration();
    if (!generation.isOk()) {
      return fail(Status(ErrorCode::kUnavailable, "state store is not available: " + generation.status().message())
                      .withReason("store_unavailable"));
    }
    return respond(jsonResponse(200, R"({"status":"ok"})"));
  }

  // Everything else needs a token: the admin, service or join token (access.h says what each
  // opens), or a node's own token on its internal routes.
  std::string token = bearerToken(req);
  if (token.empty()) {
    return fail(Status(ErrorCode::kUnauthenticated, "missing bearer token (Authorization: Bearer <token>)")
                    .withReason("unauthenticated"));
  }
  Role role = Role::kNone;
  if (!options_.admin_token.empty() && tokensEqual(token, options_.admin_token)) {
    role = Role::kAdmin;
  } else if (!options_.service_token.empty() && tokensEqual(token, options_.service_token)) {
    role = Role::kService;
  } else if (!options_.join_token.empty() && tokensEqual(token, options_.join_token)) {
    role = Role::kJoin;
  }
  auto forbidden = [&](Role r) {
    fail(Status(ErrorCode::kPermissionDenied, roleScope(r) + "; not " + req.method + " " + req.path)
             .withReason("permission_denied"));
  };

  if (parts.size() == 5 && parts[0] == "v1" && parts[1] == "internal" && parts[2] == "nodes") {
    const std::string& node = parts[3];
    if (role == Role::kService || role == Role::kJoin) return forbidden(role);
    if (role != Role::kAdmin) {
      if (!cluster_.authenticateNode(node, token)) {
        return fail(Status(ErrorCode::kUnauthenticated, "invalid token for node '" + node + "'")
                        .withReason("unauthenticated"));
      }
      role = Role::kNode;
    }
    if (parts[4] == "desired") {
      if (req.method != "GET") return respond(methodNotAllowed(req, "GET"));
      auto after = queryUint(req, "after", 0);
      if (!after.isOk()) return fail(after.status());
      auto wait = queryUint(req, "wait", 0);
      if (!wait.isOk()) return fail(wait.status());
      auto max_ms = static_cast<uint64_t>(options_.long_poll_max.count());
      auto wait_ms = *wait > max_ms / 1000 ? max_ms : *wait * 1000;
      cluster_.watchDesiredState(node, *after, std::chrono::milliseconds(wait_ms),
                                 [respond](Result<DesiredState> state) {
                                   if (!state.isOk()) return respond(errorResponse(state.status()));
                                   respond(jsonResponse(200, desiredStateJson(*state)));
                                 });
      return;
    }
    if (parts[4] == "status") {
      if (req.method != "PUT") return respond(methodNotAllowed(req, "PUT"));
      auto report = parseStatusReport(req.body);
      if (!report.isOk()) return fail(report.status());
      Status s = cluster_.reportStatus(node, std::move(report).value());
      if (!s.isOk()) return fail(s);
      return respond(noContent());
    }
    return fail(Status(ErrorCode::kNotFound, "no route " + req.path).withReason("route_not_found"));
  }

  if (role == Role::kNone) {
    // A node's own token is valid but does not open the public API: 403, not 401.
    if (cluster_.isNodeToken(token)) return forbidden(Role::kNode);
    return fail(Status(ErrorCode::kUnauthenticated, "invalid token").withReason("unauthenticated"));
  }
  if (!mayCall(role, req.method, parts)) return forbidden(role);

  if (parts.size() == 1 && parts[0] == "metrics") {
    if (req.method != "GET") return respond(methodNotAllowed(req, "GET"));
    MetricsInput input;
    auto nodes = cluster_.listNodes();
    auto pools = cluster_.listPools();
    auto volumes = cluster_.listVolumes();
    auto generation = cluster_.storeGeneration();
    for (const Status* s : {&nodes.status(), &pools.status(), &volumes.status(), &generation.status()}) {
      if (!s->isOk()) return fail(*s);
    }
    input.nodes = std::move(nodes).value();
    input.pools = std::move(pools).value();
    input.volumes = std::move(volumes).value();
    input.generation = *generation;
    input.replicas_replaced = cluster_.replicasReplaced();
    http::Response r;
    r.content_type = "text/plain; version=0.0.4";
    r.body = renderMetrics(input);
    return respond(std::move(r));
  }
  if (route(2, "v1", "nodes")) {
    if (req.method == "GET") {
      return respond(listResponse(cluster_.listNodes(), "nodes", writeNode));
    }
    if (req.method == "POST") {
      auto parsed = parseRegisterRequest(req.body);
      if (!parsed.isOk()) return fail(parsed.status());
      auto result = cluster_.registerNode(*parsed);
      if (!result.isOk()) return fail(result.status());
      auto view = cluster_.getNode(parsed->name);
      if (!view.isOk()) return fail(view.status());
      return respond(jsonResponse(result->created ? 201 : 200, registerResultJson(*result, *view)));
    }
    return respond(methodNotAllowed(req, "GET, POST"));
  }
  if (route(3, "v1", "nodes")) {
    if (req.method == "GET") return respond(objectResponse(cluster_.getNode(parts[2]), writeNode));
    if (req.method == "DELETE") {
      Status s = cluster_.deleteNode(parts[2]);
      if (!s.isOk()) return fail(s);
      return respond(noContent());
    }
    return respond(methodNotAllowed(req, "GET, DELETE"));
  }
  if (route(2, "v1", "storage-pools")) {
    if (req.method != "GET") return respond(methodNotAllowed(req, "GET"));
    return respond(listResponse(cluster_.listPools(), "storage_pools", writePool));
  }
  if (route(2, "v1", "resource-groups")) {
    if (req.method == "GET") {
      return respond(listResponse(cluster_.listGroups(), "resource_groups", writeGroup));
    }
    if (req.method == "POST") {
      auto spec = parseGroupSpec(req.body);
      if (!spec.isOk()) return fail(spec.status());
      return respond(createdResponse(cluster_.createGroup(std::move(spec).value()), writeGroup));
    }
    return respond(methodNotAllowed(req, "GET, POST"));
  }
  if (route(3, "v1", "resource-groups")) {
    if (req.method == "GET") {
      return respond(objectResponse(cluster_.getGroup(parts[2]), writeGroup));
    }
    if (req.method == "DELETE") {
      Status s = cluster_.deleteGroup(parts[2]);
      if (!s.isOk()) return fail(s);
      return respond(noContent());
    }
    return respond(methodNotAllowed(req, "GET, DELETE"));
  }
  if (route(2, "v1", "volumes")) {
    if (req.method == "GET") {
      return respond(listResponse(cluster_.listVolumes(), "volumes", writeVolume));
    }
    if (req.method == "POST") {
      auto parsed = parseCreateVolume(req.body);
      if (!parsed.isOk()) return fail(parsed.status());
      return respond(createdResponse(cluster_.createVolume(*parsed), writeVolume));
    }
    return respond(methodNotAllowed(req, "GET, POST"));
  }
  if (route(3, "v1", "volumes")) {
    if (req.method == "GET") {
      return respond(objectResponse(cluster_.getVolume(parts[2]), writeVolume));
    }
    if (req.method == "DELETE") {
      Status s = cluster_.deleteVolume(parts[2]);
      if (!s.isOk()) return fail(s);
      return respond(noContent());
    }
    return respond(methodNotAllowed(req, "GET, DELETE"));
  }
  if (route(4, "v1", "volumes", nullptr, "promote")) {
    if (req.method != "POST") return respond(methodNotAllowed(req, "POST"));
    auto parsed = parsePromote(req.body);
    if (!parsed.isOk()) return fail(parsed.status());
    return respond(objectResponse(cluster_.promoteVolume(parts[2], parsed->node, parsed->force), writeVolume));
  }
  return fail(Status(ErrorCode::kNotFound, "no route " + req.method + " " + req.path).withReason("route_not_found"));
}

}  // namespace tandem::controller
