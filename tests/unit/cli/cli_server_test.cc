// The CLI end to end against a real HttpsServer (TLS on loopback) playing the controller.
#include <stdlib.h>

#include <filesystem>
#include <mutex>
#include <sstream>
#include <vector>

#include <gtest/gtest.h>

#include "tandem/cli/app.h"
#include "tandem/http/https_server.h"
#include "tandem/testing/test_certs.h"

namespace tandem::cli {
namespace {

using http::Request;
using http::Responder;
using http::Response;

constexpr const char* kVolume =
    R"({"name":"v1","uuid":"u-1","size_bytes":1073741824,"resource_group":"gold",)"
    R"("state":"available","reason":"","primary_node":"n1","nbd_uri":"nbd://10.0.0.1:10809/v1",)"
    R"("replicas":[{"node":"n1","pool":"fast","state":"up_to_date","sync_progress":1.0,"diskful":true}],)"
    R"("created_at":"2026-11-25T10:00:00Z"})";

// A few controller routes; everything needs "Authorization: Bearer secret".
class FakeController : public http::Handler {
 public:
  void handle(Request request, Responder respond) override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      requests_.push_back(request);
    }
    Response r;
    if (request.header("authorization") != "Bearer secret") {
      r.status = 401;
      r.body = R"({"error":{"code":"unauthenticated","message":"missing or bad token","details":{}}})";
    } else if (request.method == "GET" && request.path == "/v1/volumes/v1") {
      r.body = kVolume;
    } else if (request.method == "POST" && request.path == "/v1/volumes") {
      r.status = 201;
      r.body = kVolume;
    } else if (request.method == "GET" && request.path.rfind("/v1/volumes/", 0) == 0) {
      r.status = 404;
      r.body = R"({"error":{"code":"volume_not_found","message":"volume ')" +
               request.path.substr(12) + R"(' does not exist","details":{}}})";
    } else {
      r.status = 404;
      r.body = R"({"error":{"code":"not_found","message":"no route","details":{}}})";
    }
    respond(std::move(r));
  }
  Request last() {
    std::lock_guard<std::mutex> lock(mu_);
    return requests_.back();
  }

 private:
  std::mutex mu_;
  std::vector<Request> requests_;
};

class CliServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/tandem-cli-srv-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    auto certs = ::tandem::testing::makeTestCerts(dir_);
    ASSERT_TRUE(certs.isOk()) << certs.status().toString();
    certs_ = *certs;
    http::ServerOptions options;
    options.certificate_file = certs_.certificate_file;
    options.private_key_file = certs_.private_key_file;
    options.threads = 1;
    auto server = http::HttpsServer::start(options, controller_);
    ASSERT_TRUE(server.isOk()) << server.status().toString();
    server_ = std::move(server).value();
    url_ = "https://127.0.0.1:" + std::to_string(server_->port());
    // Isolated from the real environment and home directory.
    context_.env = [](const std::string&) { return std::optional<std::string>(); };
    context_.read_file = [](const std::string& path) -> Result<std::string> {
      return Status(ErrorCode::kNotFound, path);
    };
  }
  void TearDown() override {
    if (server_) server_->stop();
    server_.reset();
    std::filesystem::remove_all(dir_);
  }

  ExitCode run(std::vector<std::string> args) {
    out_.str("");
    err_.str("");
    std::vector<std::string> full = {"--url", url_, "--ca-file", certs_.ca_file, "--token", "secret"};
    full.insert(full.end(), args.begin(), args.end());
    return runCli(full, context_, out_, err_);
  }

  std::string dir_;
  ::tandem::testing::TestCerts certs_;
  FakeController controller_;
  std::unique_ptr<http::HttpsServer> server_;
  std::string url_;
  CliContext context_;
  std::ostringstream out_, err_;
};

// `volume show` sends the bearer token and prints the volume with its replicas and NBD URI.
TEST_F(CliServerTest, VolumeShowPrintsDetails) {
  EXPECT_EQ(run({"volume", "show", "v1"}), ExitCode::kOk) << err_.str();
  EXPECT_EQ(controller_.last().header("authorization"), "Bearer secret");
  EXPECT_NE(out_.str().find("Size:    1.0 GiB\n"), std::string::npos) << out_.str();
  EXPECT_NE(out_.str().find("NBD URI: nbd://10.0.0.1:10809/v1\n"), std::string::npos);
  EXPECT_NE(out_.str().find("  n1    fast  up_to_date  100%  yes\n"), std::string::npos)
      << out_.str();
  EXPECT_EQ(err_.str(), "");
}

// --json prints the server's body unchanged.
TEST_F(CliServerTest, JsonPrintsServerBodyUnchanged) {
  EXPECT_EQ(run({"--json", "volume", "show", "v1"}), ExitCode::kOk) << err_.str();
  EXPECT_EQ(out_.str(), std::string(kVolume) + "\n");
}

// `volume create` posts the JSON body with size_bytes and reports the creation.
TEST_F(CliServerTest, VolumeCreatePostsBody) {
  EXPECT_EQ(run({"volume", "create", "v1", "--size", "1GiB", "--group", "gold"}), ExitCode::kOk)
      << err_.str();
  Request seen = controller_.last();
  EXPECT_EQ(seen.method, "POST");
  EXPECT_EQ(seen.body, R"({"name":"v1","size_bytes":1073741824,"resource_group":"gold"})");
  EXPECT_EQ(seen.header("content-type"), "application/json");
  EXPECT_EQ(out_.str().rfind("created volume 'v1'\n", 0), 0u) << out_.str();
}

// A server error prints "error: <message> (<code>, HTTP <status>)" and exits 1.
TEST_F(CliServerTest, ServerErrorExitsOne) {
  EXPECT_EQ(run({"volume", "show", "ghost"}), ExitCode::kApiError);
  EXPECT_EQ(err_.str(), "error: volume 'ghost' does not exist (volume_not_found, HTTP 404)\n");
  EXPECT_EQ(out_.str(), "");
}

// Usage errors exit 2 before any request is sent.
TEST_F(CliServerTest, UsageErrorExitsTwo) {
  EXPECT_EQ(run({"volume", "create", "v1", "--size", "huge", "--group", "g"}), ExitCode::kUsage);
  EXPECT_NE(err_.str().find("invalid size 'huge'"), std::string::npos) << err_.str();
  EXPECT_NE(err_.str().find("usage: tandem"), std::string::npos);
}

// An untrusted certificate or a server that is gone exits 3 with the reason.
TEST_F(CliServerTest, UnreachableOrUntrustedServerExitsThree) {
  std::string other_dir = dir_ + "/other";
  std::filesystem::create_directory(other_dir);
  auto other = ::tandem::testing::makeTestCerts(other_dir);
  ASSERT_TRUE(other.isOk());
  out_.str("");
  err_.str("");
  ExitCode untrusted = runCli({"--url", url_, "--ca-file", other->ca_file, "volume", "list"},
                              context_, out_, err_);
  EXPECT_EQ(untrusted, ExitCode::kConnection);
  EXPECT_NE(err_.str().find("certificate verification"), std::string::npos) << err_.str();

  server_->stop();
  server_.reset();
  EXPECT_EQ(run({"volume", "list"}), ExitCode::kConnection);
  EXPECT_NE(err_.str().find("error: cannot reach the controller at " + url_), std::string::npos)
      << err_.str();
}

}  // namespace
}  // namespace tandem::cli
