#include "tandem/controller/api_router.h"

#include <stdlib.h>

#include <algorithm>
#include <condition_variable>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>

#include <gtest/gtest.h>

#include "tandem/json/object_reader.h"

namespace tandem::controller {
namespace {

constexpr const char* kAdmin = "admin-token-0123456789";
constexpr const char* kService = "service-token-0123456789";
constexpr const char* kJoin = "join-token-0123456789";

class ApiRouterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/tandem-api-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    auto s = openSqliteStore({dir_ + "/state.db"});
    ASSERT_TRUE(s.isOk());
    store_ = std::move(s).value();
    cluster_ = std::make_unique<ClusterService>(*store_, clock_, ClusterOptions{std::chrono::seconds(6)});
    ApiOptions options{kAdmin, std::chrono::seconds(30), "0.1.0"};
    options.service_token = kService;
    options.join_token = kJoin;
    router_ = std::make_unique<ApiRouter>(*cluster_, options);
  }
  void TearDown() override {
    router_.reset();
    cluster_.reset();
    store_.reset();
    std::filesystem::remove_all(dir_);
  }

  // Calls the router and returns its response if it answered synchronously.
  std::optional<http::Response> call(const std::string& method, const std::string& target,
                                     const std::string& body = "", const std::string& token = kAdmin) {
    http::Request req;
    req.method = method;
    size_t q = target.find('?');
    req.path = target.substr(0, q);
    if (q != std::string::npos) {
      std::string query = target.substr(q + 1);
      size_t pos = 0;
      while (pos < query.size()) {
        size_t amp = query.find('&', pos);
        if (amp == std::string::npos) amp = query.size();
        std::string kv = query.substr(pos, amp - pos);
        size_t eq = kv.find('=');
        req.query[kv.substr(0, eq)] = eq == std::string::npos ? "" : kv.substr(eq + 1);
        pos = amp + 1;
      }
    }
    req.body = body;
    if (!token.empty()) req.headers["authorization"] = "Bearer " + token;
    std::optional<http::Response> out;
    router_->handle(req, [&](http::Response r) { out = std::move(r); });
    return out;
  }

  // n1 and n2 with pool `default`, n3 with pool `fast`, each reporting a loaded DRBD 9 module.
  // n1, n2, n3 (registered by registerDrbdNodes) each have their own NBD port: 10801, 10802, 10803.
  static uint32_t drbdNbdPort(const std::string& node) { return 10800 + static_cast<uint32_t>(node.back() - '0'); }
  void registerDrbdNodes() {
  for (const char* n : {"n1", "n2", "n3"}) {
    const std::string pool = std::string(n) == "n3" ? "fast" : "default";  // only n3 has pool fast
    auto registered = call("POST", "/v1/nodes",
                           R"({"name":")" + std::string(n) +
                               R"(","address":"127.0.0.1","nbd_port":)" + std::to_string(drbdNbdPort(n)) +
                               R"(,"replication_port":7000,"pools":[{"name":")" +
                               pool +
                               R"(","provider":"file","thin":true,"snapshots":true,"total_bytes":107374182400,)"
                               R"("free_bytes":53687091200}]})");
    ASSERT_TRUE(registered && registered->status == 201) << (registered ? registered->body : "no response");
    const std::string token = (*json::parseObject(registered->body))["token"].GetString();
    drbd_tokens_[n] = token;
    auto r = call("PUT", std::string("/v1/internal/nodes/") + n + "/status",
                  R"({"applied_generation":1,"pools":[{"name":")" + pool +
                      R"(","provider":"file","thin":true,"total_bytes":107374182400,"free_bytes":53687091200}],)"
                      R"("replicas":[],"drbd":{"loaded":true,"version":"9.2.8","reason":""}})",
                  token);
    ASSERT_TRUE(r && r->status == 204) << (r ? r->body : "no response");
  }
  }

  static std::string errorCode(const http::Response& r) {
    auto doc = json::parseObject(r.body);
    if (!doc.isOk() || !doc->HasMember("error")) return "";
    return (*doc)["error"]["code"].GetString();
  }

  // Registers node `name` with one 100 GiB pool and returns its token.
  std::string registerNode(const std::string& name, uint64_t free_gib = 100) {
    std::string body = R"({"name":")" + name + R"(","address":"127.0.0.1","nbd_port":10809,)" +
                       R"("replication_port":7000,"pools":[{"name":"default","provider":"file","thin":true,)" +
                       R"("snapshots":true,"total_bytes":107374182400,"free_bytes":)" +
                       std::to_string(free_gib << 30) + "}]}";
    auto r = call("POST", "/v1/nodes", body);
    EXPECT_TRUE(r && r->status == 201) << (r ? r->body : "no response");
    auto doc = json::parseObject(r->body);
    return (*doc)["token"].GetString();
  }

  // Rebuilds the cluster service and router over the same store with other options.
  void useClusterOptions(ClusterOptions options) {
    router_.reset();
    cluster_ = std::make_unique<ClusterService>(*store_, clock_, options);
    ApiOptions api{kAdmin, std::chrono::seconds(30), "0.1.0"};
    router_ = std::make_unique<ApiRouter>(*cluster_, api);
  }

  // A heartbeat of `node` with its 100 GiB pool (`free_gib` free) and the given replicas JSON.
  void heartbeat(const std::string& node, const std::string& token, const std::string& replicas,
                 uint64_t free_gib = 50) {
    std::string body = R"({"applied_generation":1,"pools":[{"name":"default","provider":"file","thin":true,)"
                       R"("total_bytes":107374182400,"free_bytes":)" + std::to_string(free_gib << 30) +
                       R"(}],"replicas":)" + replicas + "}";
    auto r = call("PUT", "/v1/internal/nodes/" + node + "/status", body, token);
    ASSERT_TRUE(r && r->status == 204) << (r ? r->body : "no response");
  }

  void makeGroup(const std::string& name, int replicas, const std::string& quorum = "off") {
    auto r = call("POST", "/v1/resource-groups", R"({"name":")" + name + R"(","replicas":)" +
                                                      std::to_string(replicas) + R"(,"quorum":")" + quorum + "\"}");
    ASSERT_TRUE(r && r->status == 201) << r->body;
  }

  std::string dir_;
  std::map<std::string, std::string> drbd_tokens_;  // registerDrbdNodes's node tokens
  ManualClock clock_;
  std::unique_ptr<Store> store_;
  std::unique_ptr<ClusterService> cluster_;
  std::unique_ptr<ApiRouter> router_;
};

// Version and health need no token; everything else does, and a wrong token is refused.
// The scheme name "Bearer" is case-insensitive.
TEST_F(ApiRouterTest, AuthenticationIsRequired) {
  http::Request lower;
  lower.method = "GET";
  lower.path = "/v1/volumes";
  lower.headers["authorization"] = std::string("bearer ") + kAdmin;
  std::optional<http::Response> lower_response;
  router_->handle(lower, [&](http::Response r) { lower_response = std::move(r); });
  ASSERT_TRUE(lower_response);
  EXPECT_EQ(lower_response->status, 200);
  auto v = call("GET", "/v1/version", "", "");
  ASSERT_TRUE(v);
  EXPECT_EQ(v->status, 200);
  EXPECT_NE(v->body.find("\"api_version\":\"v1\""), std::string::npos);
  auto none = call("GET", "/v1/volumes", "", "");
  EXPECT_EQ(none->status, 401);
  EXPECT_EQ(errorCode(*none), "unauthenticated");
  auto wrong = call("GET", "/v1/volumes", "", "not-the-token");
  EXPECT_EQ(wrong->status, 401);
}

// A node's token opens its own internal routes only — not another node's, not the public API.
TEST_F(ApiRouterTest, NodeTokensAreScopedToTheirNode) {
  std::string t1 = registerNode("n1");
  registerNode("n2");
  EXPECT_EQ(call("PUT", "/v1/internal/nodes/n1/status", R"({"applied_generation":1})", t1)->status, 204);
  EXPECT_EQ(call("PUT", "/v1/internal/nodes/n2/status", R"({"applied_generation":1})", t1)->status, 401);
  auto forbidden = call("GET", "/v1/volumes", "", t1);
  EXPECT_EQ(forbidden->status, 403);
  EXPECT_EQ(errorCode(*forbidden), "permission_denied");
}

