#include "access.h"

namespace tandem::controller {

bool mayCall(Role role, std::string_view method, const std::vector<std::string>& parts) {
  auto under = [&](const char* collection) { return parts.size() >= 2 && parts[0] == "v1" && parts[1] == collection; };
  switch (role) {
    case Role::kAdmin: return true;
    case Role::kService:
      // Promotion overrides the volume's writer: an operator's decision, admin only.
      if (under("volumes")) return !(parts.size() == 4 && parts[3] == "promote");
      return method == "GET" && (under("storage-pools") || under("resource-groups"));
    case Role::kJoin: return method == "POST" && parts.size() == 2 && under("nodes");
    case Role::kNode:
    case Role::kNone: return false;
  }
  return false;
}

std::string roleScope(Role role) {
  switch (role) {
    case Role::kService: return "the service token may use volumes and read storage pools and resource groups";
    case Role::kJoin: return "the join token may only register nodes (POST /v1/nodes)";
    case Role::kNode: return "a node token may only use its node's internal routes";
    case Role::kAdmin: return "the admin token may do everything";
    case Role::kNone: return "no token";
  }
  return "";
}

}  // namespace tandem::controller
