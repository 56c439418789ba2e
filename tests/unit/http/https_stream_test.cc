// Streamed exchanges of HttpsServer (Handler::streams/handleStream) over real TLS on loopback:
// bodies larger than the body limit in pieces, streamed responses, early refusals with
// 100-continue, short responses and stop() while a handler waits for the socket.
#include <stdlib.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <future>
#include <thread>

#include <boost/asio/ssl/context.hpp>
#include <gtest/gtest.h>

#include "raw_tls_client.h"
#include "tandem/http/https_server.h"
#include "tandem/testing/test_certs.h"

namespace tandem::http {
namespace {

using namespace std::chrono_literals;
namespace ssl = boost::asio::ssl;

// PUT /sink reads its body to the end and answers its size and byte sum; GET /source?n=N
// streams N bytes (i % 251); GET /short announces 1000 bytes and writes 10; POST /refuse
// answers 413 without reading the body; PUT /wait reads until the connection fails. Other
// requests are buffered (handle()).
class StreamingHandler : public Handler {
 public:
  void handle(Request request, Responder respond) override {
    Response r;
    r.body = "{\"buffered\":" + std::to_string(request.body.size()) + "}";
    respond(std::move(r));
  }
  bool streams(const Request& head) override { return head.path != "/buffered"; }
  void handleStream(Request head, StreamExchange& exchange) override {
    if (head.path == "/sink" || head.path == "/wait") {
      // A read fills its buffer unless the body ends: /wait reads 3 bytes at a time.
      std::vector<std::byte> piece(head.path == "/wait" ? 3 : 100000);
      uint64_t size = 0, sum = 0;
      for (;;) {
        auto n = exchange.readBody(piece);
        if (!n.isOk()) {
          read_failed_ = true;
          return;
        }
        if (*n == 0) break;
        got_bytes_ = true;
        size += *n;
        for (size_t i = 0; i < *n; ++i) sum += static_cast<uint8_t>(piece[i]);
      }
      Response r;
      r.body = "{\"size\":" + std::to_string(size) + ",\"sum\":" + std::to_string(sum) + "}";
      (void)exchange.respond(std::move(r));
    } else if (head.path == "/source") {
      uint64_t n = std::stoull(head.query.at("n"));
      Response h;
      h.content_type = "application/octet-stream";
      ASSERT_TRUE(exchange.beginResponse(h, n).isOk());
      std::vector<std::byte> piece(70000);
      for (uint64_t at = 0; at < n;) {
        size_t k = static_cast<size_t>(std::min<uint64_t>(piece.size(), n - at));
        for (size_t i = 0; i < k; ++i) piece[i] = static_cast<std::byte>((at + i) % 251);
        ASSERT_TRUE(exchange.writeBody(std::span(piece.data(), k)).isOk());
        at += k;
      }
      EXPECT_EQ(exchange.writeBody(std::span(piece.data(), 1)).code(), ErrorCode::kInvalidArgument);
      EXPECT_TRUE(exchange.finish().isOk());
    } else if (head.path == "/short") {
      Response h;
      ASSERT_TRUE(exchange.beginResponse(h, 1000).isOk());
      std::vector<std::byte> ten(10, std::byte{'x'});
      ASSERT_TRUE(exchange.writeBody(ten).isOk());
      EXPECT_EQ(exchange.finish().code(), ErrorCode::kInvalidArgument);
    } else if (head.path == "/refuse") {
      Response r;
      r.status = 413;
      r.body = "{\"refused\":true}";
      (void)exchange.respond(std::move(r));
    }
  }
  std::atomic<bool> read_failed_{false};
  std::atomic<bool> got_bytes_{false};
};

class HttpsStreamTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/tandem-http-stream-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    auto certs = ::tandem::testing::makeTestCerts(dir_);
    ASSERT_TRUE(certs.isOk()) << certs.status().toString();
    ServerOptions o;
    o.certificate_file = certs->certificate_file;
    o.private_key_file = certs->private_key_file;
    o.threads = 2;
    o.body_limit_bytes = 4096;
    o.io_timeout = 10s;
    auto server = HttpsServer::start(o, handler_);
    ASSERT_TRUE(server.isOk()) << server.status().toString();
    server_ = std::move(server).value();
    tls_.set_verify_mode(ssl::verify_none);
  }
  void TearDown() override {
    if (server_) server_->stop();
    std::filesystem::remove_all(dir_);
  }
  Result<std::string> exchange(const std::string& bytes) { return testing::rawTlsExchange(server_->port(), tls_, bytes); }

  StreamingHandler handler_;
  std::string dir_;
  std::unique_ptr<HttpsServer> server_;
  ssl::context tls_{ssl::context::tls_client};
};

std::string bodyOf(const std::string& reply) { return reply.substr(reply.find("\r\n\r\n") + 4); }

