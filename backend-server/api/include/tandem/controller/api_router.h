// ApiRouter: the controller's REST API (/v1/...) as an http::Handler. Matches the request
// against the route table (api_routes.h), authenticates its bearer token (Authenticator),
// checks the route's scope, and calls the route's handler over the ClusterService. Pure: no
// sockets; unit tests call handle() directly. Thread-safe (stateless beyond its references).
#pragma once

#include <memory>
#include <optional>

#include "tandem/controller/api_options.h"
#include "tandem/controller/api_routes.h"
#include "tandem/controller/authenticator.h"
#include "tandem/controller/cluster_service.h"
#include "tandem/http/message.h"

namespace tandem::controller {

class ApiRouter final : public http::Handler {
 public:
  // `cluster` must outlive the router. `ports` gives the data routes block access to volumes;
  // null: over NBD (nbdVolumePortOpener).
  ApiRouter(ClusterService& cluster, ApiOptions options, std::shared_ptr<VolumePortOpener> ports = nullptr);
  void handle(http::Request request, http::Responder respond) override;
  // The streamed routes (the volume data routes) stream; authentication and scope are checked
  // in handleStream, before any of the body is read.
  bool streams(const http::Request& head) override;
  void handleStream(http::Request head, http::StreamExchange& exchange) override;

 private:
  // Authenticates and authorizes `req` for `match`: the error response, or nullopt with
  // `*principal` set (left empty on open paths).
  std::optional<http::Response> admit(const http::Request& req, const RouteMatch& match,
                                      std::optional<Principal>* principal);

  // Node tokens as the ClusterService checks them.
  class ClusterNodeTokens final : public NodeTokenVerifier {
   public:
    explicit ClusterNodeTokens(ClusterService& cluster) : cluster_(cluster) {}
    bool isTokenOf(const std::string& node, std::string_view token) override {
      return cluster_.authenticateNode(node, token);
    }
    bool isAnyNodeToken(std::string_view token) override { return cluster_.isNodeToken(token); }

   private:
    ClusterService& cluster_;
  };

  ClusterService& cluster_;
  ApiOptions options_;
  std::shared_ptr<VolumePortOpener> ports_;
  ClusterNodeTokens node_tokens_;
  Authenticator authenticator_;
};

}  // namespace tandem::controller
