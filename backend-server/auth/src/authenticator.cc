#include "tandem/controller/authenticator.h"

#include <cctype>

#include "tandem/controller/tokens.h"

namespace tandem::controller {
namespace {

// The token of "Bearer <token>", or "" when the header is missing or has another scheme.
std::string_view bearerToken(std::string_view header) {
  // The scheme name is case-insensitive (RFC 9110 section 11.1).
  constexpr std::string_view kPrefix = "bearer ";
  if (header.size() <= kPrefix.size()) return {};
  for (size_t i = 0; i < kPrefix.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(header[i])) != kPrefix[i]) return {};
  }
  return header.substr(kPrefix.size());
}

bool matches(std::string_view token, const std::string& configured) {
  return !configured.empty() && tokensEqual(token, configured);
}

Status unauthenticated(std::string message) {
  return Status(ErrorCode::kUnauthenticated, std::move(message)).withReason("unauthenticated");
}

}  // namespace

Result<Principal> Authenticator::authenticate(std::string_view authorization,
                                              const std::string& claimed_node) const {
  std::string_view token = bearerToken(authorization);
  if (token.empty()) return unauthenticated("missing bearer token (Authorization: Bearer <token>)");
  if (matches(token, options_.admin_token)) return Principal{Role::kAdmin, ""};
  if (matches(token, options_.service_token)) return Principal{Role::kService, ""};
  if (matches(token, options_.join_token)) return Principal{Role::kJoin, ""};
  if (!claimed_node.empty()) {
    if (nodes_.isTokenOf(claimed_node, token)) return Principal{Role::kNode, claimed_node};
    return unauthenticated("invalid token for node '" + claimed_node + "'");
  }
  if (nodes_.isAnyNodeToken(token)) return Principal{Role::kNode, ""};
  return unauthenticated("invalid token");
}

}  // namespace tandem::controller
