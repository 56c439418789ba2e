#include <map>

#include "tandem/cli/api_transport.h"
#include "tandem/http/https_client.h"

namespace tandem::cli {
namespace {

class HttpsTransport final : public ApiTransport {
 public:
  HttpsTransport(std::unique_ptr<http::HttpsClient> client, std::string token,
                 std::chrono::milliseconds timeout)
      : client_(std::move(client)), token_(std::move(token)), timeout_(timeout) {}

  Result<http::Response> call(const std::string& method, const std::string& target,
                              const std::string& body) override {
    return call(method, target, body, {});
  }
  Result<http::Response> call(const std::string& method, const std::string& target, const std::string& body,
                              const std::map<std::string, std::string>& extra) override {
    std::map<std::string, std::string> headers = {{"Accept", "application/json"}};
    if (!body.empty()) headers["Content-Type"] = "application/json";
    if (!token_.empty()) headers["Authorization"] = "Bearer " + token_;
    for (const auto& [name, value] : extra) headers[name] = value;
    return client_->request(method, target, body, headers, timeout_);
  }

 private:
  std::unique_ptr<http::HttpsClient> client_;
  std::string token_;
  std::chrono::milliseconds timeout_;
};

}  // namespace

Result<std::unique_ptr<ApiTransport>> makeHttpsTransport(const Settings& settings,
                                                         std::chrono::milliseconds timeout) {
  http::ClientOptions options;
  options.base_url = settings.url;
  options.ca_file = settings.ca_file;
  options.insecure_skip_verify = settings.insecure;
  ASSIGN_OR_RETURN(auto client, http::HttpsClient::create(options));
  return std::unique_ptr<ApiTransport>(
      std::make_unique<HttpsTransport>(std::move(client), settings.token, timeout));
}

}  // namespace tandem::cli
