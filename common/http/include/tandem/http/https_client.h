// HttpsClient: a blocking HTTPS/1.1 client for the node worker and the CLI.
// Verifies the server certificate against `ca_file` (and the host name) unless
// `insecure_skip_verify` is set. Keeps one connection alive and reconnects when it drops.
// Thread-safety: one request at a time per client (internally serialised).
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <string>

#include "tandem/common/status.h"
#include "tandem/http/message.h"

namespace tandem::http {

struct ClientOptions {
  std::string base_url;                 // "https://127.0.0.1:8443"
  std::string ca_file;                  // PEM bundle; empty means the system store
  bool insecure_skip_verify = false;
  std::chrono::milliseconds connect_timeout{5000};
};

class HttpsClient {
 public:
  virtual ~HttpsClient() = default;
  // Validates the URL (https only) and loads the CA; no connection is made yet.
  static Result<std::unique_ptr<HttpsClient>> create(const ClientOptions& options);

  // Sends one request. `target` is the path and query ("/v1/volumes?x=1"); `headers` are added
  // as given. Returns the response whatever its status; fails only when no response arrived
  // (kUnavailable: connect/TLS/IO failure, kTimeout: `timeout` passed).
  virtual Result<Response> request(const std::string& method, const std::string& target,
                                   const std::string& body,
                                   const std::map<std::string, std::string>& headers,
                                   std::chrono::milliseconds timeout) = 0;
};

}  // namespace tandem::http
