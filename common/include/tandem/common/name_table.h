// NameTable: the one place an enum's values meet their text names. Each state enum has exactly
// one table (next to the enum's codec); code compares enum values, and only codecs and messages
// convert. Pure constexpr helpers, thread-safe.
#pragma once

#include <cstddef>
#include <optional>
#include <string_view>

namespace tandem {

template <typename E>
struct NameEntry {
  E value;
  std::string_view name;
};

// The name of `value` in `table`; "unknown" for a value missing from the table (a bug the
// table's unit test catches).
template <typename E, size_t N>
constexpr std::string_view nameIn(const NameEntry<E> (&table)[N], E value) {
  for (const auto& e : table) {
    if (e.value == value) return e.name;
  }
  return "unknown";
}

// The value named `name` in `table`, or nullopt.
template <typename E, size_t N>
constexpr std::optional<E> valueIn(const NameEntry<E> (&table)[N], std::string_view name) {
  for (const auto& e : table) {
    if (e.name == name) return e.value;
  }
  return std::nullopt;
}

}  // namespace tandem
