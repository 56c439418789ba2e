// Who may call what. Roles come from the bearer token:
//   admin    the admin token: everything;
//   service  the service token (Cinder, libvirt): volumes (and, later, their snapshots and
//            attachments) except promotion, and reading storage pools and resource groups;
//   join     the join token, held by storage hosts: registering a node (POST /v1/nodes), which
//            returns the node's own token;
//   node     a node's own token: its own internal routes only (checked by the router, which
//            knows the node name in the path).
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace tandem::controller {

enum class Role { kNone, kAdmin, kService, kJoin, kNode };

// Whether `role` may call `method` on the public route `parts` (the path split at '/').
bool mayCall(Role role, std::string_view method, const std::vector<std::string>& parts);

// "the service token may ..." — what a role is for, for 403 messages.
std::string roleScope(Role role);

}  // namespace tandem::controller
