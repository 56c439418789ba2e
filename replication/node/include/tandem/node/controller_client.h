// ControllerClient: the node worker's calls to the controller, typed with nodeapi's messages
// (nodeapi/codec.h is the wire form). An interface so the NodeAgent can be tested against a fake.
// Thread-safety: pollDesired() may run concurrently with reportStatus()/registerNode().
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "tandem/common/status.h"
#include "tandem/http/https_client.h"
#include "tandem/nodeapi/messages.h"

namespace tandem::node {

class ControllerClient {
 public:
  virtual ~ControllerClient() = default;

  // The REST client: two HTTPS connections, so a pending long-poll never delays a heartbeat.
  // `registration_token` is the join (or admin) token used for POST /v1/nodes only.
  static Result<std::unique_ptr<ControllerClient>> create(const http::ClientOptions& options,
                                                          std::string registration_token);

  // POST /v1/nodes. On success later calls use the node token of the reply.
  virtual Result<nodeapi::RegistrationReply> registerNode(const nodeapi::Registration& registration) = 0;
  // GET /v1/internal/nodes/{node}/desired?after=&wait=[&delta=true]. kUnauthenticated on 401,
  // kNotFound on 404, kProtocol when the controller's answer is not a valid desired state. With
  // `delta` the answer may be a delta after `after` (DesiredStateSequencer applies it).
  virtual Result<nodeapi::DesiredState> pollDesired(const std::string& node, uint64_t after,
                                                    std::chrono::seconds wait, bool delta) = 0;
  // PUT /v1/internal/nodes/{node}/status. The controller's acknowledgement (a controller that
  // answers 204, or a report without report_seq: {0, false}). kUnauthenticated on 401,
  // kNotFound on 404; any other HTTP error is the controller refusing the report: reason
  // body_too_large (413) or report_refused, with the controller's message.
  virtual Result<nodeapi::StatusAck> reportStatus(const std::string& node, const nodeapi::StatusReport& report) = 0;
};

}  // namespace tandem::node
