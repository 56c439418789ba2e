// ControllerClient: the node worker's calls to the controller's REST API.
// Holds two HTTPS connections so a pending long-poll never delays a heartbeat.
// Thread-safety: pollDesired() and reportStatus()/registerNode() may run concurrently.
#pragma once

#include <chrono>
#include <memory>
#include <mutex>
#include <string>

#include "tandem/common/status.h"
#include "tandem/http/https_client.h"

namespace tandem::node {

struct Registration {
  std::string uuid;
  std::string token;
  std::string cluster_id;
};

class ControllerClient {
 public:
  static Result<std::unique_ptr<ControllerClient>> create(const http::ClientOptions& options,
                                                          std::string registration_token);

  // POST /v1/nodes with the admin token. `body` is the registration JSON.
  Result<Registration> registerNode(const std::string& body);
  // GET .../desired?after=&wait= ; the body of the desired state. kUnauthenticated on 401.
  Result<std::string> pollDesired(const std::string& node, uint64_t after, std::chrono::seconds wait);
  // PUT .../status. kUnauthenticated on 401.
  Status reportStatus(const std::string& node, const std::string& body);

 private:
  ControllerClient(std::unique_ptr<http::HttpsClient> poll, std::unique_ptr<http::HttpsClient> report,
                   std::string registration_token)
      : poll_(std::move(poll)), report_(std::move(report)), registration_token_(std::move(registration_token)) {}
  std::string nodeToken();
  Status errorFrom(const http::Response& response, const std::string& what);

  std::unique_ptr<http::HttpsClient> poll_;
  std::unique_ptr<http::HttpsClient> report_;
  std::string registration_token_;
  std::mutex mu_;
  std::string node_token_;
};

}  // namespace tandem::node