// Open paths refuse other methods with 405 before asking for a token; a node's token on an
// unknown operation of its own internal path is 404, another node's token there is 401.
TEST_F(ApiRouterTest, OpenPathsAndUnknownInternalOperations) {
  auto post_version = call("POST", "/v1/version", "", "");
  ASSERT_TRUE(post_version);
  EXPECT_EQ(post_version->status, 405);
  EXPECT_EQ(post_version->headers["allow"], "GET");
  std::string t1 = registerNode("n1");
  auto unknown = call("GET", "/v1/internal/nodes/n1/other", "", t1);
  EXPECT_EQ(unknown->status, 404);
  EXPECT_EQ(errorCode(*unknown), "route_not_found");
  EXPECT_EQ(call("GET", "/v1/internal/nodes/n2/other", "", t1)->status, 401);
  auto wrong_method = call("POST", "/v1/internal/nodes/n1/desired", "{}", t1);
  EXPECT_EQ(wrong_method->status, 405);
  EXPECT_EQ(wrong_method->headers["allow"], "GET");
}

// The full happy path: three nodes, a group, a 3-replica volume placed on all of them; the
// same create again returns the existing volume; each node's desired state lists its replica.
// The service token (Cinder, libvirt) manages volumes and reads pools and groups, nothing else;
// the join token only registers nodes. Both get 403 naming what they may do.
TEST_F(ApiRouterTest, ServiceAndJoinTokensAreScoped) {
  std::string body = R"({"name":"j1","address":"127.0.0.1","nbd_port":10809,"replication_port":7000,)"
                     R"("pools":[{"name":"default","provider":"file","total_bytes":107374182400,)"
                     R"("free_bytes":107374182400}]})";
  auto joined = call("POST", "/v1/nodes", body, kJoin);
  ASSERT_TRUE(joined && joined->status == 201) << joined->body;
  auto doc = json::parseObject(joined->body);
  ASSERT_TRUE(doc.isOk());
  std::string node_token = (*doc)["token"].GetString();
  EXPECT_EQ(call("PUT", "/v1/internal/nodes/j1/status", "{}", node_token)->status, 204);
  for (auto [method, path] : std::vector<std::pair<std::string, std::string>>{
           {"GET", "/v1/nodes"}, {"GET", "/v1/volumes"}, {"POST", "/v1/resource-groups"},
           {"GET", "/v1/internal/nodes/j1/desired"}, {"GET", "/metrics"}}) {
    auto r = call(method, path, "{}", kJoin);
    ASSERT_TRUE(r) << path;
    EXPECT_EQ(r->status, 403) << method << " " << path;
    EXPECT_EQ(errorCode(*r), "permission_denied");
    EXPECT_NE(r->body.find("only register nodes"), std::string::npos) << r->body;
  }

  registerNode("n1");
  makeGroup("single", 1);
  EXPECT_EQ(call("GET", "/v1/storage-pools", "", kService)->status, 200);
  EXPECT_EQ(call("GET", "/v1/resource-groups/single", "", kService)->status, 200);
  auto created = call("POST", "/v1/volumes", R"({"name":"v1","size_gib":1,"resource_group":"single"})", kService);
  ASSERT_TRUE(created);
  EXPECT_EQ(created->status, 201) << created->body;
  EXPECT_EQ(call("GET", "/v1/volumes/v1", "", kService)->status, 200);
  EXPECT_EQ(call("DELETE", "/v1/volumes/v1", "", kService)->status, 204);
  for (auto [method, path] : std::vector<std::pair<std::string, std::string>>{
           {"POST", "/v1/resource-groups"}, {"DELETE", "/v1/resource-groups/single"}, {"POST", "/v1/nodes"},
           {"GET", "/v1/nodes"}, {"GET", "/v1/internal/nodes/j1/desired"}, {"GET", "/metrics"}}) {
    auto r = call(method, path, R"({"name":"x"})", kService);
    ASSERT_TRUE(r) << path;
    EXPECT_EQ(r->status, 403) << method << " " << path;
    EXPECT_EQ(errorCode(*r), "permission_denied");
  }
  EXPECT_EQ(call("GET", "/v1/resource-groups/single")->status, 200) << "the refused delete left the group";
}

TEST_F(ApiRouterTest, CreatesThreeReplicaVolumeIdempotently) {
  registerNode("n1");
  registerNode("n2");
  registerNode("n3");
  makeGroup("triple", 3);
  std::string body = R"({"name":"vol1","size_bytes":1073741824,"resource_group":"triple"})";
  auto created = call("POST", "/v1/volumes", body);
  ASSERT_EQ(created->status, 201) << created->body;
  auto doc = json::parseObject(created->body);
  EXPECT_EQ((*doc)["replicas"].Size(), 3u);
  EXPECT_EQ(std::string((*doc)["state"].GetString()), "creating");
  auto again = call("POST", "/v1/volumes", body);
  EXPECT_EQ(again->status, 200);
  auto desired = call("GET", "/v1/internal/nodes/n2/desired?after=0");
  ASSERT_TRUE(desired);
  auto d = json::parseObject(desired->body);
  ASSERT_EQ((*d)["replicas"].Size(), 1u);
  EXPECT_EQ((*d)["replicas"][0]["peers"].Size(), 2u);
  EXPECT_TRUE((*d)["replicas"][0]["thin"].GetBool()) << "groups are thin by default";

  // delta=true after that state: a second volume comes as a delta covering it alone.
  const uint64_t generation = (*d)["generation"].GetUint64();
  ASSERT_EQ(call("POST", "/v1/volumes", R"({"name":"vol2","size_bytes":1048576,"resource_group":"triple"})")->status, 201);
  auto delta = call("GET", "/v1/internal/nodes/n2/desired?after=" + std::to_string(generation) + "&delta=true");
  ASSERT_EQ(delta->status, 200) << delta->body;
  auto dd = json::parseObject(delta->body);
  EXPECT_TRUE((*dd)["delta"].GetBool());
  ASSERT_EQ((*dd)["covers"].Size(), 1u);
  ASSERT_EQ((*dd)["replicas"].Size(), 1u);
  EXPECT_STREQ((*dd)["replicas"][0]["volume"]["name"].GetString(), "vol2");
  auto bad = call("GET", "/v1/internal/nodes/n2/desired?after=1&delta=yes");
  EXPECT_EQ(bad->status, 400);
  EXPECT_EQ(errorCode(*bad), "invalid_query");
}

// A mixed cluster (engine field, DRBD capability, allocation; issue 13): n1 and n2 report a
// loaded DRBD 9 module, n3 does not. A drbd group's volumes go only to n1/n2, get a minor,
// node-ids, ports and a shared secret that the nodes' desired state carries, and are refused with
// the reason naming n3 when they would need it; a native group beside it uses all three nodes.
// The numbers are freed with the replica and with the volume.
// A group change that would move a drbd volume's primary is refused (DRBD volumes have no
// planned handover: DRBD promotes whichever host opens the device), and nothing changes.
TEST_F(ApiRouterTest, DrbdVolumePrimaryIsNotMovedByAGroupChange) {
  registerDrbdNodes();
  ASSERT_EQ(call("POST", "/v1/resource-groups", R"({"name":"d1","replicas":1,"engine":"drbd","pools":["default"]})")
                ->status,
            201);
  ASSERT_EQ(call("POST", "/v1/resource-groups", R"({"name":"dfast","replicas":1,"engine":"drbd","pools":["fast"]})")
                ->status,
            201);
  ASSERT_EQ(call("POST", "/v1/volumes", R"({"name":"dm","size_gib":1,"resource_group":"d1"})")->status, 201);
  const std::string before = call("GET", "/v1/volumes/dm")->body;
  auto move = call("PATCH", "/v1/volumes/dm", R"({"resource_group":"dfast"})");
  EXPECT_EQ(move->status, 422) << move->body;
  EXPECT_EQ(errorCode(*move), "not_implemented");
  EXPECT_NE(move->body.find("cannot be moved by a group change"), std::string::npos) << move->body;
  EXPECT_EQ(call("GET", "/v1/volumes/dm")->body, before);
}

