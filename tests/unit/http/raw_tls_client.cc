#include "raw_tls_client.h"

#include <chrono>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>

namespace tandem::http::testing {
namespace beast = boost::beast;
namespace net = boost::asio;
using tcp = net::ip::tcp;

namespace {

constexpr std::chrono::seconds kDeadline{10};

class RawConnection {
 public:
  RawConnection(net::ssl::context& tls) : stream_(ioc_, tls) {}

  Status handshake(uint16_t port) {
    auto& layer = beast::get_lowest_layer(stream_);
    layer.expires_after(kDeadline);
    beast::error_code ec = net::error::would_block;
    layer.async_connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), port),
                        [&](beast::error_code e) { ec = e; });
    ioc_.run();
    if (ec) return Status(ErrorCode::kUnavailable, "connect: " + ec.message());
    layer.expires_after(kDeadline);
    ec = net::error::would_block;
    stream_.async_handshake(net::ssl::stream_base::client, [&](beast::error_code e) { ec = e; });
    ioc_.restart();
    ioc_.run();
    if (ec) return Status(ErrorCode::kUnavailable, "TLS handshake: " + ec.message());
    return Status::ok();
  }

  Result<std::string> exchange(const std::string& bytes) {
    auto& layer = beast::get_lowest_layer(stream_);
    layer.expires_after(kDeadline);
    beast::error_code ec = net::error::would_block;
    net::async_write(stream_, net::buffer(bytes), [&](beast::error_code e, size_t) { ec = e; });
    ioc_.restart();
    ioc_.run();
    if (ec) return Status(ErrorCode::kUnavailable, "write: " + ec.message());
    std::string received;
    layer.expires_after(kDeadline);
    ec = net::error::would_block;
    net::async_read(stream_, net::dynamic_buffer(received),
                    [&](beast::error_code e, size_t) { ec = e; });
    ioc_.restart();
    ioc_.run();
    if (ec == beast::error::timeout) return Status(ErrorCode::kTimeout, "server did not close");
    return received;  // eof or TLS close: the server is done
  }

 private:
  net::io_context ioc_;
  beast::ssl_stream<beast::tcp_stream> stream_;
};

}  // namespace

Status rawTlsHandshake(uint16_t port, net::ssl::context& tls) {
  RawConnection c(tls);
  return c.handshake(port);
}

Result<std::string> rawTlsExchange(uint16_t port, net::ssl::context& tls, const std::string& bytes) {
  RawConnection c(tls);
  RETURN_IF_ERROR(c.handshake(port));
  return c.exchange(bytes);
}

}  // namespace tandem::http::testing
