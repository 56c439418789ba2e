#include "tandem/http/https_client.h"

#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>
#include <poll.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <mutex>
#include <optional>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>

#include "tandem/http/url.h"
#include "tls_context.h"

namespace tandem::http {
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;
using SteadyTime = std::chrono::steady_clock::time_point;

namespace {

bool isIdempotent(const std::string& method) {
  return method == "GET" || method == "HEAD" || method == "PUT" || method == "DELETE" ||
         method == "OPTIONS";
}

std::string toLower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

// What one attempt on one connection produced.
struct Attempt {
  std::optional<Response> response;
  Status status;          // set when there is no response
  bool dropped = false;   // the connection failed before any byte of the response arrived
};

class HttpsClientImpl final : public HttpsClient {
 public:
  HttpsClientImpl(ClientOptions options, BaseUrl url, std::unique_ptr<net::ssl::context> tls)
      : options_(std::move(options)), url_(std::move(url)), tls_(std::move(tls)) {
    boost::system::error_code ec;
    net::ip::make_address(url_.host, ec);
    host_is_ip_ = !ec;
    bool v6 = host_is_ip_ && url_.host.find(':') != std::string::npos;
    host_header_ = (v6 ? "[" + url_.host + "]" : url_.host);
    if (url_.port != 443) host_header_ += ":" + std::to_string(url_.port);
    origin_ = "https://" + host_header_;
  }

  ~HttpsClientImpl() override { dropConnection(); }

  Result<Response> request(const std::string& method, const std::string& target,
                           const std::string& body,
                           const std::map<std::string, std::string>& headers,
                           std::chrono::milliseconds timeout) override {
    std::lock_guard<std::mutex> lock(mu_);
    const SteadyTime deadline = std::chrono::steady_clock::now() + timeout;
    const std::string what = method + " " + origin_ + target;

    bool reused = stream_ != nullptr && connectionLooksAlive();
    if (!reused) dropConnection();
    if (!stream_) {
      Status connected = connect(deadline, timeout);
      if (!connected.isOk()) return connected.withContext(what);
    }
    Attempt attempt = exchange(method, target, body, headers, deadline, timeout);
    if (!attempt.response && attempt.dropped && reused && isIdempotent(method) &&
        std::chrono::steady_clock::now() < deadline) {
      dropConnection();
      Status connected = connect(deadline, timeout);
      if (!connected.isOk()) return connected.withContext(what);
      attempt = exchange(method, target, body, headers, deadline, timeout);
    }
    if (!attempt.response) return attempt.status.withContext(what);
    return std::move(*attempt.response);
  }

  uint64_t connectionsOpened() const override { return connections_opened_.load(); }

 private:
  using Stream = beast::ssl_stream<beast::tcp_stream>;

  // Runs the queued asynchronous operation to completion. Every operation has an expiry set
  // on the tcp_stream, so this always returns.
  void runToCompletion() {
    ioc_.restart();
    ioc_.run();
  }

  Status ioFailure(const beast::error_code& ec, SteadyTime deadline,
                   std::chrono::milliseconds timeout, std::string_view step) {
    if (ec == beast::error::timeout || std::chrono::steady_clock::now() >= deadline) {
      return Status(ErrorCode::kTimeout,
                    "no response within " + std::to_string(timeout.count()) + " ms (" +
                        std::string(step) + ")");
    }
    return Status(ErrorCode::kUnavailable, std::string(step) + ": " + ec.message());
  }

  Status connect(SteadyTime deadline, std::chrono::milliseconds timeout) {
    boost::system::error_code ec;
    tcp::resolver resolver(ioc_);
    auto endpoints = resolver.resolve(url_.host, std::to_string(url_.port), ec);
    if (ec) {
      return Status(ErrorCode::kUnavailable, "resolve '" + url_.host + "': " + ec.message());
    }
    auto stream = std::make_unique<Stream>(ioc_, *tls_);
    SSL* ssl = stream->native_handle();
    if (!host_is_ip_ && SSL_set_tlsext_host_name(ssl, url_.host.c_str()) != 1) {
      return Status(ErrorCode::kInternal, lastOpenSslError("cannot set SNI"));
    }
    if (!options_.insecure_skip_verify) {
      int ok = host_is_ip_ ? X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), url_.host.c_str())
                           : SSL_set1_host(ssl, url_.host.c_str());
      if (ok != 1) return Status(ErrorCode::kInternal, lastOpenSslError("cannot set host check"));
    }

    auto& tcp_layer = beast::get_lowest_layer(*stream);
    SteadyTime connect_deadline =
        std::min(deadline, std::chrono::steady_clock::now() + options_.connect_timeout);
    tcp_layer.expires_at(connect_deadline);
    beast::error_code result = net::error::would_block;
    tcp_layer.async_connect(endpoints, [&](beast::error_code e, const tcp::endpoint&) { result = e; });
    runToCompletion();
    if (result) {
      if (result == beast::error::timeout && connect_deadline < deadline) {
        return Status(ErrorCode::kUnavailable,
                      "connect to " + origin_ + ": no answer within " +
                          std::to_string(options_.connect_timeout.count()) + " ms");
      }
      return ioFailure(result, deadline, timeout, "connect to " + origin_);
    }
    connections_opened_++;
    tcp_layer.socket().set_option(tcp::no_delay(true), ec);  // best effort

