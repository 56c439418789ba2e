#include "tandem/common/uuid.h"

#include <uuid/uuid.h>

namespace tandem {

std::string newUuid() {
  uuid_t id;
  uuid_generate_random(id);
  char text[37];
  uuid_unparse_lower(id, text);
  return std::string(text);
}

bool isUuid(std::string_view text) {
  if (text.size() != 36) return false;
  std::string copy(text);
  uuid_t id;
  return uuid_parse(copy.c_str(), id) == 0;
}

}  // namespace tandem