// A drbd volume over NBD (docs/drbd.md, NBD mode): its nbd_uri is its primary's export; an nbd
// attachment on a host without a replica makes that host a diskless client whose own NBD server
// exports the DRBD device (the node's desired state says so), and the attachment's and the
// volume's URIs name that host; detaching drops the client and the URI returns to the primary.
// A native volume keeps its URI. The volume list carries each volume's engine.
TEST_F(ApiRouterTest, DrbdVolumeIsServedOverNbdByItsPrimaryOrItsNbdAttachmentsHost) {
  registerDrbdNodes();
  ASSERT_EQ(call("POST", "/v1/resource-groups", R"({"name":"d1","replicas":1,"engine":"drbd","pools":["default"]})")
                ->status,
            201);
  ASSERT_EQ(call("POST", "/v1/resource-groups", R"({"name":"n1g","replicas":1,"pools":["default"]})")->status, 201);
  ASSERT_EQ(call("POST", "/v1/volumes", R"({"name":"dm","size_gib":1,"resource_group":"d1"})")->status, 201);
  ASSERT_EQ(call("POST", "/v1/volumes", R"({"name":"nm","size_gib":1,"resource_group":"n1g"})")->status, 201);
  auto dm = json::parseObject(call("GET", "/v1/volumes/dm")->body);
  EXPECT_EQ(std::string((*dm)["engine"].GetString()), "drbd");
  const std::string primary = (*dm)["primary_node"].GetString();
  ASSERT_NE(primary, "n3");  // n3 has no pool "default"
  const std::string primary_uri = "nbd://127.0.0.1:" + std::to_string(drbdNbdPort(primary)) + "/dm";
  EXPECT_EQ(std::string((*dm)["nbd_uri"].GetString()), primary_uri);
  auto nm = json::parseObject(call("GET", "/v1/volumes/nm")->body);
  EXPECT_EQ(std::string((*nm)["nbd_uri"].GetString()).rfind("nbd://127.0.0.1:1080", 0), 0u);
  auto list = json::parseObject(call("GET", "/v1/volumes")->body);
  ASSERT_EQ((*list)["volumes"].Size(), 2u);
  for (const auto& v : (*list)["volumes"].GetArray()) {
    const std::string name = v["name"].GetString();
    EXPECT_EQ(std::string(v["engine"].GetString()), name == "dm" ? "drbd" : "native") << name;
    EXPECT_FALSE(std::string(v["nbd_uri"].GetString()).empty()) << name;
  }

  auto nbd = call("POST", "/v1/volumes/dm/attachments", R"({"host":"n3","mode":"nbd"})");
  ASSERT_EQ(nbd->status, 201) << nbd->body;
  const std::string n3_uri = "nbd://127.0.0.1:" + std::to_string(drbdNbdPort("n3")) + "/dm";
  auto att = json::parseObject(nbd->body);
  EXPECT_EQ(std::string((*att)["connection_info"]["data"]["uri"].GetString()), n3_uri) << nbd->body;
  EXPECT_EQ(std::string((*att)["state"].GetString()), "attaching") << "until n3 reports its export";
  dm = json::parseObject(call("GET", "/v1/volumes/dm")->body);
  EXPECT_EQ(std::string((*dm)["nbd_uri"].GetString()), n3_uri);
  bool client = false;
  for (const auto& r : (*dm)["replicas"].GetArray()) {
    if (std::string(r["node"].GetString()) == "n3") client = !r["diskful"].GetBool();
  }
  EXPECT_TRUE(client) << "n3 is a diskless client of dm";
  auto desired = json::parseObject(call("GET", "/v1/internal/nodes/n3/desired?after=0")->body);
  ASSERT_TRUE(desired.isOk());
  ASSERT_EQ((*desired)["attachments"].Size(), 1u);
  const auto& d = (*desired)["attachments"][0];
  EXPECT_TRUE(d["nbd"].GetBool());
  EXPECT_EQ(std::string(d["nbd_export"].GetString()), "dm");
  EXPECT_EQ(d["nbd_port"].GetUint(), drbdNbdPort("n3"));
  bool diskless_here = false;
  for (const auto& h : d["drbd"]["hosts"].GetArray()) {
    if (std::string(h["node"].GetString()) == "n3") diskless_here = !h["diskful"].GetBool();
  }
  EXPECT_TRUE(diskless_here);
  auto primary_desired = json::parseObject(call("GET", "/v1/internal/nodes/" + primary + "/desired?after=0")->body);
  EXPECT_EQ((*primary_desired)["attachments"].Size(), 0u) << "the primary serves no nbd attachment";

  EXPECT_EQ(call("DELETE", "/v1/volumes/dm/attachments/n3")->status, 204);
  dm = json::parseObject(call("GET", "/v1/volumes/dm")->body);
  EXPECT_EQ(std::string((*dm)["nbd_uri"].GetString()), primary_uri);
  EXPECT_EQ((*dm)["replicas"].Size(), 1u) << "the client is gone";
  desired = json::parseObject(call("GET", "/v1/internal/nodes/n3/desired?after=0")->body);
  EXPECT_EQ((*desired)["attachments"].Size(), 0u);
}

// A drbd volume's cluster-wide snapshot through the real controller (drbd_snapshot.h): the
// diskful replicas' desired state carries the snapshot's phase, which advances only when every
// diskful replica's report shows the phase done (suspend → take → resume → available); the
// diskless tie-breaker takes no part. A snapshot that does not finish within
// --drbd-snapshot-timeout becomes `error` and leaves the desired state (everyone resumes).
TEST_F(ApiRouterTest, DrbdSnapshotPhasesAdvanceOnlyWhenEveryDiskfulReplicaIsDone) {
  registerDrbdNodes();
  ASSERT_EQ(call("POST", "/v1/resource-groups", R"({"name":"d2","replicas":2,"engine":"drbd","pools":["default"]})")
                ->status,
            201);
  auto created = call("POST", "/v1/volumes", R"({"name":"dv","size_gib":1,"resource_group":"d2"})");
  ASSERT_EQ(created->status, 201) << created->body;
  const std::string vol = (*json::parseObject(created->body))["uuid"].GetString();
  auto snap = call("POST", "/v1/volumes/dv/snapshots", R"({"name":"s1"})");
  ASSERT_EQ(snap->status, 201) << snap->body;
  const std::string s1 = (*json::parseObject(snap->body))["uuid"].GetString();
  // The phase `node`'s desired state gives dv ("" without a drbd_snapshot, "none" without dv).
  auto phaseOf = [&](const std::string& node) -> std::string {
    auto d = json::parseObject(call("GET", "/v1/internal/nodes/" + node + "/desired?after=0")->body);
    for (const auto& r : (*d)["replicas"].GetArray()) {
      if (std::string(r["volume"]["uuid"].GetString()) != vol) continue;
      if (!r.HasMember("drbd_snapshot")) return "";
      EXPECT_EQ(std::string(r["drbd_snapshot"].GetString()), s1);
      return r["drbd_snapshot_phase"].GetString();
    }
    return "none";
  };
  auto report = [&](const std::string& node, const std::string& snapshots, const std::string& suspended_for) {
    heartbeat(node, drbd_tokens_[node],
              R"([{"volume_uuid":")" + vol + R"(","disk":"up_to_date","primary":false,"snapshots":)" + snapshots +
                  (suspended_for.empty() ? "" : R"(,"suspended_for":")" + suspended_for + "\"") + "}]");
  };
  auto state = [&](const std::string& name) {
    return std::string((*json::parseObject(call("GET", "/v1/volumes/dv/snapshots/" + name)->body))["state"].GetString());
  };
  EXPECT_EQ(phaseOf("n1"), "suspend");
  EXPECT_EQ(phaseOf("n2"), "suspend");
  EXPECT_EQ(phaseOf("n3"), "") << "the diskless tie-breaker takes no part";
  report("n1", "[]", s1);
  EXPECT_EQ(phaseOf("n1"), "suspend") << "n2 has not suspended yet";
  report("n2", "[]", s1);
  EXPECT_EQ(phaseOf("n1"), "take");
  EXPECT_EQ(phaseOf("n2"), "take");
  report("n2", "[\"" + s1 + "\"]", s1);
  EXPECT_EQ(phaseOf("n2"), "take") << "n1 has not taken it yet";
  report("n1", "[\"" + s1 + "\"]", s1);
  EXPECT_EQ(phaseOf("n1"), "resume");
  report("n1", "[\"" + s1 + "\"]", "");
  EXPECT_EQ(state("s1"), "creating") << "n2 is still suspended";
  report("n2", "[\"" + s1 + "\"]", "");
  EXPECT_EQ(state("s1"), "available");
  EXPECT_EQ(phaseOf("n1"), "");

  // s2: n2 never suspends; past the timeout (30 s by default) the controller fails it.
  auto second = call("POST", "/v1/volumes/dv/snapshots", R"({"name":"s2"})");
  ASSERT_EQ(second->status, 201);
  report("n1", "[\"" + s1 + "\"]", (*json::parseObject(second->body))["uuid"].GetString());
  clock_.advance(std::chrono::seconds(29));
  cluster_->tick();
  EXPECT_EQ(state("s2"), "creating");
  clock_.advance(std::chrono::seconds(2));
  cluster_->tick();
  EXPECT_EQ(state("s2"), "error");
  auto view = json::parseObject(call("GET", "/v1/volumes/dv/snapshots/s2")->body);
  const std::string message = (*view)["reason"].GetString();
  EXPECT_NE(message.find("timed out in phase suspend"), std::string::npos) << message;
  auto d = call("GET", "/v1/internal/nodes/n1/desired?after=0")->body;
  EXPECT_EQ(d.find("drbd_snapshot"), std::string::npos) << "every replica resumes: " << d;
}

