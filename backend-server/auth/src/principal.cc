#include "tandem/controller/principal.h"

#include <array>
#include <utility>

namespace tandem::controller {
namespace {

constexpr std::array<std::pair<Role, std::string_view>, 4> kRoleNames{{
    {Role::kAdmin, "admin"},
    {Role::kService, "service"},
    {Role::kJoin, "join"},
    {Role::kNode, "node"},
}};

}  // namespace

std::string_view roleName(Role role) {
  for (const auto& [r, name] : kRoleNames) {
    if (r == role) return name;
  }
  return "unknown";
}

std::optional<Role> roleFromName(std::string_view name) {
  for (const auto& [r, n] : kRoleNames) {
    if (n == name) return r;
  }
  return std::nullopt;
}

}  // namespace tandem::controller
