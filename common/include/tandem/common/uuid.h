// Random (version 4) UUIDs in their canonical lower-case text form.
#pragma once

#include <string>
#include <string_view>

namespace tandem {

std::string newUuid();
bool isUuid(std::string_view text);

}  // namespace tandem
