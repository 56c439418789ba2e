#include "tls_context.h"

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <filesystem>
#include <system_error>

namespace tandem::http {
namespace ssl = boost::asio::ssl;

namespace {

constexpr auto kProtocolOptions = ssl::context::default_workarounds | ssl::context::no_sslv2 |
                                  ssl::context::no_sslv3 | ssl::context::no_tlsv1 |
                                  ssl::context::no_tlsv1_1;

Status checkReadable(const std::string& what, const std::string& path) {
  if (path.empty()) return Status(ErrorCode::kInvalidArgument, what + " file is not set");
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) {
    return Status(ErrorCode::kNotFound, what + " file '" + path + "' does not exist");
  }
  return Status::ok();
}

Status restrictProtocols(ssl::context& ctx) {
  boost::system::error_code ec;
  ctx.set_options(kProtocolOptions, ec);
  if (ec) return Status(ErrorCode::kInternal, "set TLS options: " + ec.message());
  if (SSL_CTX_set_min_proto_version(ctx.native_handle(), TLS1_2_VERSION) != 1) {
    return Status(ErrorCode::kInternal, lastOpenSslError("cannot require TLS 1.2"));
  }
  return Status::ok();
}

}  // namespace

std::string lastOpenSslError(const std::string& fallback) {
  unsigned long err = ERR_get_error();
  if (err == 0) return fallback;
  char buf[256];
  ERR_error_string_n(err, buf, sizeof buf);
  ERR_clear_error();
  return buf;
}

Result<std::unique_ptr<ssl::context>> makeServerTlsContext(const std::string& certificate_file,
                                                            const std::string& private_key_file) {
  RETURN_IF_ERROR(checkReadable("certificate", certificate_file));
  RETURN_IF_ERROR(checkReadable("private key", private_key_file));
  auto ctx = std::make_unique<ssl::context>(ssl::context::tls_server);
  RETURN_IF_ERROR(restrictProtocols(*ctx));
  boost::system::error_code ec;
  ctx->use_certificate_chain_file(certificate_file, ec);
  if (ec) {
    return Status(ErrorCode::kInvalidArgument,
                  "load certificate chain '" + certificate_file + "': " + ec.message());
  }
  ctx->use_private_key_file(private_key_file, ssl::context::pem, ec);
  if (ec) {
    return Status(ErrorCode::kInvalidArgument,
                  "load private key '" + private_key_file + "': " + ec.message());
  }
  if (SSL_CTX_check_private_key(ctx->native_handle()) != 1) {
    return Status(ErrorCode::kInvalidArgument,
                  "private key '" + private_key_file + "' does not match certificate '" +
                      certificate_file + "'");
  }
  return ctx;
}

Result<std::unique_ptr<ssl::context>> makeClientTlsContext(const std::string& ca_file,
                                                            bool insecure_skip_verify) {
  auto ctx = std::make_unique<ssl::context>(ssl::context::tls_client);
  RETURN_IF_ERROR(restrictProtocols(*ctx));
  boost::system::error_code ec;
  if (insecure_skip_verify) {
    ctx->set_verify_mode(ssl::verify_none, ec);
    return ctx;
  }
  if (!ca_file.empty()) {
    RETURN_IF_ERROR(checkReadable("CA", ca_file));
    ctx->load_verify_file(ca_file, ec);
    if (ec) return Status(ErrorCode::kInvalidArgument, "load CA file '" + ca_file + "': " + ec.message());
  } else {
    ctx->set_default_verify_paths(ec);
    if (ec) return Status(ErrorCode::kInternal, "load the system CA store: " + ec.message());
  }
  ctx->set_verify_mode(ssl::verify_peer, ec);
  if (ec) return Status(ErrorCode::kInternal, "set verify mode: " + ec.message());
  return ctx;
}

}  // namespace tandem::http