    tcp_layer.expires_at(deadline);
    result = net::error::would_block;
    stream->async_handshake(net::ssl::stream_base::client, [&](beast::error_code e) { result = e; });
    runToCompletion();
    if (result) {
      long verify = SSL_get_verify_result(ssl);
      if (verify != X509_V_OK) {
        return Status(ErrorCode::kUnavailable,
                      "TLS certificate verification of " + origin_ + " failed: " +
                          X509_verify_cert_error_string(verify));
      }
      return ioFailure(result, deadline, timeout, "TLS handshake with " + origin_);
    }
    stream_ = std::move(stream);
    buffer_.clear();
    return Status::ok();
  }

  Attempt exchange(const std::string& method, const std::string& target, const std::string& body,
                   const std::map<std::string, std::string>& headers, SteadyTime deadline,
                   std::chrono::milliseconds timeout) {
    Attempt attempt;
    bhttp::request<bhttp::string_body> req;
    bhttp::verb verb = bhttp::string_to_verb(method);
    if (verb == bhttp::verb::unknown) {
      req.method_string(method);
    } else {
      req.method(verb);
    }
    req.target(target);
    req.version(11);
    req.set(bhttp::field::host, host_header_);
    req.set(bhttp::field::user_agent, "tandem");
    for (const auto& [name, value] : headers) req.set(name, value);
    req.body() = body;
    req.prepare_payload();
    req.keep_alive(true);

    auto& tcp_layer = beast::get_lowest_layer(*stream_);
    tcp_layer.expires_at(deadline);
    beast::error_code result = net::error::would_block;
    bhttp::async_write(*stream_, req, [&](beast::error_code e, size_t) { result = e; });
    runToCompletion();
    if (result) {
      attempt.dropped = result != beast::error::timeout;
      attempt.status = ioFailure(result, deadline, timeout, "send request");
      dropConnection();
      return attempt;
    }

    bhttp::response_parser<bhttp::string_body> parser;
    parser.body_limit(options_.max_response_bytes);
    if (method == "HEAD") parser.skip(true);
    tcp_layer.expires_at(deadline);
    result = net::error::would_block;
    bhttp::async_read(*stream_, buffer_, parser, [&](beast::error_code e, size_t) { result = e; });
    runToCompletion();
    if (result) {
      if (result == bhttp::error::body_limit) {
        attempt.status = Status(ErrorCode::kTooLarge,
                                "response body exceeds " +
                                    std::to_string(options_.max_response_bytes) + " bytes");
      } else {
        attempt.dropped = result != beast::error::timeout && !parser.got_some();
        attempt.status = ioFailure(result, deadline, timeout, "read response");
      }
      dropConnection();
      return attempt;
    }

    auto message = parser.release();
    Response response;
    response.status = static_cast<int>(message.result_int());
    response.content_type = std::string(message[bhttp::field::content_type]);
    for (const auto& field : message) {
      std::string name = toLower(field.name_string());
      auto [it, inserted] = response.headers.emplace(name, std::string(field.value()));
      if (!inserted) it->second += ", " + std::string(field.value());
    }
    response.body = std::move(message.body());
    if (!message.keep_alive()) dropConnection();
    attempt.response = std::move(response);
    return attempt;
  }

  // A kept-alive connection is reusable when nothing is readable on it: a server that closed
  // it (FIN or TLS close_notify) makes it readable, and servers send nothing unasked.
  bool connectionLooksAlive() {
    if (buffer_.size() != 0) return false;
    pollfd pfd{};
    pfd.fd = beast::get_lowest_layer(*stream_).socket().native_handle();
    pfd.events = POLLIN;
    int n = ::poll(&pfd, 1, 0);
    return n == 0;
  }

  void dropConnection() {
    if (stream_) {
      beast::get_lowest_layer(*stream_).close();
      stream_.reset();
    }
    buffer_.clear();
  }

  const ClientOptions options_;
  const BaseUrl url_;
  bool host_is_ip_ = false;
  std::string host_header_;
  std::string origin_;
  std::mutex mu_;  // one request at a time; guards everything below
  std::unique_ptr<net::ssl::context> tls_;
  net::io_context ioc_;
  std::unique_ptr<Stream> stream_;
  beast::flat_buffer buffer_;
  std::atomic<uint64_t> connections_opened_{0};
};

}  // namespace

Result<std::unique_ptr<HttpsClient>> HttpsClient::create(const ClientOptions& options) {
  ASSIGN_OR_RETURN(BaseUrl url, parseBaseUrl(options.base_url));
  ASSIGN_OR_RETURN(auto tls, makeClientTlsContext(options.ca_file, options.insecure_skip_verify));
  return std::unique_ptr<HttpsClient>(
      std::make_unique<HttpsClientImpl>(options, std::move(url), std::move(tls)));
}

}  // namespace tandem::http
