// Who is calling the controller's API: the role its bearer token grants and, for a node token,
// the node it belongs to. Plain values; thread-safe as values are.
//   admin    the admin token: everything;
//   service  the service token (Cinder, libvirt): volumes except promotion, reading storage
//            pools and resource groups;
//   join     the join token, held by storage hosts: registering a node (POST /v1/nodes);
//   node     a node's own token: that node's internal routes only.
// What each role may call is decided by the API's route table (tandem/controller/api_routes.h).
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace tandem::controller {

enum class Role { kAdmin, kService, kJoin, kNode };

// "admin", "service", "join", "node": the one name table of roles.
std::string_view roleName(Role role);
// The role named `name`, or nullopt for an unknown name.
std::optional<Role> roleFromName(std::string_view name);

struct Principal {
  Role role = Role::kAdmin;
  // For Role::kNode, the node whose token this is; empty when the token is some node's but the
  // request named no node (a node token outside the internal routes). Empty for other roles.
  std::string node;
};

}  // namespace tandem::controller
