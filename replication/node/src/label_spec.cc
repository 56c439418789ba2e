#include "tandem/node/label_spec.h"

#include "tandem/common/object_name.h"

namespace tandem::node {

Result<std::map<std::string, std::string>> parseLabels(const std::vector<std::string>& texts) {
  std::map<std::string, std::string> labels;
  for (const auto& text : texts) {
    auto eq = text.find('=');
    std::string key = text.substr(0, eq);
    std::string value = eq == std::string::npos ? "" : text.substr(eq + 1);
    if (eq == std::string::npos || !isValidObjectName(key) || !isValidObjectName(value)) {
      return Status(ErrorCode::kInvalidArgument,
                    "label '" + text + "' must be KEY=VALUE, each matching [A-Za-z0-9][A-Za-z0-9_.-]{0,63}");
    }
    if (!labels.emplace(key, value).second) {
      return Status(ErrorCode::kInvalidArgument, "label '" + key + "' is given twice");
    }
  }
  if (labels.size() > 32) return Status(ErrorCode::kInvalidArgument, "at most 32 labels are allowed");
  return labels;
}

}  // namespace tandem::node
