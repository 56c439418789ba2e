// HttpsServer: an HTTPS/1.1 server (Boost.Beast over OpenSSL) that hands each request to a
// Handler. The transport only: TLS (1.2 or newer), keep-alive, per-read/write timeouts,
// a body-size limit (answered 413 with Tandem's JSON error shape), malformed HTTP (400).
// Each connection is served on its own strand: one request at a time, handed to the Handler on
// an I/O thread; the Handler may answer later from any thread through the Responder (no
// read/write timeout runs meanwhile, so long-polls are fine). A Responder called after stop()
// is ignored; one dropped without being called answers 500.
// Requests the Handler streams (Handler::streams) skip the body limit and are served on a
// thread each (Handler::handleStream over a StreamExchange); stop() wakes those threads and
// waits for them.
// Thread-safety: start() returns a running server; stop() is idempotent, closes the listener
// and every connection (pending requests included), and joins the I/O threads — never call it
// from a Handler on an I/O thread. The Handler must be thread-safe and outlive the server.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "tandem/common/status.h"
#include "tandem/http/message.h"

namespace tandem::http {

struct ServerOptions {
  std::string bind_address = "127.0.0.1";
  uint16_t port = 0;                      // 0: any free port; read it back with port()
  std::string certificate_file;           // PEM chain
  std::string private_key_file;           // PEM key
  size_t body_limit_bytes = 1 << 20;      // larger bodies get 413
  // Requests whose path starts with one of these prefixes get that body limit instead (the first
  // match wins): routes whose bodies grow with the cluster, such as a node's whole status.
  std::vector<std::pair<std::string, size_t>> body_limits_by_prefix{};
  std::chrono::seconds io_timeout{30};    // TLS handshake, one request read or response write;
                                          // also how long an idle kept-alive connection stays
  int threads = 4;                        // I/O threads (at least 1)
};

class HttpsServer {
 public:
  virtual ~HttpsServer() = default;
  // Loads the certificate and key, binds, listens and starts the I/O threads.
  // Fails (kInvalidArgument/kNotFound/kIo) with the file or address in the message.
  static Result<std::unique_ptr<HttpsServer>> start(const ServerOptions& options, Handler& handler);
  virtual uint16_t port() const = 0;
  virtual void stop() = 0;
};

}  // namespace tandem::http
