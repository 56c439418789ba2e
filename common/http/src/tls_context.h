// Builds the OpenSSL contexts of the server and the client: TLS 1.2 is the minimum on both
// sides (SSLv2/3, TLS 1.0 and 1.1 disabled). Fails with the offending file in the message.
#pragma once

#include <memory>
#include <string>

#include <boost/asio/ssl/context.hpp>

#include "tandem/common/status.h"

namespace tandem::http {

// Loads the PEM certificate chain and private key (kNotFound: a file is missing,
// kInvalidArgument: a file does not parse or the key does not match).
Result<std::unique_ptr<boost::asio::ssl::context>> makeServerTlsContext(
    const std::string& certificate_file, const std::string& private_key_file);

// Trusts `ca_file` (PEM bundle) or, when empty, the system store; verifies the peer unless
// `insecure_skip_verify` (host names are checked per connection by the client).
Result<std::unique_ptr<boost::asio::ssl::context>> makeClientTlsContext(const std::string& ca_file,
                                                                         bool insecure_skip_verify);

// The text of OpenSSL's last queued error (and clears the queue), or `fallback`.
std::string lastOpenSslError(const std::string& fallback);

}  // namespace tandem::http