TEST_F(ApiRouterTest, DrbdGroupsPlaceOnCapableNodesAndCarryTheirAllocation) {
  std::map<std::string, std::string> tokens;
  for (const char* n : {"n1", "n2", "n3"}) tokens[n] = registerNode(n);
  auto report = [&](const std::string& node, bool drbd) {
    std::string body = R"({"applied_generation":1,"pools":[{"name":"default","provider":"file","thin":true,)"
                       R"("total_bytes":107374182400,"free_bytes":53687091200}],"replicas":[],"drbd":)" +
                       std::string(drbd ? R"({"loaded":true,"version":"9.2.8","reason":""})"
                                        : R"({"loaded":false,"version":null,"reason":"no /proc/drbd"})") +
                       "}";
    auto r = call("PUT", "/v1/internal/nodes/" + node + "/status", body, tokens[node]);
    ASSERT_TRUE(r && r->status == 204) << (r ? r->body : "no response");
  };
  report("n1", true);
  report("n2", true);
  report("n3", false);

  auto nodes = json::parseObject(call("GET", "/v1/nodes")->body);
  ASSERT_TRUE(nodes.isOk());
  for (const auto& n : (*nodes)["nodes"].GetArray()) {
    const bool capable = std::string(n["name"].GetString()) != "n3";
    EXPECT_EQ(n["drbd"]["loaded"].GetBool(), capable);
    EXPECT_EQ(n["drbd"]["version"].IsNull(), !capable);
    EXPECT_EQ(std::string(n["drbd"]["reason"].GetString()), capable ? "" : "no /proc/drbd");
  }

  auto bad_engine = call("POST", "/v1/resource-groups", R"({"name":"x","engine":"raid"})");
  EXPECT_EQ(bad_engine->status, 422) << bad_engine->body;
  EXPECT_EQ(errorCode(*bad_engine), "invalid_engine");
  auto group = call("POST", "/v1/resource-groups", R"({"name":"d","replicas":2,"engine":"drbd"})");
  ASSERT_EQ(group->status, 201) << group->body;
  EXPECT_NE(group->body.find(R"("engine":"drbd")"), std::string::npos) << group->body;
  EXPECT_NE(call("GET", "/v1/resource-groups/d")->body.find(R"("engine":"drbd")"), std::string::npos);
  makeGroup("native3", 3);

  auto native = call("POST", "/v1/volumes", R"({"name":"nv","size_gib":1,"resource_group":"native3"})");
  ASSERT_EQ(native->status, 201) << native->body;
  EXPECT_NE(native->body.find(R"("engine":"native")"), std::string::npos);
  auto dv = call("POST", "/v1/volumes", R"({"name":"dv","size_gib":1,"resource_group":"d"})");
  ASSERT_EQ(dv->status, 201) << dv->body;
  EXPECT_NE(dv->body.find(R"("engine":"drbd")"), std::string::npos);
  EXPECT_EQ(dv->body.find(R"("node":"n3")"), std::string::npos) << "n3 has no DRBD: " << dv->body;

  // The primary's desired state carries the DRBD resource.
  auto primaryOf = [&](const std::string& volume) {
    auto v = json::parseObject(call("GET", "/v1/volumes/" + volume)->body);
    return std::string((*v)["primary_node"].GetString());
  };
  auto desired = json::parseObject(call("GET", "/v1/internal/nodes/" + primaryOf("dv") + "/desired?after=0")->body);
  ASSERT_TRUE(desired.isOk());
  const rapidjson::Value* replica = nullptr;
  for (const auto& r : (*desired)["replicas"].GetArray()) {
    if (std::string(r["volume"]["name"].GetString()) == "dv") replica = &r;
    if (std::string(r["volume"]["name"].GetString()) == "nv") {
      EXPECT_FALSE(r.HasMember("drbd")) << "native";
    }
  }
  ASSERT_NE(replica, nullptr);
  ASSERT_TRUE(replica->HasMember("drbd"));
  const auto& res = (*replica)["drbd"];
  EXPECT_EQ(std::string(res["resource"].GetString()), "dv");
  EXPECT_EQ(res["minor"].GetUint64(), 1000u);
  EXPECT_EQ(std::string(res["shared_secret"].GetString()).size(), 32u);
  ASSERT_EQ(res["hosts"].Size(), 2u);
  std::set<uint64_t> ids;
  for (const auto& h : res["hosts"].GetArray()) {
    EXPECT_NE(std::string(h["node"].GetString()), "n3");
    EXPECT_EQ(std::string(h["address"].GetString()), "127.0.0.1");
    EXPECT_EQ(h["port"].GetUint64(), 7000u) << "the lowest free port of each node";
    EXPECT_TRUE(h["diskful"].GetBool());
    ids.insert(h["node_id"].GetUint64());
  }
  EXPECT_EQ(ids, (std::set<uint64_t>{0, 1}));

  // A third replica would need n3: refused, naming it and why; nothing changes.
  auto grow = call("PATCH", "/v1/volumes/dv", R"({"replicas":3})");
  EXPECT_EQ(grow->status, 422) << grow->body;
  EXPECT_EQ(errorCode(*grow), "drbd_not_available");
  EXPECT_NE(grow->body.find("node 'n3': no /proc/drbd"), std::string::npos) << grow->body;
  // Moving a volume between engines is refused.
  auto regroup = call("PATCH", "/v1/volumes/dv", R"({"resource_group":"native3"})");
  EXPECT_EQ(regroup->status, 422) << regroup->body;
  EXPECT_EQ(errorCode(*regroup), "engine_change_unsupported");

  // n3 loads the module: the third replica is placed there with the next node-id.
  report("n3", true);
  ASSERT_EQ(call("PATCH", "/v1/volumes/dv", R"({"replicas":3})")->status, 200);
  auto allocations = store_->listDrbdAllocations();
  ASSERT_TRUE(allocations.isOk());
  ASSERT_EQ(allocations->size(), 1u);
  ASSERT_EQ(allocations->at(0).replicas.size(), 3u);
  EXPECT_EQ(allocations->at(0).replicas.back().node, "n3");
  EXPECT_EQ(allocations->at(0).replicas.back().node_id, 2u);
  auto on_n3 = json::parseObject(call("GET", "/v1/internal/nodes/n3/desired?after=0")->body);
  bool n3_has_resource = false;
  for (const auto& r : (*on_n3)["replicas"].GetArray()) {
    if (std::string(r["volume"]["name"].GetString()) == "dv") n3_has_resource = r["drbd"]["hosts"].Size() == 3;
  }
  EXPECT_TRUE(n3_has_resource);
  // Back to two replicas: the removed replica's numbers are freed; deleting the volume frees the rest.
  ASSERT_EQ(call("PATCH", "/v1/volumes/dv", R"({"replicas":2})")->status, 200);
  allocations = store_->listDrbdAllocations();
  ASSERT_EQ(allocations->at(0).replicas.size(), 2u);
  ASSERT_EQ(call("DELETE", "/v1/volumes/dv")->status, 204);
  EXPECT_TRUE(store_->listDrbdAllocations()->empty());

  // With a third DRBD node, a two-replica volume gets it as a diskless tie-breaker (quorum needs
  // three voters): a diskless replica with its own node-id and port, in every host's resource.
  auto tied = call("POST", "/v1/volumes", R"({"name":"dt","size_gib":1,"resource_group":"d"})");
  ASSERT_EQ(tied->status, 201) << tied->body;
  auto tied_view = json::parseObject(tied->body);
  ASSERT_EQ((*tied_view)["replicas"].Size(), 3u);
  int diskless = 0;
  std::string tie_node;
  for (const auto& r : (*tied_view)["replicas"].GetArray()) {
    if (!r["diskful"].GetBool()) {
      ++diskless;
      tie_node = r["node"].GetString();
    }
  }
  EXPECT_EQ(diskless, 1);
  auto tie_desired = json::parseObject(call("GET", "/v1/internal/nodes/" + tie_node + "/desired?after=0")->body);
  const rapidjson::Value* tie_replica = nullptr;
  for (const auto& r : (*tie_desired)["replicas"].GetArray()) {
    if (std::string(r["volume"]["name"].GetString()) == "dt") tie_replica = &r;
  }
  ASSERT_NE(tie_replica, nullptr);
  const auto& tie_res = (*tie_replica)["drbd"];
  ASSERT_EQ(tie_res["hosts"].Size(), 3u);
  for (const auto& h : tie_res["hosts"].GetArray()) {
    EXPECT_EQ(h["diskful"].GetBool(), std::string(h["node"].GetString()) != tie_node);
  }
  ASSERT_EQ(store_->listDrbdAllocations()->at(0).replicas.size(), 3u);

  // A block attachment on a host without a replica makes it a diskless DRBD client (a node-id
  // and port of its own; its desired state has the resource and the attachment); detaching
  // removes the client again. n4 has no DRBD: refused, saying why.
  tokens["n4"] = registerNode("n4");
  report("n4", false);
  report("n1", true);
  report("n2", true);
  report("n3", true);
  auto no_drbd = call("POST", "/v1/volumes/dt/attachments", R"({"host":"n4","mode":"block"})");
  EXPECT_EQ(no_drbd->status, 422) << no_drbd->body;
  EXPECT_EQ(errorCode(*no_drbd), "drbd_not_available");
  EXPECT_NE(no_drbd->body.find("no /proc/drbd"), std::string::npos) << no_drbd->body;
  report("n4", true);
  auto attached = call("POST", "/v1/volumes/dt/attachments", R"({"host":"n4","mode":"block"})");
  ASSERT_EQ(attached->status, 201) << attached->body;
  ASSERT_EQ(store_->listDrbdAllocations()->at(0).replicas.size(), 4u);
  auto on_n4 = json::parseObject(call("GET", "/v1/internal/nodes/n4/desired?after=0")->body);
  ASSERT_EQ((*on_n4)["replicas"].Size(), 1u);
  ASSERT_EQ((*on_n4)["attachments"].Size(), 1u);
  EXPECT_TRUE((*on_n4)["attachments"][0].HasMember("drbd"));
  bool n4_diskless = false;
  for (const auto& h : (*on_n4)["replicas"][0]["drbd"]["hosts"].GetArray()) {
    if (std::string(h["node"].GetString()) == "n4") n4_diskless = !h["diskful"].GetBool();
  }
  EXPECT_TRUE(n4_diskless);
  // n4 applies the detach and reports no device: the client goes with the attachment.
  std::optional<http::Response> detached;
  http::Request detach;
  detach.method = "DELETE";
  detach.path = "/v1/volumes/dt/attachments/n4";
  detach.headers["authorization"] = "Bearer " + std::string(kAdmin);
  router_->handle(detach, [&](http::Response r) { detached = std::move(r); });
  std::string body = R"({"applied_generation":1000,"pools":[],"replicas":[],)"
                     R"("drbd":{"loaded":true,"version":"9.2.8","reason":""}})";
  ASSERT_EQ(call("PUT", "/v1/internal/nodes/n4/status", body, tokens["n4"])->status, 204);
  ASSERT_TRUE(detached.has_value());
  EXPECT_EQ(detached->status, 204) << detached->body;
  ASSERT_EQ(store_->listDrbdAllocations()->at(0).replicas.size(), 3u);
  ASSERT_EQ(call("DELETE", "/v1/volumes/dt")->status, 204);

  // A drbd group that needs more capable nodes than exist is refused with the reason.
  report("n3", false);
  ASSERT_EQ(call("POST", "/v1/resource-groups", R"({"name":"d3","replicas":3,"engine":"drbd"})")->status, 201);
  auto refused = call("POST", "/v1/volumes", R"({"name":"dv3","size_gib":1,"resource_group":"d3"})");
  EXPECT_EQ(refused->status, 422) << refused->body;
  EXPECT_EQ(errorCode(*refused), "drbd_not_available");
  EXPECT_NE(refused->body.find("node 'n3': no /proc/drbd"), std::string::npos) << refused->body;
}

