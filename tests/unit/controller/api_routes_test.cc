#include "tandem/controller/api_routes.h"

#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>

namespace tandem::controller {
namespace {

const Principal kAdmin{Role::kAdmin, ""};
const Principal kService{Role::kService, ""};
const Principal kJoin{Role::kJoin, ""};
const Principal kNode1{Role::kNode, "n1"};
const Principal kSomeNode{Role::kNode, ""};  // a node token on a request naming no node

// "GET /v1/volumes": how the table and the spec name an operation.
std::string operation(std::string_view method, std::string_view path_template) {
  return std::string(method) + " " + std::string(path_template);
}

// The roles a scope admits, as the spec's security scheme names ("adminToken"), or "open".
std::set<std::string> schemes(const Scope& scope) {
  if (scope.isOpen()) return {"open"};
  std::set<std::string> out;
  for (Role r : {Role::kAdmin, Role::kService, Role::kJoin, Role::kNode}) {
    if (scope.includes(r)) out.insert(std::string(roleName(r)) + "Token");
  }
  return out;
}

std::string joined(const std::set<std::string>& items) {
  std::string out;
  for (const auto& i : items) out += (out.empty() ? "" : ",") + i;
  return out;
}

// One operation of docs/openapi.yaml: its operationId and the security schemes that admit it.
struct SpecOperation {
  std::string operation_id;
  std::set<std::string> schemes;  // {"open"} for `security: []`
};

// The operations under `paths:` of docs/openapi.yaml, read line by line: the spec writes paths
// at indent 2, methods at indent 4, and `operationId`/`security` (block lists of
// `- <scheme>: []`) at indent 6. Operations without `security` take the top-level one.
std::map<std::string, SpecOperation> readSpecOperations(const std::string& file) {
  std::ifstream in(file);
  EXPECT_TRUE(in.good()) << "cannot read " << file;
  const std::regex top_key(R"(^([A-Za-z]\w*):\s*(.*)$)");
  const std::regex path_key(R"(^  (/\S*):\s*$)");
  const std::regex method_key(R"(^    (get|put|post|delete|patch|head|options|trace):\s*$)");
  const std::regex other_method_level(R"(^    \S.*$)");
  const std::regex operation_id(R"(^      operationId:\s*(\S+)\s*$)");
  const std::regex security(R"(^(|      )security:\s*(\[\])?\s*$)");
  const std::regex scheme_item(R"(^\s+- (\w+): \[\]\s*$)");
  std::map<std::string, SpecOperation> ops;
  std::set<std::string> default_schemes;
  std::set<std::string> explicit_security;  // operations with their own `security`
  std::string section, path, current;
  std::set<std::string>* collecting = nullptr;  // the scheme list being read, if any
  std::string line;
  std::smatch m;
  while (std::getline(in, line)) {
    if (collecting != nullptr && std::regex_match(line, m, scheme_item)) {
      collecting->insert(m[1]);
      continue;
    }
    collecting = nullptr;
    if (std::regex_match(line, m, security)) {
      bool top = m[1].length() == 0;
      std::set<std::string>* target =
          top ? &default_schemes : (current.empty() ? nullptr : &ops[current].schemes);
      if (target == nullptr) continue;
      if (!top) explicit_security.insert(current);
      if (m[2].matched) {
        target->insert("open");
      } else {
        collecting = target;
      }
      continue;
    }
    if (std::regex_match(line, m, top_key)) {
      section = m[1];
      current.clear();
      continue;
    }
    if (section != "paths") continue;
    if (std::regex_match(line, m, path_key)) {
      path = m[1];
      current.clear();
    } else if (std::regex_match(line, m, method_key)) {
      std::string method = m[1];
      for (char& c : method) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
      current = operation(method, path);
      ops[current];
    } else if (std::regex_match(line, m, operation_id) && !current.empty()) {
      ops[current].operation_id = m[1];
    } else if (std::regex_match(line, other_method_level)) {
      current.clear();  // a path-level key (parameters:, ...) ends the operation
    }
  }
  for (auto& [name, op] : ops) {
    if (!explicit_security.count(name)) op.schemes = default_schemes;
  }
  return ops;
}

// The route table and docs/openapi.yaml list the same operations, with the same operationIds
// and the same security (the table's scope).
TEST(ApiRoutes, MatchTheOpenApiOperationsBothWays) {
  auto spec = readSpecOperations(std::string(TANDEM_SOURCE_DIR) + "/docs/openapi.yaml");
  ASSERT_GE(spec.size(), 10u) << "docs/openapi.yaml: found too few operations; did its layout change?";
  std::set<std::string> in_table;
  for (const Route& route : apiRoutes()) {
    std::string op = operation(route.method, route.path_template);
    EXPECT_TRUE(in_table.insert(op).second) << op << " is twice in the route table";
    auto it = spec.find(op);
    if (it == spec.end()) {
      ADD_FAILURE() << op << " is in the route table (api_routes.cc) but not in docs/openapi.yaml";
      continue;
    }
    EXPECT_EQ(it->second.operation_id, route.operation_id) << op << ": operationId differs";
    EXPECT_EQ(joined(it->second.schemes), joined(schemes(route.scope)))
        << op << ": docs/openapi.yaml's security differs from the route table's scope";
  }
  for (const auto& [op, spec_op] : spec) {
    EXPECT_TRUE(in_table.count(op)) << op << " (" << spec_op.operation_id
                                    << ") is in docs/openapi.yaml but not in the route table (api_routes.cc)";
  }
}

// Templates match segment by segment; parameters take any segment; empty segments are ignored.
TEST(ApiRoutes, MatcherExtractsParametersAndTellsMissingFromWrongMethod) {
  auto m = matchRoute(apiRoutes(), "POST", "/v1//volumes/vol%2A1/promote/");
  ASSERT_NE(m.route, nullptr);
  EXPECT_EQ(m.route->operation_id, "promoteVolume");
  EXPECT_EQ(m.params, (PathParams{{"volume", "vol%2A1"}}));
  EXPECT_EQ(m.segments, (std::vector<std::string>{"v1", "volumes", "vol%2A1", "promote"}));

  auto wrong_method = matchRoute(apiRoutes(), "PUT", "/v1/volumes/v");
  EXPECT_EQ(wrong_method.route, nullptr);
  EXPECT_EQ(allowedMethods(wrong_method), "GET, PATCH, DELETE");
  EXPECT_EQ(wrong_method.params, (PathParams{{"volume", "v"}}));
  EXPECT_EQ(allowedMethods(matchRoute(apiRoutes(), "PUT", "/v1/nodes")), "GET, POST");

  auto missing = matchRoute(apiRoutes(), "GET", "/v1/volumes/v/no-such-resource");
  EXPECT_EQ(missing.route, nullptr);
  EXPECT_TRUE(missing.on_path.empty());

  EXPECT_EQ(claimedNode(matchRoute(apiRoutes(), "GET", "/v1/internal/nodes/n1/desired").segments), "n1");
  EXPECT_EQ(claimedNode(matchRoute(apiRoutes(), "GET", "/v1/internal/nodes/n1/other").segments), "n1");
  EXPECT_EQ(claimedNode(matchRoute(apiRoutes(), "GET", "/v1/internal/nodes/n1").segments), "");
  EXPECT_EQ(claimedNode(matchRoute(apiRoutes(), "GET", "/v1/nodes/n1").segments), "");
}

// Who may call what, on plain values: admin everything; service volumes but not promotion, and
// reads of pools and groups; join only registration; a node only its own internal routes.
TEST(ApiRoutes, ScopeRules) {
  struct Case {
    const Principal* who;
    const char* method;
    const char* path;
    bool allowed;
  } cases[] = {
      {&kAdmin, "POST", "/v1/volumes/v/promote", true},
      {&kAdmin, "GET", "/v1/internal/nodes/n1/desired", true},
      {&kAdmin, "GET", "/v1/no/such/route", true},
      {&kService, "POST", "/v1/volumes", true},
      {&kService, "DELETE", "/v1/volumes/v", true},
      {&kService, "POST", "/v1/volumes/v/promote", false},
      {&kService, "GET", "/v1/volumes/v/promote", false},
      {&kService, "POST", "/v1/volumes/v/resolve", false},  // choosing whose writes survive: admin
      {&kAdmin, "POST", "/v1/volumes/v/resolve", true},
      {&kService, "GET", "/v1/storage-pools", true},
      {&kService, "GET", "/v1/resource-groups/g", true},
      {&kService, "POST", "/v1/resource-groups", false},
      {&kService, "DELETE", "/v1/resource-groups/g", false},
      {&kService, "PATCH", "/v1/storage-pools", false},
      {&kService, "PATCH", "/v1/volumes", true},            // learns 405
      {&kService, "GET", "/v1/volumes/v/snapshots", true},  // learns 404
      {&kService, "GET", "/v1/nodes", false},
      {&kService, "GET", "/metrics", false},
      {&kService, "GET", "/v1/internal/nodes/n1/desired", false},
      {&kService, "GET", "/v1/elsewhere", false},
      {&kJoin, "POST", "/v1/nodes", true},
      {&kJoin, "GET", "/v1/nodes", false},
      {&kJoin, "PATCH", "/v1/nodes", false},
      {&kJoin, "PUT", "/v1/internal/nodes/n1/status", false},
      {&kNode1, "PUT", "/v1/internal/nodes/n1/status", true},
      {&kNode1, "GET", "/v1/internal/nodes/n1/desired", true},
      {&kNode1, "PATCH", "/v1/internal/nodes/n1/status", true},  // learns 405
      {&kNode1, "GET", "/v1/internal/nodes/n1/other", true},     // learns 404
      {&kNode1, "GET", "/v1/internal/nodes/n2/desired", false},
      {&kNode1, "GET", "/v1/nodes/n1", false},
      {&kSomeNode, "GET", "/v1/volumes", false},
      {&kSomeNode, "GET", "/v1/internal/nodes/n1/desired", false},
  };
  for (const Case& c : cases) {
    auto match = matchRoute(apiRoutes(), c.method, c.path);
    Status s = authorize(*c.who, c.method, c.path, match);
    std::string where = std::string(roleName(c.who->role)) + " " + c.method + " " + c.path;
    EXPECT_EQ(s.isOk(), c.allowed) << where << ": " << s.toString();
    if (!s.isOk()) {
      EXPECT_EQ(s.code(), ErrorCode::kPermissionDenied) << where;
      EXPECT_EQ(s.reason(), "permission_denied") << where;
      EXPECT_NE(s.message().find(std::string("; not ") + c.method + " " + c.path), std::string::npos)
          << where;
    }
  }
}

// Open routes need no principal; the 403 message says what the role may do.
TEST(ApiRoutes, OpenRoutesAndForbiddenMessages) {
  for (const char* path : {"/v1/version", "/v1/health"}) {
    auto m = matchRoute(apiRoutes(), "GET", path);
    ASSERT_NE(m.route, nullptr) << path;
    EXPECT_TRUE(m.route->scope.isOpen()) << path;
  }
  auto m = matchRoute(apiRoutes(), "GET", "/v1/nodes");
  EXPECT_NE(authorize(kJoin, "GET", "/v1/nodes", m).message().find("only register nodes"), std::string::npos);
  EXPECT_NE(authorize(kSomeNode, "GET", "/v1/nodes", m).message().find("its node's internal routes"),
            std::string::npos);
}

// Where no route answers, mayReach() decides between 403 and 404/405; on every routed request it
// must agree with the route's own scope, so the two cannot drift apart.
TEST(ApiRoutes, ReachAgreesWithEveryRouteScope) {
  const Principal kNode2{Role::kNode, "n2"};
  for (const Route& route : apiRoutes()) {
    if (route.scope.isOpen()) continue;
    std::string path(route.path_template);
    for (auto [param, value] :
         {std::pair<std::string, std::string>{"{node}", "n1"}, {"{volume}", "v"}, {"{group}", "g"}}) {
      for (size_t at = path.find(param); at != std::string::npos; at = path.find(param))
        path.replace(at, param.size(), value);
    }
    auto match = matchRoute(apiRoutes(), route.method, path);
    ASSERT_EQ(match.route, &route) << path;
    for (const Principal* who : {&kAdmin, &kService, &kJoin, &kNode1, &kNode2, &kSomeNode}) {
      EXPECT_EQ(mayReach(*who, route.method, match.segments),
                authorize(*who, route.method, path, match).isOk())
          << roleName(who->role) << "/" << who->node << " " << route.method << " " << path;
    }
  }
}

}  // namespace
}  // namespace tandem::controller
