// ApiRouter: the controller's REST API (/v1/...) as an http::Handler. Authenticates bearer
// tokens, validates request bodies, calls the ClusterService, and renders JSON. Pure: no
// sockets; unit tests call handle() directly. Thread-safe (stateless beyond its references).
#pragma once

#include <chrono>
#include <string>

#include "tandem/controller/cluster_service.h"
#include "tandem/http/message.h"

namespace tandem::controller {

struct ApiOptions {
  std::string admin_token;                          // full access
  std::chrono::milliseconds long_poll_max{30000};   // cap of ?wait= on the desired-state poll
  std::string version = "0.1.0";
  std::string service_token{};                      // volumes, read pools/groups (Cinder, libvirt); empty: none
  std::string join_token{};                         // node registration only; empty: none
};

class ApiRouter final : public http::Handler {
 public:
  ApiRouter(ClusterService& cluster, ApiOptions options) : cluster_(cluster), options_(std::move(options)) {}
  void handle(http::Request request, http::Responder respond) override;

 private:
  ClusterService& cluster_;
  ApiOptions options_;
};

}  // namespace tandem::controller