// Bad requests get precise errors with the right status and create nothing.
TEST_F(ApiRouterTest, BadInputIsRejectedPrecisely) {
  registerNode("n1");
  registerNode("n2");
  makeGroup("pair", 2);
  makeGroup("triple", 3);
  struct Case {
    std::string body;
    int status;
    std::string code;
  } cases[] = {
      {"{not json", 400, "malformed_json"},
      {"[1,2]", 400, "malformed_json"},
      {R"({"name":"v","size_bytes":"big","resource_group":"pair"})", 400, "invalid_field"},
      {R"({"name":"../etc","size_bytes":4096,"resource_group":"pair"})", 400, "invalid_field"},
      {R"({"name":"v","size_bytes":4096,"resource_group":"pair","colour":"red"})", 400, "unknown_field"},
      {R"({"name":"v","size_bytes":1000,"resource_group":"pair"})", 400, "invalid_field"},
      {R"({"name":"v","size_bytes":4096,"resource_group":"nope"})", 404, "resource_group_not_found"},
      {R"({"name":"v","size_bytes":1099511627776000,"resource_group":"pair"})", 422, "volume_too_large"},
      {R"({"name":"v","size_bytes":4096,"resource_group":"triple"})", 422, "not_enough_nodes"},
      {R"({"name":"v","size_gib":17179869184,"resource_group":"pair"})", 400, "invalid_field"},
  };
  for (const auto& c : cases) {
    auto r = call("POST", "/v1/volumes", c.body);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, c.status) << c.body << " -> " << r->body;
    EXPECT_EQ(errorCode(*r), c.code) << c.body;
  }
  EXPECT_TRUE(store_->listVolumes()->empty());
  ASSERT_EQ(call("POST", "/v1/volumes", R"({"name":"v","size_gib":1,"resource_group":"pair"})")->status, 201);
  auto other_size = call("POST", "/v1/volumes", R"({"name":"v","size_gib":2,"resource_group":"pair"})");
  EXPECT_EQ(other_size->status, 409);
  EXPECT_EQ(errorCode(*other_size), "volume_exists");
  auto missing = call("GET", "/v1/volumes/ghost");
  EXPECT_EQ(missing->status, 404);
  EXPECT_EQ(errorCode(*missing), "volume_not_found");
  EXPECT_EQ(call("DELETE", "/v1/resource-groups/pair")->status, 409);
  auto bad_label = call("POST", "/v1/resource-groups", R"({"name":"g2","replicas_on_different":["rack,room"]})");
  EXPECT_EQ(bad_label->status, 400);
  EXPECT_EQ(errorCode(*bad_label), "invalid_field");
  auto patch = call("PATCH", "/v1/volumes");
  EXPECT_EQ(patch->status, 405);
  EXPECT_EQ(patch->headers["allow"], "GET, POST");
  EXPECT_EQ(errorCode(*patch), "method_not_allowed");
}

// Thick volumes placed but not yet reported still count against their pool, so creates that
// arrive between two heartbeats cannot overcommit it; thin volumes do not reserve space.
TEST_F(ApiRouterTest, ThickPlacementsReserveSpaceUntilReported) {
  registerNode("n1", /*free_gib=*/10);
  ASSERT_EQ(call("POST", "/v1/resource-groups", R"({"name":"thick","replicas":1,"thin":false})")->status, 201);
  makeGroup("thin", 1);
  ASSERT_EQ(call("POST", "/v1/volumes", R"({"name":"a","size_gib":6,"resource_group":"thick"})")->status, 201);
  auto second = call("POST", "/v1/volumes", R"({"name":"b","size_gib":6,"resource_group":"thick"})");
  EXPECT_EQ(second->status, 422) << second->body;
  EXPECT_EQ(errorCode(*second), "not_enough_nodes");
  // 4 GiB left: two thin 3 GiB volumes both fit (thin volumes allocate on write).
  EXPECT_EQ(call("POST", "/v1/volumes", R"({"name":"c","size_gib":3,"resource_group":"thin"})")->status, 201);
  EXPECT_EQ(call("POST", "/v1/volumes", R"({"name":"d","size_gib":3,"resource_group":"thin"})")->status, 201);
}