// A streamed request body far over the body limit reaches the handler whole, in pieces; a
// buffered route keeps the limit (413).
TEST_F(HttpsStreamTest, StreamedRequestBodyIsNotLimitedButBufferedOnesAre) {
  std::string body(3 << 20, '\0');
  uint64_t sum = 0;
  for (size_t i = 0; i < body.size(); ++i) {
    body[i] = static_cast<char>(i % 253);
    sum += static_cast<uint8_t>(body[i]);
  }
  auto reply = exchange("PUT /sink HTTP/1.1\r\nHost: t\r\nContent-Length: " + std::to_string(body.size()) +
                        "\r\nConnection: close\r\n\r\n" + body);
  ASSERT_TRUE(reply.isOk()) << reply.status().toString();
  EXPECT_EQ(reply->rfind("HTTP/1.1 200", 0), 0u) << reply->substr(0, 200);
  EXPECT_EQ(bodyOf(*reply), "{\"size\":" + std::to_string(body.size()) + ",\"sum\":" + std::to_string(sum) + "}");

  auto limited = exchange("PUT /buffered HTTP/1.1\r\nHost: t\r\nContent-Length: 5000\r\nConnection: close\r\n\r\n" +
                          std::string(5000, 'a'));
  ASSERT_TRUE(limited.isOk());
  EXPECT_EQ(limited->rfind("HTTP/1.1 413", 0), 0u) << limited->substr(0, 200);
}

// A chunked request body streams too.
TEST_F(HttpsStreamTest, ChunkedRequestBodyStreams) {
  auto reply = exchange(
      "PUT /sink HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
      "3\r\nabc\r\n0\r\n\r\n");
  ASSERT_TRUE(reply.isOk());
  EXPECT_EQ(bodyOf(*reply), "{\"size\":3,\"sum\":294}");
}

// A streamed response carries its Content-Length and every byte, in order.
TEST_F(HttpsStreamTest, StreamedResponseHasContentLengthAndEveryByte) {
  const uint64_t n = 2'500'000;
  auto reply = exchange("GET /source?n=" + std::to_string(n) + " HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
  ASSERT_TRUE(reply.isOk()) << reply.status().toString();
  EXPECT_NE(reply->find("Content-Length: " + std::to_string(n) + "\r\n"), std::string::npos);
  EXPECT_NE(reply->find("Content-Type: application/octet-stream\r\n"), std::string::npos);
  std::string body = bodyOf(*reply);
  ASSERT_EQ(body.size(), n);
  for (uint64_t i = 0; i < n; i += 9973) ASSERT_EQ(static_cast<uint8_t>(body[i]), i % 251) << i;
}

// Keep-alive: a second request on the same connection after a streamed response is served.
TEST_F(HttpsStreamTest, ConnectionServesTheNextRequestAfterAStreamedOne) {
  auto reply = exchange("GET /source?n=5 HTTP/1.1\r\nHost: t\r\n\r\n"
                        "PUT /buffered HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\nConnection: close\r\n\r\nab");
  ASSERT_TRUE(reply.isOk());
  EXPECT_NE(reply->find("{\"buffered\":2}"), std::string::npos) << *reply;
}

// A client that asks for 100-continue and is refused gets the refusal, never a 100, and need
// not send its body.
TEST_F(HttpsStreamTest, ExpectContinueRefusedEarlyNeedsNoBody) {
  auto reply = exchange("POST /refuse HTTP/1.1\r\nHost: t\r\nContent-Length: 1000000000\r\n"
                        "Expect: 100-continue\r\n\r\n");
  ASSERT_TRUE(reply.isOk()) << reply.status().toString();
  EXPECT_EQ(reply->rfind("HTTP/1.1 413", 0), 0u) << reply->substr(0, 200);
  EXPECT_EQ(bodyOf(*reply), "{\"refused\":true}");
}

// A client that asks for 100-continue gets it before the handler's first read.
TEST_F(HttpsStreamTest, ExpectContinueIsAnsweredOnTheFirstRead) {
  auto reply = exchange("PUT /sink HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\nExpect: 100-continue\r\n"
                        "Connection: close\r\n\r\nabc");
  ASSERT_TRUE(reply.isOk());
  EXPECT_EQ(reply->rfind("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200", 0), 0u) << reply->substr(0, 200);
}

// A handler that writes less than it announced gets an error from finish() and the client a
// short body on a closed connection.
TEST_F(HttpsStreamTest, ShortStreamedResponseClosesTheConnection) {
  auto reply = exchange("GET /short HTTP/1.1\r\nHost: t\r\n\r\n");  // keep-alive asked
  ASSERT_TRUE(reply.isOk()) << reply.status().toString();
  EXPECT_NE(reply->find("Content-Length: 1000\r\n"), std::string::npos);
  EXPECT_EQ(bodyOf(*reply), std::string(10, 'x'));
}

// stop() wakes a handler thread waiting for body bytes that never come, and returns.
TEST_F(HttpsStreamTest, StopWakesAHandlerWaitingForTheBody) {
  auto client = std::async(std::launch::async, [&] {
    // A read returns once its buffer is full and more input is pending: 6 bytes give the
    // handler its first 3, then it waits for more.
    return exchange("PUT /wait HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n\r\nabcdef");
  });
  auto deadline = std::chrono::steady_clock::now() + 10s;
  while (!handler_.got_bytes_.load() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(5ms);  // polling a condition with a deadline
  }
  ASSERT_TRUE(handler_.got_bytes_.load()) << "the handler never read the first bytes";
  server_->stop();  // the handler now waits for more bytes
  client.wait();
  EXPECT_TRUE(handler_.read_failed_.load());
}

}  // namespace
}  // namespace tandem::http
