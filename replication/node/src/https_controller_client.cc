// The ControllerClient over the controller's REST API (HTTPS, bearer tokens).
#include <mutex>

#include "tandem/json/object_reader.h"
#include "tandem/node/controller_client.h"
#include "tandem/nodeapi/codec.h"

namespace tandem::node {
namespace {

class HttpsControllerClient final : public ControllerClient {
 public:
  HttpsControllerClient(std::unique_ptr<http::HttpsClient> poll, std::unique_ptr<http::HttpsClient> report,
                        std::string registration_token)
      : poll_(std::move(poll)),
        report_(std::move(report)),
        registration_token_(std::move(registration_token)) {}

  Result<nodeapi::RegistrationReply> registerNode(const nodeapi::Registration& registration) override {
    ASSIGN_OR_RETURN(http::Response r,
                     report_->request("POST", "/v1/nodes", nodeapi::encodeRegistration(registration),
                                      {{"authorization", "Bearer " + registration_token_},
                                       {"content-type", "application/json"}},
                                      std::chrono::seconds(15)));
    if (r.status != 200 && r.status != 201) return errorFrom(r, "register node");
    auto reply = nodeapi::decodeRegistrationReply(r.body);
    if (!reply.isOk()) return Status(ErrorCode::kProtocol, "register: " + reply.status().message());
    std::lock_guard lock(mu_);
    node_token_ = reply->token;
    return reply;
  }

  Result<nodeapi::DesiredState> pollDesired(const std::string& node, uint64_t after,
                                            std::chrono::seconds wait, bool delta) override {
    std::string target = "/v1/internal/nodes/" + node + "/desired?after=" + std::to_string(after) +
                         "&wait=" + std::to_string(wait.count()) + (delta ? "&delta=true" : "");
    ASSIGN_OR_RETURN(http::Response r,
                     poll_->request("GET", target, "", {{"authorization", "Bearer " + nodeToken()}},
                                    wait + std::chrono::seconds(15)));
    if (r.status != 200) return errorFrom(r, "poll desired state");
    auto desired = nodeapi::decodeDesiredState(r.body);
    if (!desired.isOk())
      return Status(ErrorCode::kProtocol, "bad desired state: " + desired.status().message());
    return desired;
  }

  Result<nodeapi::StatusAck> reportStatus(const std::string& node, const nodeapi::StatusReport& report) override {
    const std::string body = nodeapi::encodeStatusReport(report);
    ASSIGN_OR_RETURN(
        http::Response r,
        report_->request("PUT", "/v1/internal/nodes/" + node + "/status", body,
                         {{"authorization", "Bearer " + nodeToken()}, {"content-type", "application/json"}},
                         std::chrono::seconds(10)));
    if (r.status == 413) {
      return errorFrom(r, "report status: the controller refused the report of " +
                              std::to_string(report.replicas.size()) + " replicas (" + std::to_string(body.size()) +
                              " bytes) as too large; raise its --internal-body-limit (meanwhile this node sends "
                              "liveness heartbeats and its state on the controller goes stale)")
          .withReason("body_too_large");
    }
    if (r.status == 204) return nodeapi::StatusAck{};
    if (r.status == 200) {
      auto ack = nodeapi::decodeStatusAck(r.body);
      if (!ack.isOk()) return Status(ErrorCode::kProtocol, "report status: bad acknowledgement: " + ack.status().message());
      return ack;
    }
    Status error = errorFrom(r, "report status");
    if (r.status == 401 || r.status == 404) return error;
    return error.withReason("report_refused");
  }

 private:
  std::string nodeToken() {
    std::lock_guard lock(mu_);
    return node_token_;
  }

  // The controller's error body ({"error":{"message"}}) as a Status; the code from the HTTP status.
  static Status errorFrom(const http::Response& response, const std::string& what) {
    std::string message = what + ": HTTP " + std::to_string(response.status);
    auto doc = json::parseObject(response.body);
    if (doc.isOk() && doc->HasMember("error") && (*doc)["error"].IsObject() &&
        (*doc)["error"].HasMember("message") && (*doc)["error"]["message"].IsString()) {
      message += ": " + std::string((*doc)["error"]["message"].GetString());
    }
    ErrorCode code = ErrorCode::kUnavailable;
    if (response.status == 401)
      code = ErrorCode::kUnauthenticated;
    else if (response.status == 404)
      code = ErrorCode::kNotFound;
    else if (response.status == 409)
      code = ErrorCode::kAlreadyExists;
    else if (response.status >= 400 && response.status < 500)
      code = ErrorCode::kInvalidArgument;
    return Status(code, message);
  }

  std::unique_ptr<http::HttpsClient> poll_;
  std::unique_ptr<http::HttpsClient> report_;
  std::string registration_token_;
  std::mutex mu_;
  std::string node_token_;
};

}  // namespace

Result<std::unique_ptr<ControllerClient>> ControllerClient::create(const http::ClientOptions& options,
                                                                   std::string registration_token) {
  ASSIGN_OR_RETURN(auto poll, http::HttpsClient::create(options));
  ASSIGN_OR_RETURN(auto report, http::HttpsClient::create(options));
  return std::unique_ptr<ControllerClient>(
      new HttpsControllerClient(std::move(poll), std::move(report), std::move(registration_token)));
}

}  // namespace tandem::node