// /metrics serves Prometheus text with every state listed and live pool figures; admin only.
TEST_F(ApiRouterTest, MetricsExposeStatesAndPools) {
  std::string t1 = registerNode("n1");
  makeGroup("single", 1);
  ASSERT_EQ(call("POST", "/v1/volumes", R"({"name":"v","size_gib":1,"resource_group":"single"})")->status, 201);
  auto m = call("GET", "/metrics");
  ASSERT_EQ(m->status, 200) << m->body;
  EXPECT_EQ(m->content_type, "text/plain; version=0.0.4");
  EXPECT_NE(m->body.find("tandem_nodes{state=\"online\"} 1\n"), std::string::npos) << m->body;
  EXPECT_NE(m->body.find("tandem_volumes{state=\"creating\"} 1\n"), std::string::npos) << m->body;
  EXPECT_NE(m->body.find("tandem_volumes{state=\"degraded\"} 0\n"), std::string::npos) << m->body;
  EXPECT_NE(m->body.find("tandem_pool_free_bytes{node=\"n1\",pool=\"default\",provider=\"file\"} 107374182400\n"),
            std::string::npos) << m->body;
  EXPECT_NE(m->body.find("# TYPE tandem_replicas gauge"), std::string::npos);
  EXPECT_EQ(call("GET", "/metrics", "", "")->status, 401);
  EXPECT_EQ(call("GET", "/metrics", "", t1)->status, 403);
}

// A long-poll's answer, given from the service's answering thread (shared: it outlives a test
// that fails before the answer comes).
struct PendingAnswer {
  std::mutex mu;
  std::condition_variable cv;
  std::optional<http::Response> response;
  http::Responder responder(const std::shared_ptr<PendingAnswer>& self) {
    return [self](http::Response r) {
      std::lock_guard lock(self->mu);
      self->response = std::move(r);
      self->cv.notify_all();
    };
  }
  // The answer, waiting up to `wait` for it.
  std::optional<http::Response> get(std::chrono::milliseconds wait = std::chrono::seconds(10)) {
    std::unique_lock lock(mu);
    cv.wait_for(lock, wait, [&] { return response.has_value(); });
    return response;
  }
};

// The desired-state long-poll waits for a change, answers when one lands, and expires.
TEST_F(ApiRouterTest, DesiredStateLongPollWakesOnChangeAndExpires) {
  std::string t1 = registerNode("n1");
  makeGroup("single", 1);
  auto first = call("GET", "/v1/internal/nodes/n1/desired?after=0", "", t1);
  ASSERT_TRUE(first);
  uint64_t gen = (*json::parseObject(first->body))["generation"].GetUint64();
  auto pending = std::make_shared<PendingAnswer>();
  http::Request req;
  req.method = "GET";
  req.path = "/v1/internal/nodes/n1/desired";
  req.query = {{"after", std::to_string(gen)}, {"wait", "30"}};
  req.headers["authorization"] = "Bearer " + t1;
  router_->handle(req, pending->responder(pending));
  EXPECT_FALSE(pending->get(std::chrono::milliseconds(0))) << "must wait while nothing changed";
  ASSERT_EQ(call("POST", "/v1/volumes", R"({"name":"v","size_gib":1,"resource_group":"single"})")->status, 201);
  auto woken = pending->get();
  ASSERT_TRUE(woken) << "a new volume must wake the poll";
  ASSERT_EQ(woken->status, 200) << woken->body;
  auto d = json::parseObject(woken->body);
  EXPECT_GT((*d)["generation"].GetUint64(), gen);
  EXPECT_EQ((*d)["replicas"].Size(), 1u);

  auto idle = std::make_shared<PendingAnswer>();
  req.query["after"] = std::to_string((*d)["generation"].GetUint64());
  router_->handle(req, idle->responder(idle));
  EXPECT_FALSE(idle->get(std::chrono::milliseconds(0)));
  clock_.advance(std::chrono::seconds(31));
  cluster_->tick();
  EXPECT_TRUE(idle->get()) << "an expired poll is answered with the unchanged state";
}

// A node that stops reporting is marked offline, and its volumes are degraded.
TEST_F(ApiRouterTest, SilentNodeGoesOfflineAndVolumeDegrades) {
  std::string t1 = registerNode("n1");
  makeGroup("single", 1);
  auto created = call("POST", "/v1/volumes", R"({"name":"v","size_gib":1,"resource_group":"single"})");
  std::string uuid = (*json::parseObject(created->body))["uuid"].GetString();
  std::string report = R"({"applied_generation":9,"replicas":[{"volume_uuid":")" + uuid +
                       R"(","disk":"up_to_date","primary":true}]})";
  ASSERT_EQ(call("PUT", "/v1/internal/nodes/n1/status", report, t1)->status, 204);
  auto available = call("GET", "/v1/volumes/v");
  EXPECT_NE(available->body.find("\"state\":\"available\""), std::string::npos);
  EXPECT_NE(available->body.find("\"sync_progress\":1.0"), std::string::npos) << available->body;
  clock_.advance(std::chrono::seconds(7));
  cluster_->tick();
  EXPECT_NE(call("GET", "/v1/nodes/n1")->body.find("\"state\":\"offline\""), std::string::npos);
  auto v = call("GET", "/v1/volumes/v");
  EXPECT_NE(v->body.find("\"state\":\"degraded\""), std::string::npos) << v->body;
}

// Re-registering with the same identity keeps the uuid and issues a new token; another
// identity cannot take the name.
TEST_F(ApiRouterTest, ReRegistrationKeepsIdentity) {
  auto first = call("POST", "/v1/nodes", R"({"name":"n1","address":"a","nbd_port":1,"replication_port":2})");
  ASSERT_EQ(first->status, 201);
  std::string uuid = (*json::parseObject(first->body))["node"]["uuid"].GetString();
  std::string old_token = (*json::parseObject(first->body))["token"].GetString();
  auto again = call("POST", "/v1/nodes", R"({"name":"n1","uuid":")" + uuid + R"(","address":"b","nbd_port":1,"replication_port":2})");
  ASSERT_EQ(again->status, 200) << again->body;
  EXPECT_EQ(std::string((*json::parseObject(again->body))["node"]["uuid"].GetString()), uuid);
  EXPECT_EQ(call("PUT", "/v1/internal/nodes/n1/status", "{}", old_token)->status, 401);
  auto thief = call("POST", "/v1/nodes", R"({"name":"n1","address":"c","nbd_port":1,"replication_port":2})");
  EXPECT_EQ(thief->status, 409);
  EXPECT_EQ(errorCode(*thief), "node_exists");
}

}  // namespace
}  // namespace tandem::controller

