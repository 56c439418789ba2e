// Authenticator: turns a request's Authorization header into a Principal. It knows the admin,
// service and join tokens; node tokens are checked through an injected NodeTokenVerifier (the
// controller's store holds only their hashes). Thread-safe when the verifier is.
#pragma once

#include <string>
#include <string_view>

#include "tandem/common/status.h"
#include "tandem/controller/principal.h"

namespace tandem::controller {

// Checks node tokens. Implementations must be thread-safe.
class NodeTokenVerifier {
 public:
  virtual ~NodeTokenVerifier() = default;
  // True when `token` is the current token of node `node`.
  virtual bool isTokenOf(const std::string& node, std::string_view token) = 0;
  // True when `token` is the current token of some node.
  virtual bool isAnyNodeToken(std::string_view token) = 0;
};

struct AuthenticatorOptions {
  std::string admin_token;    // empty: no admin token
  std::string service_token;  // empty: no service token
  std::string join_token;     // empty: no join token
};

class Authenticator {
 public:
  // `nodes` must outlive the Authenticator.
  Authenticator(AuthenticatorOptions options, NodeTokenVerifier& nodes)
      : options_(std::move(options)), nodes_(nodes) {}

  // Authenticates `authorization` (the header's value, "Bearer <token>" with the scheme name
  // matched case-insensitively). The admin, service and join tokens give their roles. Any other
  // token is a node's: when the request names a node (`claimed_node`, the {node} of an internal
  // route) only that node's token is accepted, giving Principal{kNode, claimed_node}; otherwise
  // any node's token gives Principal{kNode, ""}, which no route admits.
  // Failure: kUnauthenticated (reason "unauthenticated") for a missing header or scheme, an
  // unknown token, or another node's token where `claimed_node` is named.
  Result<Principal> authenticate(std::string_view authorization, const std::string& claimed_node) const;

 private:
  AuthenticatorOptions options_;
  NodeTokenVerifier& nodes_;
};

}  // namespace tandem::controller
