// HttpsServer and HttpsClient over real TLS on loopback, with a throw-away CA.
#include <openssl/ssl.h>
#include <stdlib.h>

#include <chrono>
#include <condition_variable>
#include <deque>
#include <filesystem>
#include <mutex>
#include <stdexcept>
#include <thread>

#include <boost/asio/ssl/context.hpp>
#include <gtest/gtest.h>

#include "raw_tls_client.h"
#include "tandem/http/https_client.h"
#include "tandem/http/https_server.h"
#include "tandem/testing/test_certs.h"

namespace tandem::http {
namespace {

using namespace std::chrono_literals;
namespace ssl = boost::asio::ssl;

// Records every request and either answers at once (echoing what it saw) or keeps the
// Responder for the test to call later ("deferred" mode).
class RecordingHandler : public Handler {
 public:
  explicit RecordingHandler(bool deferred = false) : deferred_(deferred) {}

  void handle(Request request, Responder respond) override {
    std::lock_guard<std::mutex> lock(mu_);
    requests_.push_back(request);
    if (deferred_) {
      pending_.push_back(std::move(respond));
    } else {
      Response r;
      r.status = request.path == "/created" ? 201 : 200;
      r.body = "{\"path\":\"" + request.path + "\",\"body_size\":" +
               std::to_string(request.body.size()) + "}";
      r.headers["x-served-by"] = "test";
      respond(std::move(r));
    }
    cv_.notify_all();
  }

  // Waits until `n` requests arrived (false after 10 s).
  bool waitForRequests(size_t n) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, 10s, [&] { return requests_.size() >= n; });
  }
  Request request(size_t i) {
    std::lock_guard<std::mutex> lock(mu_);
    return requests_.at(i);
  }
  Responder takePending() {
    std::lock_guard<std::mutex> lock(mu_);
    Responder r = std::move(pending_.front());
    pending_.pop_front();
    return r;
  }

 private:
  const bool deferred_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Request> requests_;
  std::deque<Responder> pending_;
};

class HttpsTransportTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/tandem-http-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    auto certs = ::tandem::testing::makeTestCerts(dir_);
    ASSERT_TRUE(certs.isOk()) << certs.status().toString();
    certs_ = *certs;
  }
  void TearDown() override {
    if (server_) server_->stop();
    server_.reset();
    std::filesystem::remove_all(dir_);
  }

  ServerOptions serverOptions() {
    ServerOptions o;
    o.certificate_file = certs_.certificate_file;
    o.private_key_file = certs_.private_key_file;
    o.threads = 2;
    return o;
  }
  void startServer(Handler& handler, ServerOptions options) {
    auto server = HttpsServer::start(options, handler);
    ASSERT_TRUE(server.isOk()) << server.status().toString();
    server_ = std::move(server).value();
    ASSERT_NE(server_->port(), 0);
  }
  void startServer(Handler& handler) { startServer(handler, serverOptions()); }

  std::string baseUrl(const std::string& host = "127.0.0.1") {
    return "https://" + host + ":" + std::to_string(server_->port());
  }
  std::unique_ptr<HttpsClient> makeClient(ClientOptions o = {}) {
    if (o.base_url.empty()) o.base_url = baseUrl();
    if (o.ca_file.empty()) o.ca_file = certs_.ca_file;
    auto client = HttpsClient::create(o);
    EXPECT_TRUE(client.isOk()) << client.status().toString();
    return client.isOk() ? std::move(client).value() : nullptr;
  }
  // An OpenSSL client context limited to TLS versions [min, max], ciphers of any strength.
  static std::unique_ptr<ssl::context> clientContext(int min_version, int max_version) {
    auto ctx = std::make_unique<ssl::context>(ssl::context::tls_client);
    SSL_CTX_set_security_level(ctx->native_handle(), 0);
    SSL_CTX_set_cipher_list(ctx->native_handle(), "DEFAULT:@SECLEVEL=0");
    SSL_CTX_set_min_proto_version(ctx->native_handle(), min_version);
    SSL_CTX_set_max_proto_version(ctx->native_handle(), max_version);
    ctx->set_verify_mode(ssl::verify_none);
    return ctx;
  }

  std::string dir_;
  ::tandem::testing::TestCerts certs_;
  std::unique_ptr<HttpsServer> server_;
};