namespace tandem::controller {
namespace {

std::vector<std::string> replicaNodes(const std::string& volume_json) {
  std::vector<std::string> nodes;
  auto doc = json::parseObject(volume_json);
  for (const auto& r : (*doc)["replicas"].GetArray()) nodes.push_back(r["node"].GetString());
  std::sort(nodes.begin(), nodes.end());
  return nodes;
}

// Self-healing: a secondary whose node stays offline past replace_after, and that the primary no
// longer counts as up to date, is re-created on another node; the new node's desired state gets
// it, the old node's loses it. Not before the grace period, and not while the primary still has
// the replica up to date.
TEST_F(ApiRouterTest, LostSecondaryIsReplacedAfterGracePeriod) {
  useClusterOptions({std::chrono::seconds(6), std::chrono::seconds(60)});
  std::map<std::string, std::string> tokens;
  for (auto [name, free] : std::vector<std::pair<std::string, uint64_t>>{{"n1", 90}, {"n2", 80}, {"n3", 70}, {"n4", 10}}) {
    tokens[name] = registerNode(name, free);
  }
  makeGroup("triple", 3);
  auto created = call("POST", "/v1/volumes", R"({"name":"v","size_gib":1,"resource_group":"triple"})");
  ASSERT_EQ(created->status, 201) << created->body;
  std::string uuid = (*json::parseObject(created->body))["uuid"].GetString();
  ASSERT_EQ(replicaNodes(created->body), (std::vector<std::string>{"n1", "n2", "n3"}));
  auto primaryReport = [&](const std::string& n3_state) {
    return R"([{"volume_uuid":")" + uuid + R"(","disk":"up_to_date","primary":true,"peers":[)"
           R"({"node":"n2","state":"up_to_date"},{"node":"n3","state":")" + n3_state + R"("}]}])";
  };
  const std::string secondary = R"([{"volume_uuid":")" + uuid + R"(","disk":"up_to_date"}])";
  // n3 goes silent; the others keep reporting every 5 s.
  auto pass = [&](int seconds, const std::string& n3_state) {
    for (int t = 0; t < seconds; t += 5) {
      clock_.advance(std::chrono::seconds(5));
      heartbeat("n1", tokens["n1"], primaryReport(n3_state));
      heartbeat("n2", tokens["n2"], secondary);
      heartbeat("n4", tokens["n4"], "[]", 10);
      cluster_->tick();
    }
  };
  pass(55, "disconnected");
  EXPECT_EQ(replicaNodes(call("GET", "/v1/volumes/v")->body), (std::vector<std::string>{"n1", "n2", "n3"}))
      << "replaced before the grace period";
  EXPECT_NE(call("GET", "/metrics")->body.find("\ntandem_replicas_replaced_total 0\n"), std::string::npos);
  // A node can be removed only when it is offline and holds nothing.
  auto online = call("DELETE", "/v1/nodes/n1");
  EXPECT_EQ(online->status, 409);
  EXPECT_EQ(errorCode(*online), "node_online");
  auto in_use = call("DELETE", "/v1/nodes/n3");
  EXPECT_EQ(in_use->status, 409);
  EXPECT_EQ(errorCode(*in_use), "node_in_use");
  EXPECT_NE(in_use->body.find("1 replica(s)"), std::string::npos) << in_use->body;
  pass(20, "up_to_date");
  EXPECT_EQ(replicaNodes(call("GET", "/v1/volumes/v")->body), (std::vector<std::string>{"n1", "n2", "n3"}))
      << "replaced although the primary still has it up to date";
  uint64_t generation = *store_->generation();
  pass(5, "disconnected");
  auto healed = call("GET", "/v1/volumes/v");
  EXPECT_EQ(replicaNodes(healed->body), (std::vector<std::string>{"n1", "n2", "n4"})) << healed->body;
  EXPECT_GT(*store_->generation(), generation);
  auto desired4 = call("GET", "/v1/internal/nodes/n4/desired?after=0", "", tokens["n4"]);
  EXPECT_NE(desired4->body.find(uuid), std::string::npos) << desired4->body;
  auto desired1 = call("GET", "/v1/internal/nodes/n1/desired?after=0", "", tokens["n1"]);
  EXPECT_NE(desired1->body.find("\"node\":\"n4\""), std::string::npos) << desired1->body;
  EXPECT_EQ(desired1->body.find("\"node\":\"n3\""), std::string::npos) << desired1->body;
  auto desired3 = call("GET", "/v1/internal/nodes/n3/desired?after=0", "", tokens["n3"]);
  EXPECT_EQ(desired3->body.find(uuid), std::string::npos) << desired3->body;
  EXPECT_NE(call("GET", "/metrics")->body.find("\ntandem_replicas_replaced_total 1\n"), std::string::npos);
  // Now n3 holds nothing: it can be forgotten, pools and all.
  EXPECT_EQ(call("DELETE", "/v1/nodes/n3")->status, 204);
  EXPECT_EQ(call("GET", "/v1/nodes/n3")->status, 404);
  EXPECT_EQ(call("GET", "/v1/storage-pools")->body.find("\"node\":\"n3\""), std::string::npos);
  EXPECT_EQ(errorCode(*call("DELETE", "/v1/nodes/n3")), "node_not_found");
}

// Just after a restart the controller has no observed state: a create that cannot be placed
// because registered nodes have not reported yet is 503 controller_starting (retry), not 422;
// once they report, it succeeds. After the grace period it is a plain 422 again.
TEST_F(ApiRouterTest, CreateRightAfterRestartAsksToRetry) {
  std::string t1 = registerNode("n1");
  makeGroup("single", 1);
  useClusterOptions({std::chrono::seconds(6), std::chrono::seconds(0)});  // a restarted controller
  auto early = call("POST", "/v1/volumes", R"({"name":"v","size_gib":1,"resource_group":"single"})");
  EXPECT_EQ(early->status, 503) << early->body;
  EXPECT_EQ(errorCode(*early), "controller_starting");
  EXPECT_NE(early->body.find("1 node(s) have not reported yet"), std::string::npos) << early->body;
  EXPECT_EQ(call("GET", "/v1/volumes/v")->status, 404);
  heartbeat("n1", t1, "[]");
  EXPECT_EQ(call("POST", "/v1/volumes", R"({"name":"v","size_gib":1,"resource_group":"single"})")->status, 201);

  useClusterOptions({std::chrono::seconds(6), std::chrono::seconds(0)});
  clock_.advance(std::chrono::seconds(7));
  auto late = call("POST", "/v1/volumes", R"({"name":"w","size_gib":1,"resource_group":"single"})");
  EXPECT_EQ(late->status, 422) << late->body;
  EXPECT_EQ(errorCode(*late), "not_enough_nodes");
}

// Promotion: only when the primary's node is gone, only to an up-to-date replica, and without
// force only in a group with quorum, when the old primary last counted it up to date and no
// reporting copy diverged.
TEST_F(ApiRouterTest, PromotionReplacesAGonePrimarySafely) {
  std::map<std::string, std::string> tokens;
  for (auto [name, free] : std::vector<std::pair<std::string, uint64_t>>{{"n1", 90}, {"n2", 80}, {"n3", 70}, {"n4", 10}}) {
    tokens[name] = registerNode(name, free);
  }
  makeGroup("triple", 3, "majority");
  auto created = call("POST", "/v1/volumes", R"({"name":"v","size_gib":1,"resource_group":"triple"})");
  std::string uuid = (*json::parseObject(created->body))["uuid"].GetString();
  auto secondary = [&](const std::string& generation, const std::string& disk = "up_to_date") {
    return R"([{"volume_uuid":")" + uuid + R"(","disk":")" + disk + R"(","generation":")" + generation + R"("}])";
  };
  heartbeat("n1", tokens["n1"], R"([{"volume_uuid":")" + uuid + R"(","disk":"up_to_date","primary":true,)"
                                R"("generation":"g1","peers":[{"node":"n2","state":"up_to_date"},)"
                                R"({"node":"n3","state":"up_to_date"}]}])");
  heartbeat("n2", tokens["n2"], secondary("g1"));
  heartbeat("n3", tokens["n3"], secondary("g1"));
  auto promote = [&](const std::string& body, const std::string& token = kAdmin) {
    return call("POST", "/v1/volumes/v/promote", body, token);
  };
  auto online = promote(R"({"node":"n2"})");
  EXPECT_EQ(online->status, 409);
  EXPECT_EQ(errorCode(*online), "primary_online");

  // n1 goes silent.
  for (int t = 0; t < 10; t += 5) {
    clock_.advance(std::chrono::seconds(5));
    heartbeat("n2", tokens["n2"], secondary("g1"));
    heartbeat("n3", tokens["n3"], secondary("g2"));
    heartbeat("n4", tokens["n4"], "[]", 10);
    cluster_->tick();
  }
  EXPECT_EQ(errorCode(*promote(R"({"node":"n4"})")), "replica_not_found");
  EXPECT_EQ(errorCode(*promote(R"({"node":"n2","colour":1})")), "unknown_field");
  EXPECT_EQ(promote(R"({"node":"n2"})", kService)->status, 403);
  auto diverged = promote(R"({"node":"n2"})");
  EXPECT_EQ(diverged->status, 409);
  EXPECT_EQ(errorCode(*diverged), "promotion_unsafe");
  EXPECT_NE(diverged->body.find("diverged"), std::string::npos) << diverged->body;
  heartbeat("n3", tokens["n3"], secondary("g1", "inconsistent"));
  auto inconsistent = promote(R"({"node":"n3","force":true})");
  EXPECT_EQ(errorCode(*inconsistent), "replica_not_up_to_date") << "force never promotes an inconsistent copy";

  heartbeat("n3", tokens["n3"], secondary("g1"));
  uint64_t generation = *store_->generation();
  auto promoted = promote(R"({"node":"n2"})");
  ASSERT_EQ(promoted->status, 200) << promoted->body;
  EXPECT_NE(promoted->body.find("\"primary_node\":\"n2\""), std::string::npos) << promoted->body;
  EXPECT_EQ(store_->getVolume("v")->epoch, 2u);
  EXPECT_GT(*store_->generation(), generation);
  auto desired2 = call("GET", "/v1/internal/nodes/n2/desired?after=0", "", tokens["n2"]);
  EXPECT_NE(desired2->body.find("\"primary\":true"), std::string::npos) << desired2->body;
  EXPECT_NE(desired2->body.find("\"epoch\":2"), std::string::npos) << desired2->body;
  EXPECT_EQ(promote(R"({"node":"n2"})")->status, 200) << "promoting the current primary is a no-op";
  EXPECT_EQ(store_->getVolume("v")->epoch, 2u);
}

// After a controller restart there is no report of the old primary: promotion needs force.
TEST_F(ApiRouterTest, PromotionWithoutEvidenceNeedsForce) {
  std::map<std::string, std::string> tokens;
  for (auto [name, free] : std::vector<std::pair<std::string, uint64_t>>{{"n1", 90}, {"n2", 80}}) {
    tokens[name] = registerNode(name, free);
  }
  makeGroup("pair", 2, "majority");
  auto created = call("POST", "/v1/volumes", R"({"name":"v","size_gib":1,"resource_group":"pair"})");
  std::string uuid = (*json::parseObject(created->body))["uuid"].GetString();
  useClusterOptions({std::chrono::seconds(6), std::chrono::seconds(0)});  // restarted: nothing observed
  heartbeat("n2", tokens["n2"], R"([{"volume_uuid":")" + uuid + R"(","disk":"up_to_date","generation":"g1"}])");
  auto unsafe = call("POST", "/v1/volumes/v/promote", R"({"node":"n2"})");
  EXPECT_EQ(errorCode(*unsafe), "promotion_unsafe");
  EXPECT_NE(unsafe->body.find("no report from the old primary"), std::string::npos) << unsafe->body;
  auto forced = call("POST", "/v1/volumes/v/promote", R"({"node":"n2","force":true})");
  EXPECT_EQ(forced->status, 200) << forced->body;
  EXPECT_EQ(store_->getVolume("v")->primary_node, "n2");
}

// Several lost replicas healed in one pass share the spare node's space: thick replicas never
// overcommit it, within a pass or across passes.
TEST_F(ApiRouterTest, HealingPassDoesNotOvercommitTheSpare) {
  useClusterOptions({std::chrono::seconds(6), std::chrono::seconds(60)});
  std::map<std::string, std::string> tokens;
  for (auto [name, free] : std::vector<std::pair<std::string, uint64_t>>{{"n1", 90}, {"n2", 80}, {"n4", 1}}) {
    tokens[name] = registerNode(name, free);
  }
  ASSERT_EQ(call("POST", "/v1/resource-groups", R"({"name":"thick","replicas":2,"thin":false})")->status, 201);
  std::vector<std::string> uuids;
  for (const char* name : {"a", "b"}) {
    auto r = call("POST", "/v1/volumes", std::string(R"({"name":")") + name +
                                             R"(","size_bytes":805306368,"resource_group":"thick"})");
    ASSERT_EQ(r->status, 201) << r->body;
    ASSERT_EQ(replicaNodes(r->body), (std::vector<std::string>{"n1", "n2"}));
    uuids.push_back((*json::parseObject(r->body))["uuid"].GetString());
  }
  std::string primary = "[";
  for (const auto& u : uuids) {
    primary += std::string(primary.size() > 1 ? "," : "") + R"({"volume_uuid":")" + u +
               R"(","disk":"up_to_date","primary":true,"peers":[{"node":"n2","state":"disconnected"}]})";
  }
  primary += "]";
  for (int t = 0; t < 80; t += 5) {
    clock_.advance(std::chrono::seconds(5));
    heartbeat("n1", tokens["n1"], primary);
    heartbeat("n4", tokens["n4"], "[]", 1);
    cluster_->tick();
  }
  int on_spare = 0;
  for (const char* name : {"a", "b"}) {
    auto nodes = replicaNodes(call("GET", std::string("/v1/volumes/") + name)->body);
    on_spare += std::count(nodes.begin(), nodes.end(), "n4");
  }
  EXPECT_EQ(on_spare, 1) << "the 1 GiB spare holds one 768 MiB thick replica, not two";
  EXPECT_NE(call("GET", "/metrics")->body.find("\ntandem_replicas_replaced_total 1\n"), std::string::npos);
}

