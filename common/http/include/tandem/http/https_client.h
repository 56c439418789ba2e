// HttpsClient: a blocking HTTPS/1.1 client for the node worker and the CLI.
// Verifies the server certificate against `ca_file` (and the host name) unless
// `insecure_skip_verify` is set. Keeps one connection alive and reconnects when it drops.
// Thread-safety: one request at a time per client (internally serialised).
#pragma once

#include <chrono>
#include <cstdint>
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
  std::chrono::milliseconds connect_timeout{5000};  // TCP connect (capped by the request timeout)
  size_t max_response_bytes = 64 << 20;             // larger response bodies fail (kTooLarge)
};

class HttpsClient {
 public:
  virtual ~HttpsClient() = default;
  // Validates the URL (https only) and loads the CA; no connection is made yet.
  static Result<std::unique_ptr<HttpsClient>> create(const ClientOptions& options);

  // Sends one request. `target` is the path and query ("/v1/volumes?x=1"); `headers` are added
  // as given. A kept-alive connection that the server closed meanwhile is replaced before
  // sending; if it drops during an idempotent request (GET, HEAD, PUT, DELETE, OPTIONS) the
  // request is retried once on a new connection. Returns the response whatever its status; fails only when no response arrived
  // (kUnavailable: connect/TLS/IO failure, kTimeout: `timeout` passed, kTooLarge: the response
  // exceeds max_response_bytes). `timeout` bounds the whole call, connecting included.
  virtual Result<Response> request(const std::string& method, const std::string& target,
                                   const std::string& body,
                                   const std::map<std::string, std::string>& headers,
                                   std::chrono::milliseconds timeout) = 0;

  // How many connections this client has opened so far (keep-alive makes it grow slowly).
  virtual uint64_t connectionsOpened() const = 0;
};

}  // namespace tandem::http
