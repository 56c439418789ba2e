#include "tandem/controller/authenticator.h"

#include <gtest/gtest.h>

#include <map>

namespace tandem::controller {
namespace {

// Node tokens from a map of node -> token.
class MapNodeTokens final : public NodeTokenVerifier {
 public:
  explicit MapNodeTokens(std::map<std::string, std::string> tokens) : tokens_(std::move(tokens)) {}
  bool isTokenOf(const std::string& node, std::string_view token) override {
    auto it = tokens_.find(node);
    return it != tokens_.end() && it->second == token;
  }
  bool isAnyNodeToken(std::string_view token) override {
    for (const auto& [node, t] : tokens_) {
      if (t == token) return true;
    }
    return false;
  }

 private:
  std::map<std::string, std::string> tokens_;
};

class AuthenticatorTest : public ::testing::Test {
 protected:
  MapNodeTokens nodes_{{{"n1", "node1-token"}, {"n2", "node2-token"}}};
  Authenticator auth_{{"admin-token", "service-token", "join-token"}, nodes_};

  // The principal's "role[/node]", or the failure's "code: message".
  std::string who(std::string_view header, const std::string& claimed = "") {
    auto p = auth_.authenticate(header, claimed);
    if (!p.isOk()) return std::string(errorCodeName(p.status().code())) + ": " + p.status().message();
    return std::string(roleName(p->role)) + (p->node.empty() ? "" : "/" + p->node);
  }
};

// The admin, service and join tokens give their roles, wherever the request goes; the scheme
// name is case-insensitive.
TEST_F(AuthenticatorTest, ConfiguredTokensGiveTheirRoles) {
  EXPECT_EQ(who("Bearer admin-token"), "admin");
  EXPECT_EQ(who("bearer admin-token"), "admin");
  EXPECT_EQ(who("BEARER service-token"), "service");
  EXPECT_EQ(who("Bearer join-token"), "join");
  EXPECT_EQ(who("Bearer admin-token", "n1"), "admin");
  EXPECT_EQ(who("Bearer join-token", "n1"), "join");
}

// A missing header, another scheme, an empty or unknown token are 401 unauthenticated.
TEST_F(AuthenticatorTest, MissingOrUnknownTokensAreUnauthenticated) {
  for (std::string_view header : {"", "Bearer", "Bearer ", "Basic admin-token", "admin-token"}) {
    auto p = auth_.authenticate(header, "");
    ASSERT_FALSE(p.isOk()) << header;
    EXPECT_EQ(p.status().code(), ErrorCode::kUnauthenticated) << header;
    EXPECT_EQ(p.status().reason(), "unauthenticated") << header;
    EXPECT_NE(p.status().message().find("missing bearer token"), std::string::npos) << header;
  }
  EXPECT_EQ(who("Bearer admin-token2"), "unauthenticated: invalid token");
  EXPECT_EQ(who("Bearer admin-toke"), "unauthenticated: invalid token");
}

// A node token is that node's where the request names the node, another node's token there is
// refused; where no node is named, any node's token is a node principal without a node.
TEST_F(AuthenticatorTest, NodeTokensAreCheckedAgainstTheClaimedNode) {
  EXPECT_EQ(who("Bearer node1-token", "n1"), "node/n1");
  EXPECT_EQ(who("Bearer node1-token", "n2"), "unauthenticated: invalid token for node 'n2'");
  EXPECT_EQ(who("Bearer nobody", "n1"), "unauthenticated: invalid token for node 'n1'");
  EXPECT_EQ(who("Bearer node2-token"), "node");
}

// Unset role tokens open nothing, not even for an empty token.
TEST(Authenticator, UnsetTokensMatchNothing) {
  MapNodeTokens nodes({});
  Authenticator auth({"admin-token", "", ""}, nodes);
  EXPECT_TRUE(auth.authenticate("Bearer admin-token", "").isOk());
  EXPECT_FALSE(auth.authenticate("Bearer  ", "").isOk());
  EXPECT_FALSE(auth.authenticate("Bearer service-token", "").isOk());
}

// Every role has one name, and names map back to roles.
TEST(Roles, NamesRoundTrip) {
  for (Role r : {Role::kAdmin, Role::kService, Role::kJoin, Role::kNode}) {
    auto back = roleFromName(roleName(r));
    ASSERT_TRUE(back.has_value()) << roleName(r);
    EXPECT_EQ(*back, r);
  }
  EXPECT_EQ(roleName(Role::kService), "service");
  EXPECT_FALSE(roleFromName("root").has_value());
}

}  // namespace
}  // namespace tandem::controller
