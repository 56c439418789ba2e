#include "tandem/node/controller_client.h"

#include "tandem/json/object_reader.h"

namespace tandem::node {

Result<std::unique_ptr<ControllerClient>> ControllerClient::create(const http::ClientOptions& options,
                                                                   std::string registration_token) {
  ASSIGN_OR_RETURN(auto poll, http::HttpsClient::create(options));
  ASSIGN_OR_RETURN(auto report, http::HttpsClient::create(options));
  return std::unique_ptr<ControllerClient>(
      new ControllerClient(std::move(poll), std::move(report), std::move(registration_token)));
}

std::string ControllerClient::nodeToken() {
  std::lock_guard lock(mu_);
  return node_token_;
}

Status ControllerClient::errorFrom(const http::Response& response, const std::string& what) {
  std::string message = what + ": HTTP " + std::to_string(response.status);
  auto doc = json::parseObject(response.body);
  if (doc.isOk() && doc->HasMember("error") && (*doc)["error"].IsObject() && (*doc)["error"].HasMember("message") &&
      (*doc)["error"]["message"].IsString()) {
    message += ": " + std::string((*doc)["error"]["message"].GetString());
  }
  ErrorCode code = ErrorCode::kUnavailable;
  if (response.status == 401) code = ErrorCode::kUnauthenticated;
  else if (response.status == 404) code = ErrorCode::kNotFound;
  else if (response.status == 409) code = ErrorCode::kAlreadyExists;
  else if (response.status >= 400 && response.status < 500) code = ErrorCode::kInvalidArgument;
  return Status(code, message);
}

Result<Registration> ControllerClient::registerNode(const std::string& body) {
  ASSIGN_OR_RETURN(http::Response r,
                   report_->request("POST", "/v1/nodes", body,
                                    {{"authorization", "Bearer " + registration_token_}, {"content-type", "application/json"}},
                                    std::chrono::seconds(15)));
  if (r.status != 200 && r.status != 201) return errorFrom(r, "register node");
  ASSIGN_OR_RETURN(auto doc, json::parseObject(r.body));
  json::ObjectReader reader(doc);
  Registration reg;
  ASSIGN_OR_RETURN(reg.token, reader.requiredString("token"));
  ASSIGN_OR_RETURN(reg.cluster_id, reader.requiredString("cluster_id"));
  if (!doc.HasMember("node") || !doc["node"].IsObject()) return Status(ErrorCode::kProtocol, "register: no node object");
  ASSIGN_OR_RETURN(reg.uuid, json::ObjectReader(doc["node"]).requiredString("uuid"));
  std::lock_guard lock(mu_);
  node_token_ = reg.token;
  return reg;
}

Result<std::string> ControllerClient::pollDesired(const std::string& node, uint64_t after, std::chrono::seconds wait) {
  std::string target = "/v1/internal/nodes/" + node + "/desired?after=" + std::to_string(after) +
                       "&wait=" + std::to_string(wait.count());
  ASSIGN_OR_RETURN(http::Response r, poll_->request("GET", target, "", {{"authorization", "Bearer " + nodeToken()}},
                                                    wait + std::chrono::seconds(15)));
  if (r.status != 200) return errorFrom(r, "poll desired state");
  return r.body;
}

Status ControllerClient::reportStatus(const std::string& node, const std::string& body) {
  ASSIGN_OR_RETURN(http::Response r,
                   report_->request("PUT", "/v1/internal/nodes/" + node + "/status", body,
                                    {{"authorization", "Bearer " + nodeToken()}, {"content-type", "application/json"}},
                                    std::chrono::seconds(10)));
  if (r.status != 204 && r.status != 200) return errorFrom(r, "report status");
  return Status::ok();
}

}  // namespace tandem::node