// Method, decoded path, parsed query, lower-cased headers, body and peer address reach the
// handler; status, body and extra headers come back to the client.
TEST_F(HttpsTransportTest, RoundTripCarriesQueryHeadersAndBody) {
  RecordingHandler handler;
  startServer(handler);
  auto client = makeClient();
  ASSERT_NE(client, nullptr);
  auto r = client->request("POST", "/created/a%20b?after=7&name=x%2By+z&flag", "{\"k\":1}",
                           {{"X-Custom-Header", "Value"}, {"Content-Type", "application/json"}},
                           5s);
  ASSERT_TRUE(r.isOk()) << r.status().toString();
  EXPECT_EQ(r->status, 200);  // path is "/created/a b", not "/created"
  EXPECT_EQ(r->content_type, "application/json");
  EXPECT_EQ(r->headers.at("x-served-by"), "test");
  EXPECT_EQ(r->body, "{\"path\":\"/created/a b\",\"body_size\":7}");

  Request seen = handler.request(0);
  EXPECT_EQ(seen.method, "POST");
  EXPECT_EQ(seen.path, "/created/a b");
  EXPECT_EQ(seen.query.at("after"), "7");
  EXPECT_EQ(seen.query.at("name"), "x+y z");
  EXPECT_EQ(seen.query.at("flag"), "");
  EXPECT_EQ(seen.header("x-custom-header"), "Value");
  EXPECT_EQ(seen.header("host"), "127.0.0.1:" + std::to_string(server_->port()));
  EXPECT_EQ(seen.body, "{\"k\":1}");
  EXPECT_EQ(seen.remote_address, "127.0.0.1");

  auto created = client->request("GET", "/created", "", {}, 5s);
  ASSERT_TRUE(created.isOk()) << created.status().toString();
  EXPECT_EQ(created->status, 201);
}

// A host name (localhost) is verified against the certificate's DNS SAN and used for SNI.
TEST_F(HttpsTransportTest, VerifiesHostNameLocalhost) {
  RecordingHandler handler;
  startServer(handler);
  ClientOptions o;
  o.base_url = baseUrl("localhost");
  auto client = makeClient(o);
  ASSERT_NE(client, nullptr);
  auto r = client->request("GET", "/x", "", {}, 5s);
  ASSERT_TRUE(r.isOk()) << r.status().toString();
  EXPECT_EQ(r->status, 200);
}

// A Responder called later from another thread delivers the response, even after longer than
// io_timeout (no read/write timeout runs while the handler works).
TEST_F(HttpsTransportTest, DeferredResponseFromAnotherThreadIsDelivered) {
  RecordingHandler handler(/*deferred=*/true);
  ServerOptions options = serverOptions();
  options.io_timeout = 1s;
  startServer(handler, options);
  auto client = makeClient();
  ASSERT_NE(client, nullptr);

  std::thread responder([&] {
    ASSERT_TRUE(handler.waitForRequests(1));
    Responder respond = handler.takePending();
    // The property under test is "longer than io_timeout", so this wait is the point.
    std::this_thread::sleep_for(1500ms);
    Response r;
    r.status = 202;
    r.body = "{\"late\":true}";
    respond(std::move(r));
  });
  auto r = client->request("GET", "/v1/internal/nodes/n1/desired?after=3", "", {}, 10s);
  responder.join();
  ASSERT_TRUE(r.isOk()) << r.status().toString();
  EXPECT_EQ(r->status, 202);
  EXPECT_EQ(r->body, "{\"late\":true}");
  EXPECT_EQ(handler.request(0).query.at("after"), "3");
}

// A body over the limit is answered 413 with Tandem's JSON error, without reaching the handler.
TEST_F(HttpsTransportTest, OversizedBodyIsAnswered413) {
  RecordingHandler handler;
  ServerOptions options = serverOptions();
  options.body_limit_bytes = 1024;
  startServer(handler, options);
  auto client = makeClient();
  ASSERT_NE(client, nullptr);
  auto r = client->request("POST", "/v1/volumes", std::string(4096, 'x'), {}, 5s);
  ASSERT_TRUE(r.isOk()) << r.status().toString();
  EXPECT_EQ(r->status, 413);
  EXPECT_EQ(r->body,
            "{\"error\":{\"code\":\"body_too_large\",\"message\":\"request body exceeds 1024 "
            "bytes\",\"details\":{}}}");
  // The client recovers: the next request (on a new connection) works.
  auto ok = client->request("POST", "/v1/volumes", std::string(100, 'x'), {}, 5s);
  ASSERT_TRUE(ok.isOk()) << ok.status().toString();
  EXPECT_EQ(ok->status, 200);
  EXPECT_EQ(handler.request(0).body.size(), 100u);
}

