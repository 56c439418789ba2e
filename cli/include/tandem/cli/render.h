// Turns the controller's JSON answers into what `tandem` prints: aligned tables and
// "key: value" blocks with human-readable sizes, and one-line error messages. Pure
// functions; thread-safe. Missing or null fields print as "-", so a newer server's extra
// or absent fields never break the output.
#pragma once

#include <string>

#include "tandem/cli/command.h"
#include "tandem/common/status.h"

namespace tandem::cli {

// Renders a successful (2xx) answer to `command`. Fails (kProtocol) when the body is not the
// JSON shape the API promises for that command.
Result<std::string> renderSuccess(const Command& command, int http_status, const std::string& body);

// "error: volume 'v1' does not exist (volume_not_found, HTTP 404)". A body that is not the
// API's error shape gives "error: HTTP <status>: <start of body>".
std::string renderApiError(int http_status, const std::string& body);

}  // namespace tandem::cli
