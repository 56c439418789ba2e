#include "tandem/node/desired_state.h"

#include <gtest/gtest.h>

namespace tandem::node {
namespace {

// A well-formed desired state parses completely.
TEST(DesiredState, ParsesReplicasAndPeers) {
  auto s = parseDesiredState(R"({"generation":7,"cluster_id":"c","node":"n1","replicas":[
    {"volume":{"name":"v","uuid":"0b0e2b5e-4c0a-4f43-9a86-3f1b7a0f5e11","size_bytes":4096,"epoch":1},
     "pool":"default","thin":false,"quorum":true,"primary":true,
     "peers":[{"node":"n2","host":"127.0.0.1","port":7000}]}]})");
  ASSERT_TRUE(s.isOk()) << s.status().toString();
  EXPECT_EQ(s->generation, 7u);
  ASSERT_EQ(s->replicas.size(), 1u);
  EXPECT_TRUE(s->replicas[0].primary);
  EXPECT_FALSE(s->replicas[0].thin);
  EXPECT_TRUE(s->replicas[0].quorum);
  EXPECT_EQ(s->replicas[0].peers[0].port, 7000);
}

// Anything malformed is refused with the field named, never half-applied.
TEST(DesiredState, RejectsMalformedInput) {
  EXPECT_FALSE(parseDesiredState("{").isOk());
  EXPECT_FALSE(parseDesiredState(R"({"cluster_id":"c","node":"n"})").isOk());
  auto bad_uuid = parseDesiredState(R"({"generation":1,"cluster_id":"c","node":"n","replicas":[
    {"volume":{"name":"v","uuid":"../../etc","size_bytes":4096,"epoch":1},"pool":"p"}]})");
  ASSERT_FALSE(bad_uuid.isOk());
  EXPECT_NE(bad_uuid.status().message().find("uuid"), std::string::npos);
  auto bad_port = parseDesiredState(R"({"generation":1,"cluster_id":"c","node":"n","replicas":[
    {"volume":{"name":"v","uuid":"0b0e2b5e-4c0a-4f43-9a86-3f1b7a0f5e11","size_bytes":4096,"epoch":1},"pool":"p",
     "peers":[{"node":"n2","host":"h","port":70000}]}]})");
  EXPECT_FALSE(bad_port.isOk());
}

}  // namespace
}  // namespace tandem::node
