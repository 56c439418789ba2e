// Node labels, as given on the node worker's command line: KEY=VALUE, repeatable. The controller
// places replicas by them (a resource group's `replicas_on_different`, e.g. zone or rack).
// Keys and values follow the object-name rule [A-Za-z0-9][A-Za-z0-9_.-]{0,63}.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "tandem/common/status.h"

namespace tandem::node {

// kInvalidArgument naming the offending text; a key given twice is an error too.
Result<std::map<std::string, std::string>> parseLabels(const std::vector<std::string>& texts);

}  // namespace tandem::node
