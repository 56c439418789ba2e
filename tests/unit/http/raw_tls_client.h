// Test-only TLS client that sends arbitrary bytes (e.g. malformed HTTP) and drives the
// handshake with a caller-configured OpenSSL context (e.g. TLS 1.1 only). Every operation has
// a 10 s deadline so a misbehaving server fails the test instead of hanging it.
#pragma once

#include <cstdint>
#include <string>

#include <boost/asio/ssl/context.hpp>

#include "tandem/common/status.h"

namespace tandem::http::testing {

// Connects to 127.0.0.1:port and completes a TLS handshake (kUnavailable with OpenSSL's
// reason if it fails), then closes.
Status rawTlsHandshake(uint16_t port, boost::asio::ssl::context& tls);

// Handshakes, writes `bytes`, and returns everything the server sends until it closes.
Result<std::string> rawTlsExchange(uint16_t port, boost::asio::ssl::context& tls,
                                   const std::string& bytes);

}  // namespace tandem::http::testing