// With the primary itself offline there is nothing to resync from: nothing is moved.
TEST_F(ApiRouterTest, NoReplacementWithoutAnOnlinePrimary) {
  useClusterOptions({std::chrono::seconds(6), std::chrono::seconds(10)});
  std::map<std::string, std::string> tokens;
  for (auto [name, free] : std::vector<std::pair<std::string, uint64_t>>{{"n1", 90}, {"n2", 80}, {"n3", 10}}) {
    tokens[name] = registerNode(name, free);
  }
  makeGroup("pair", 2);
  auto created = call("POST", "/v1/volumes", R"({"name":"v","size_gib":1,"resource_group":"pair"})");
  ASSERT_EQ(replicaNodes(created->body), (std::vector<std::string>{"n1", "n2"}));
  for (int t = 0; t < 60; t += 5) {
    clock_.advance(std::chrono::seconds(5));
    heartbeat("n3", tokens["n3"], "[]", 10);  // n1 (primary) and n2 both silent
    cluster_->tick();
  }
  EXPECT_EQ(replicaNodes(call("GET", "/v1/volumes/v")->body), (std::vector<std::string>{"n1", "n2"}));
}

}  // namespace
}  // namespace tandem::controller

namespace tandem::controller {
namespace {

// A StreamExchange that records what the router did with it; the body is never available.
class RecordingExchange final : public http::StreamExchange {
 public:
  Result<size_t> readBody(std::span<std::byte>) override {
    ++reads;
    return Status(ErrorCode::kUnavailable, "no body in this test");
  }
  Status respond(http::Response r) override {
    response = std::move(r);
    return Status::ok();
  }
  Status beginResponse(const http::Response&, uint64_t) override {
    ++begun;
    return Status::ok();
  }
  Status writeBody(std::span<const std::byte>) override { return Status::ok(); }
  Status finish() override { return Status::ok(); }

  int reads = 0;
  int begun = 0;
  std::optional<http::Response> response;
};

std::string codeOf(const http::Response& r) {
  auto doc = json::parseObject(r.body);
  if (!doc.isOk() || !doc->HasMember("error")) return "";
  return (*doc)["error"]["code"].GetString();
}

// Only the data routes stream; their token, scope and volume are checked before any body byte
// is read: no token 401, the join token 403, an unknown volume 404, a volume still being made
// 409 volume_not_ready.
TEST_F(ApiRouterTest, DataRoutesStreamAndRefuseBeforeReadingTheBody) {
  auto head = [](const std::string& method, const std::string& path, const std::string& token) {
    http::Request r;
    r.method = method;
    r.path = path;
    if (!token.empty()) r.headers["authorization"] = "Bearer " + token;
    r.headers["content-length"] = "1048576";
    return r;
  };
  EXPECT_TRUE(router_->streams(head("GET", "/v1/volumes/v1/data", "")));
  EXPECT_TRUE(router_->streams(head("PUT", "/v1/volumes/v1/data", "")));
  EXPECT_FALSE(router_->streams(head("GET", "/v1/volumes/v1", "")));
  EXPECT_FALSE(router_->streams(head("POST", "/v1/volumes/v1/data", "")));

  registerNode("n1");
  makeGroup("g1", 1);
  auto made = call("POST", "/v1/volumes", R"({"name":"v1","size_bytes":1048576,"resource_group":"g1"})");
  ASSERT_TRUE(made && made->status == 201) << (made ? made->body : "");

  struct Case {
    std::string method, path, token;
    int status;
    std::string code;
  };
  for (const Case& c : std::vector<Case>{
           {"PUT", "/v1/volumes/v1/data", "", 401, "unauthenticated"},
           {"PUT", "/v1/volumes/v1/data", kJoin, 403, "permission_denied"},
           {"PUT", "/v1/volumes/nope/data", kService, 404, "volume_not_found"},
           {"GET", "/v1/volumes/nope/data", kAdmin, 404, "volume_not_found"},
           {"PUT", "/v1/volumes/v1/data", kService, 409, "volume_not_ready"},
           {"GET", "/v1/volumes/v1/data", kAdmin, 409, "volume_not_ready"},
       }) {
    RecordingExchange exchange;
    router_->handleStream(head(c.method, c.path, c.token), exchange);
    ASSERT_TRUE(exchange.response) << c.method << " " << c.path;
    EXPECT_EQ(exchange.response->status, c.status) << c.method << " " << c.path << ": " << exchange.response->body;
    EXPECT_EQ(codeOf(*exchange.response), c.code) << c.method << " " << c.path;
    EXPECT_EQ(exchange.reads, 0) << "the body was read before the refusal";
    EXPECT_EQ(exchange.begun, 0);
  }
}

}  // namespace
}  // namespace tandem::controller
