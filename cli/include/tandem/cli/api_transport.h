// How `tandem` reaches the controller: one REST call at a time. The real one is HTTPS with a
// bearer token; tests substitute their own. Not thread-safe (the CLI is single-threaded).
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <string>

#include "tandem/cli/settings.h"
#include "tandem/common/status.h"
#include "tandem/http/message.h"

namespace tandem::cli {

class ApiTransport {
 public:
  virtual ~ApiTransport() = default;
  // Returns the server's answer whatever its HTTP status; fails only when no answer arrived
  // (kUnavailable, kTimeout).
  virtual Result<http::Response> call(const std::string& method, const std::string& target,
                                      const std::string& body) = 0;
  // The same with extra request headers (Range, Content-Range, Content-Type...), which replace
  // the transport's own of the same name. Default: kUnsupported unless `headers` is empty.
  virtual Result<http::Response> call(const std::string& method, const std::string& target, const std::string& body,
                                      const std::map<std::string, std::string>& headers) {
    if (!headers.empty()) return Status(ErrorCode::kUnsupported, "this transport sends no extra headers");
    return call(method, target, body);
  }
};

// HTTPS to settings.url, verifying with settings.ca_file (or the system store) unless
// settings.insecure; sends "Authorization: Bearer <token>" when a token is set.
// Fails (kInvalidArgument/kNotFound) for a bad URL or an unreadable CA file.
Result<std::unique_ptr<ApiTransport>> makeHttpsTransport(const Settings& settings,
                                                         std::chrono::milliseconds timeout);

}  // namespace tandem::cli
