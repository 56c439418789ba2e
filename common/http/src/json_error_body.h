// The body of a transport-level error answered by the server itself (413, 400, 500), in
// Tandem's one error shape: {"error":{"code":"...","message":"...","details":{}}}.
// Pure function; thread-safe.
#pragma once

#include <string>
#include <string_view>

namespace tandem::http {

std::string jsonErrorBody(std::string_view code, std::string_view message);

}  // namespace tandem::http
