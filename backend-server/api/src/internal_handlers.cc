// A node's own routes: /v1/internal/nodes/{node}/desired (long-poll) and .../status (heartbeat).
#include <chrono>

#include "tandem/common/log.h"

#include "handlers.h"
#include "json_views.h"
#include "responses.h"

namespace tandem::controller::handlers {

void pollDesiredState(const RouteCall& call, http::Responder respond) {
  auto after = queryUint(call.request, "after", 0);
  if (!after.isOk()) return respond(errorResponse(after.status()));
  auto wait = queryUint(call.request, "wait", 0);
  if (!wait.isOk()) return respond(errorResponse(wait.status()));
  auto delta = queryBool(call.request, "delta");  // the node takes a delta after `after`
  if (!delta.isOk()) return respond(errorResponse(delta.status()));
  auto max_ms = static_cast<uint64_t>(call.options.long_poll_max.count());
  auto wait_ms = *wait > max_ms / 1000 ? max_ms : *wait * 1000;
  call.cluster.watchDesiredState(call.params.at("node"), *after, std::chrono::milliseconds(wait_ms),
                                 [respond](Result<DesiredState> state) {
                                   if (!state.isOk()) return respond(errorResponse(state.status()));
                                   respond(jsonResponse(200, desiredStateJson(*state)));
                                 },
                                 *delta ? DesiredForm::kDelta : DesiredForm::kFull);
}

void reportNodeStatus(const RouteCall& call, http::Responder respond) {
  const std::string& node = call.params.at("node");
  auto report = parseStatusReport(call.request.body);
  if (!report.isOk()) {
    // Loud: a node whose reports are refused looks stale to everything that reads them.
    log::error("api", "refused the status report of node " + node + " (" +
                          std::to_string(call.request.body.size()) + " bytes): " + report.status().toString());
    return respond(errorResponse(report.status()));
  }
  const bool wants_ack = report->report_seq != 0;
  auto ack = call.cluster.receiveReport(node, std::move(report).value());
  if (!ack.isOk()) return respond(errorResponse(ack.status()));
  if (!wants_ack) return respond(noContent());  // an older node's report
  respond(jsonResponse(200, statusAckJson(*ack)));
}

}  // namespace tandem::controller::handlers
