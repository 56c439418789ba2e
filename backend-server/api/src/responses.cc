#include "responses.h"

#include <charconv>

namespace tandem::controller {

http::Response jsonResponse(int status, std::string body) {
  http::Response r;
  r.status = status;
  r.body = std::move(body);
  return r;
}

http::Response noContent() {
  http::Response r;
  r.status = 204;
  r.content_type.clear();
  return r;
}

http::Response noContentOr(const Status& status) {
  return status.isOk() ? noContent() : errorResponse(status);
}

http::Response methodNotAllowed(const std::string& method, const std::string& path,
                                const std::string& allow) {
  http::Response r =
      errorResponse(Status(ErrorCode::kInvalidArgument,
                           "method " + method + " is not allowed on " + path + " (allowed: " + allow + ")")
                        .withReason("method_not_allowed"));
  r.status = 405;
  r.headers["allow"] = allow;
  return r;
}

Result<uint64_t> queryUint(const http::Request& req, const std::string& key, uint64_t fallback) {
  auto it = req.query.find(key);
  if (it == req.query.end() || it->second.empty()) return fallback;
  uint64_t value = 0;
  auto [ptr, ec] = std::from_chars(it->second.data(), it->second.data() + it->second.size(), value);
  if (ec != std::errc() || ptr != it->second.data() + it->second.size()) {
    return Status(ErrorCode::kInvalidArgument, "query parameter '" + key + "' must be a non-negative integer")
        .withReason("invalid_query");
  }
  return value;
}

Result<bool> queryBool(const http::Request& req, const std::string& key) {
  auto it = req.query.find(key);
  if (it == req.query.end() || it->second.empty() || it->second == "false") return false;
  if (it->second == "true") return true;
  return Status(ErrorCode::kInvalidArgument, "query parameter '" + key + "' must be true or false")
      .withReason("invalid_query");
}

}  // namespace tandem::controller
