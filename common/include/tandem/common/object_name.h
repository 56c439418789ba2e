// The name rule for the objects the API exposes (volumes, groups, nodes, pools):
// [A-Za-z0-9][A-Za-z0-9_.-]{0,63}. One definition, shared by the controller and the CLI.
#pragma once

#include <string_view>

namespace tandem {

constexpr size_t kMaxObjectNameLength = 64;

constexpr bool isValidObjectName(std::string_view name) {
  if (name.empty() || name.size() > kMaxObjectNameLength) return false;
  auto alnum = [](char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'); };
  if (!alnum(name[0])) return false;
  for (char c : name) {
    if (!alnum(c) && c != '_' && c != '.' && c != '-') return false;
  }
  return true;
}

}  // namespace tandem