// Garbage instead of HTTP over a good TLS connection is answered 400 with the JSON error shape.
TEST_F(HttpsTransportTest, MalformedHttpIsAnswered400) {
  RecordingHandler handler;
  startServer(handler);
  auto tls = clientContext(TLS1_2_VERSION, TLS1_3_VERSION);
  auto reply = testing::rawTlsExchange(server_->port(), *tls, "THIS IS NOT HTTP\x01\r\n\r\n");
  ASSERT_TRUE(reply.isOk()) << reply.status().toString();
  EXPECT_EQ(reply->rfind("HTTP/1.1 400", 0), 0u) << *reply;
  EXPECT_NE(reply->find("{\"error\":{\"code\":\"bad_request\",\"message\":\"malformed HTTP request"),
            std::string::npos)
      << *reply;
  EXPECT_NE(reply->find("\"details\":{}}}"), std::string::npos) << *reply;
}

// A client that offers at most TLS 1.1 is refused; the same client allowing TLS 1.2 succeeds.
TEST_F(HttpsTransportTest, Tls11OnlyClientIsRefused) {
  RecordingHandler handler;
  startServer(handler);
  auto old_tls = clientContext(TLS1_VERSION, TLS1_1_VERSION);
  Status refused = testing::rawTlsHandshake(server_->port(), *old_tls);
  EXPECT_FALSE(refused.isOk());
  // The server's protocol_version alert, not a client-side refusal to offer TLS 1.1.
  EXPECT_NE(refused.message().find("protocol version"), std::string::npos) << refused.toString();
  auto tls12 = clientContext(TLS1_VERSION, TLS1_2_VERSION);
  Status accepted = testing::rawTlsHandshake(server_->port(), *tls12);
  EXPECT_TRUE(accepted.isOk()) << accepted.toString();
}

// A server certificate from another CA fails verification: kUnavailable saying so.
// insecure_skip_verify connects anyway.
TEST_F(HttpsTransportTest, WrongCaFailsVerificationUnlessInsecure) {
  RecordingHandler handler;
  startServer(handler);
  std::string other_dir = dir_ + "/other";
  std::filesystem::create_directory(other_dir);
  auto other = ::tandem::testing::makeTestCerts(other_dir);
  ASSERT_TRUE(other.isOk()) << other.status().toString();

  ClientOptions o;
  o.ca_file = other->ca_file;
  auto client = makeClient(o);
  ASSERT_NE(client, nullptr);
  auto r = client->request("GET", "/x", "", {}, 5s);
  ASSERT_FALSE(r.isOk());
  EXPECT_EQ(r.status().code(), ErrorCode::kUnavailable);
  EXPECT_NE(r.status().message().find("TLS certificate verification of https://127.0.0.1:"),
            std::string::npos)
      << r.status().message();
  EXPECT_NE(r.status().message().find("unable to get local issuer certificate"), std::string::npos)
      << r.status().message();

  o.insecure_skip_verify = true;
  auto insecure = makeClient(o);
  ASSERT_NE(insecure, nullptr);
  auto ok = insecure->request("GET", "/x", "", {}, 5s);
  ASSERT_TRUE(ok.isOk()) << ok.status().toString();
  EXPECT_EQ(ok->status, 200);
}

// A handler that never answers makes the client give up with kTimeout at its deadline.
TEST_F(HttpsTransportTest, ClientTimesOutWhenServerNeverAnswers) {
  RecordingHandler handler(/*deferred=*/true);
  startServer(handler);
  auto client = makeClient();
  ASSERT_NE(client, nullptr);
  auto start = std::chrono::steady_clock::now();
  auto r = client->request("GET", "/v1/slow", "", {}, 300ms);
  auto elapsed = std::chrono::steady_clock::now() - start;
  ASSERT_FALSE(r.isOk());
  EXPECT_EQ(r.status().code(), ErrorCode::kTimeout) << r.status().toString();
  EXPECT_GE(elapsed, 300ms);
  EXPECT_LT(elapsed, 5s);
}

// Several requests from one client share one kept-alive connection.
TEST_F(HttpsTransportTest, KeepAliveReusesOneConnection) {
  RecordingHandler handler;
  startServer(handler);
  auto client = makeClient();
  ASSERT_NE(client, nullptr);
  for (int i = 0; i < 5; ++i) {
    auto r = client->request(i % 2 ? "GET" : "POST", "/n", "b", {}, 5s);
    ASSERT_TRUE(r.isOk()) << r.status().toString();
    EXPECT_EQ(r->status, 200);
  }
  EXPECT_EQ(client->connectionsOpened(), 1u);
}

// When the server closed the kept-alive connection (here: a restart on the same port), the
// next request, even a POST, goes out on a new connection and succeeds.
TEST_F(HttpsTransportTest, ClientReconnectsAfterServerClosedConnection) {
  RecordingHandler handler;
  startServer(handler);
  uint16_t port = server_->port();
  auto client = makeClient();
  ASSERT_NE(client, nullptr);
  ASSERT_TRUE(client->request("GET", "/a", "", {}, 5s).isOk());
  server_->stop();
  ServerOptions options = serverOptions();
  options.port = port;
  startServer(handler, options);
  auto r = client->request("POST", "/b", "x", {}, 5s);
  ASSERT_TRUE(r.isOk()) << r.status().toString();
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(client->connectionsOpened(), 2u);
}

// stop() returns while a handler still holds a Responder; the waiting client is disconnected,
// and calling the Responder after stop() (and after the server is gone) is harmless.
TEST_F(HttpsTransportTest, StopWhileRequestPendingReturns) {
  RecordingHandler handler(/*deferred=*/true);
  startServer(handler);
  auto client = makeClient();
  ASSERT_NE(client, nullptr);
  Result<Response> result = Status(ErrorCode::kInternal, "not run");
  std::thread caller([&] { result = client->request("GET", "/v1/poll", "", {}, 20s); });
  ASSERT_TRUE(handler.waitForRequests(1));
  auto start = std::chrono::steady_clock::now();
  server_->stop();
  // Sessions close promptly, well within stop()'s 2 s grace period.
  EXPECT_LT(std::chrono::steady_clock::now() - start, 1500ms);
  caller.join();
  ASSERT_FALSE(result.isOk());
  EXPECT_EQ(result.status().code(), ErrorCode::kUnavailable) << result.status().toString();
  server_.reset();
  Responder late = handler.takePending();
  late(Response{});
}

// A handler that throws, or drops its Responder unanswered, still produces a 500 JSON error
// (the client is never left hanging), and the server keeps serving.
TEST_F(HttpsTransportTest, ThrowingOrForgetfulHandlerGets500) {
  class BadHandler : public Handler {
   public:
    void handle(Request request, Responder respond) override {
      if (request.path == "/throw") throw std::runtime_error("boom");
      if (request.path == "/drop") return;  // `respond` is destroyed unanswered
      Response r;
      respond(r);
      respond(r);  // a second answer is ignored
    }
  } handler;
  startServer(handler);
  auto client = makeClient();
  ASSERT_NE(client, nullptr);
  for (const char* path : {"/throw", "/drop"}) {
    auto r = client->request("GET", path, "", {}, 5s);
    ASSERT_TRUE(r.isOk()) << path << ": " << r.status().toString();
    EXPECT_EQ(r->status, 500) << path;
    EXPECT_NE(r->body.find("\"code\":\"internal\""), std::string::npos) << r->body;
  }
  auto ok = client->request("GET", "/fine", "", {}, 5s);
  ASSERT_TRUE(ok.isOk()) << ok.status().toString();
  EXPECT_EQ(ok->status, 200);
}

// Missing certificate files are reported with the path, before anything listens.
TEST_F(HttpsTransportTest, StartFailsForMissingCertificate) {
  RecordingHandler handler;
  ServerOptions options = serverOptions();
  options.certificate_file = dir_ + "/missing.pem";
  auto server = HttpsServer::start(options, handler);
  ASSERT_FALSE(server.isOk());
  EXPECT_EQ(server.status().code(), ErrorCode::kNotFound);
  EXPECT_NE(server.status().message().find("missing.pem"), std::string::npos);
}

// Clients refuse plain-http URLs and unreadable CA files at creation.
TEST_F(HttpsTransportTest, ClientCreateValidatesUrlAndCa) {
  ClientOptions o;
  o.base_url = "http://127.0.0.1:1";
  EXPECT_EQ(HttpsClient::create(o).status().code(), ErrorCode::kInvalidArgument);
  o.base_url = "https://127.0.0.1:1";
  o.ca_file = dir_ + "/nope.pem";
  EXPECT_EQ(HttpsClient::create(o).status().code(), ErrorCode::kNotFound);
}

// Nothing listening: kUnavailable naming the address.
TEST_F(HttpsTransportTest, ConnectionRefusedIsUnavailable) {
  RecordingHandler handler;
  startServer(handler);
  std::string url = baseUrl();
  server_->stop();
  server_.reset();
  ClientOptions o;
  o.base_url = url;
  o.ca_file = certs_.ca_file;
  auto client = HttpsClient::create(o);
  ASSERT_TRUE(client.isOk());
  auto r = (*client)->request("GET", "/x", "", {}, 5s);
  ASSERT_FALSE(r.isOk());
  EXPECT_EQ(r.status().code(), ErrorCode::kUnavailable);
  EXPECT_NE(r.status().message().find("connect to " + url), std::string::npos)
      << r.status().message();
}

}  // namespace
}  // namespace tandem::http
